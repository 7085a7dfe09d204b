//! The crowd's norm: what the visitors of a page usually do on each spot of it, learnt from
//! other sessions and the past only.
//!
//! The server sees every session of a tenant. A control that many visitors press again and again
//! and that answers (a stepper, a date picker's arrow, a checkbox column, a map's zoom) is normal
//! there; a spot where many visitors' clicks go unanswered is a broken control, a finding about
//! the page rather than each visitor's rage. [`Crowd`] keeps, per **cell** (tenant, page and a
//! [`CELL_PX`] square of the page, or a section), how many visitors clicked there, how many of
//! them got no answer there, and how many pressed it [`REPEAT_PRESSES`] times or more:
//!
//! * **Per visitor, not per click**: a session adds at most one to each count of a cell
//!   ([`Crowd::learn`] takes a whole session's clicks), so one person hammering a spot is one
//!   voice.
//! * **Decayed**: every count halves every [`Crowd::half_life`] time units (seconds on the
//!   server, sessions in a replay), so a control fixed last week stops being "broken".
//! * **Bounded**: `N` cells at most; a new cell replaces the one with the least decayed weight.
//! * **Never learnt from the session being judged**: the caller asks [`Crowd::norm`] before it
//!   calls [`Crowd::learn`] with that session, and a session is learnt once, when it ends.
//!
//! `no_std` and allocation-free like the rest of the crate: `N` fixed-size cells in an array.

use crate::exp2;

/// Side of a cell, px: about a control's size.
pub const CELL_PX: i32 = 16;
/// Presses of the same cell in one session that count as pressing it again and again.
pub const REPEAT_PRESSES: u8 = 3;
/// Fewest (decayed) visitors before the crowd's norm says anything about a cell.
pub const MIN_VISITORS: f32 = 5.0;
/// Share of a cell's visitors whose clicks there went unanswered that makes it a broken control.
pub const BROKEN_SHARE: f32 = 0.5;
/// Share of a cell's visitors who pressed it again and again, answered, that makes repeated
/// pressing normal there.
pub const REPEATED_SHARE: f32 = 0.3;

/// One clicked spot of a session, as the crowd learns it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Click {
    /// Viewport px.
    pub x: i16,
    /// Viewport px.
    pub y: i16,
    /// Whether the page answered it.
    pub answered: bool,
}

/// The cell key of a click on `page` of `tenant` (any stable hashes of their names).
pub fn cell(tenant: u32, page: u32, x: i16, y: i16) -> u64 {
    let (cx, cy) = ((i32::from(x)).div_euclid(CELL_PX) as u16, (i32::from(y)).div_euclid(CELL_PX) as u16);
    page_hash(tenant, page) ^ (u64::from(cx) << 16 | u64::from(cy))
}

/// The part of every cell key of `page` of `tenant` that does not depend on the spot.
fn page_hash(tenant: u32, page: u32) -> u64 {
    (u64::from(tenant) << 32 | u64::from(page)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The top-left corner, px, of cell `key` if it is a cell of `page` of `tenant`: the inverse of
/// [`cell`] for a page the caller knows (`None` for another page's cell, whose key differs in
/// its upper 32 bits unless the two pages' hashes collide there).
pub fn corner(tenant: u32, page: u32, key: u64) -> Option<(i32, i32)> {
    let spot = key ^ page_hash(tenant, page);
    if spot >> 32 != 0 {
        return None;
    }
    // The cell's column and row, as `cell` wrapped them into 16 bits (negative ones too).
    let (cx, cy) = ((spot >> 16) as u16 as i16, spot as u16 as i16);
    Some((i32::from(cx) * CELL_PX, i32::from(cy) * CELL_PX))
}

/// What the crowd knows about a cell.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Norm {
    /// Visitors who clicked there (decayed).
    pub visitors: f32,
    /// Share of them whose clicks there went unanswered at least once.
    pub dead_share: f32,
    /// Share of them who pressed it [`REPEAT_PRESSES`] times or more and always got an answer.
    pub repeated_share: f32,
}

impl Norm {
    /// Enough visitors, most of whose clicks went unanswered: a broken control (a finding).
    pub fn broken(&self) -> bool {
        self.visitors >= MIN_VISITORS && self.dead_share >= BROKEN_SHARE
    }

    /// Enough visitors, many of whom press it again and again and get answers: normal there.
    pub fn repeated_is_normal(&self) -> bool {
        self.visitors >= MIN_VISITORS && self.repeated_share >= REPEATED_SHARE
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Cell {
    key: u64,
    /// Time of the last update, in the caller's units.
    at: u32,
    visitors: f32,
    dead: f32,
    repeated: f32,
}

impl Cell {
    fn decayed(&self, now: u32, half_life: u32) -> f32 {
        exp2(-(now.saturating_sub(self.at) as f32) / half_life.max(1) as f32)
    }

    fn norm(&self, now: u32, half_life: u32) -> Norm {
        let visitors = self.visitors * self.decayed(now, half_life);
        if visitors <= 0.0 {
            return Norm::default();
        }
        Norm { visitors, dead_share: self.dead / self.visitors, repeated_share: self.repeated / self.visitors }
    }
}

/// The crowd's norm over `N` cells at most (see the module docs).
#[derive(Clone, Debug)]
pub struct Crowd<const N: usize> {
    cells: [Cell; N],
    used: usize,
    /// Time units after which every count has halved.
    pub half_life: u32,
}

impl<const N: usize> Crowd<N> {
    /// An empty norm whose counts halve every `half_life` time units.
    pub const fn new(half_life: u32) -> Crowd<N> {
        Crowd { cells: [Cell { key: 0, at: 0, visitors: 0.0, dead: 0.0, repeated: 0.0 }; N], used: 0, half_life }
    }

    /// Cells in use.
    pub fn len(&self) -> usize {
        self.used
    }

    /// No cell yet.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// The norm of cell `key` at time `now` (all zero for a cell never seen).
    pub fn norm(&self, now: u32, key: u64) -> Norm {
        self.cells[..self.used].iter().find(|c| c.key == key).map_or_else(Norm::default, |c| c.norm(now, self.half_life))
    }

    /// Every cell in use, its key and its norm at time `now`, in no particular order (a broken
    /// control is one whose [`Norm::broken`]; [`corner`] tells where it is on a known page).
    pub fn cells(&self, now: u32) -> impl Iterator<Item = (u64, Norm)> + '_ {
        self.cells[..self.used].iter().map(move |c| (c.key, c.norm(now, self.half_life)))
    }

    /// Learns one finished session's clicks on `page` of `tenant` at time `now`: each cell it
    /// clicked gains one visitor, one "dead" if any click there went unanswered, one "repeated"
    /// if it pressed there [`REPEAT_PRESSES`] times or more and every one was answered.
    pub fn learn(&mut self, now: u32, tenant: u32, page: u32, clicks: &[Click]) {
        for (i, c) in clicks.iter().enumerate() {
            let key = cell(tenant, page, c.x, c.y);
            // Once per cell per session: at its first click there.
            if clicks[..i].iter().any(|p| cell(tenant, page, p.x, p.y) == key) {
                continue;
            }
            let here = clicks[i..].iter().filter(|p| cell(tenant, page, p.x, p.y) == key);
            let (mut n, mut dead) = (0u8, false);
            for p in here {
                n = n.saturating_add(1);
                dead |= !p.answered;
            }
            self.add(now, key, dead, !dead && n >= REPEAT_PRESSES);
        }
    }

    fn add(&mut self, now: u32, key: u64, dead: bool, repeated: bool) {
        let half_life = self.half_life;
        let slot = match self.cells[..self.used].iter().position(|c| c.key == key) {
            Some(i) => i,
            None if self.used < N => {
                self.used += 1;
                self.cells[self.used - 1] = Cell { key, at: now, ..Cell::default() };
                self.used - 1
            }
            None => {
                // Full: the cell with the least decayed weight gives way.
                let weight = |c: &Cell| c.visitors * c.decayed(now, half_life);
                let mut least = 0;
                for (i, c) in self.cells.iter().enumerate() {
                    if weight(c) < weight(&self.cells[least]) {
                        least = i;
                    }
                }
                self.cells[least] = Cell { key, at: now, ..Cell::default() };
                least
            }
        };
        let c = &mut self.cells[slot];
        let k = c.decayed(now, half_life);
        c.visitors = c.visitors * k + 1.0;
        c.dead = c.dead * k + f32::from(u8::from(dead));
        c.repeated = c.repeated * k + f32::from(u8::from(repeated));
        c.at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clicks(spots: &[(i16, i16, bool)]) -> heapless::Vec<Click, 16> {
        spots.iter().map(|&(x, y, answered)| Click { x, y, answered }).collect()
    }

    #[test]
    fn a_spot_many_visitors_click_in_vain_is_broken_and_one_visitor_is_one_voice() {
        let mut crowd: Crowd<64> = Crowd::new(1000);
        // One visitor hammers a dead spot ten times: one voice, not enough.
        crowd.learn(0, 1, 7, &clicks(&[(100, 100, false); 10]));
        assert!((crowd.norm(1, cell(1, 7, 100, 100)).visitors - 1.0).abs() < 0.01);
        assert!(!crowd.norm(1, cell(1, 7, 100, 100)).broken());
        for t in 1..6 {
            crowd.learn(t, 1, 7, &clicks(&[(101, 102, false), (300, 40, true)]));
        }
        let n = crowd.norm(6, cell(1, 7, 100, 100));
        assert!(n.broken(), "{n:?}");
        assert!(!crowd.norm(6, cell(1, 7, 300, 40)).broken());
        // Another page or tenant knows nothing of it.
        assert_eq!(crowd.norm(6, cell(1, 8, 100, 100)), Norm::default());
        assert_eq!(crowd.norm(6, cell(2, 7, 100, 100)), Norm::default());
    }

    #[test]
    fn an_arrow_pressed_again_and_again_and_answering_is_normal_there() {
        let mut crowd: Crowd<64> = Crowd::new(1000);
        for t in 0..8 {
            let n = if t % 2 == 0 { 6 } else { 1 };
            let presses: heapless::Vec<Click, 16> = (0..n).map(|_| Click { x: 37, y: 83, answered: true }).collect();
            crowd.learn(t, 1, 3, &presses);
        }
        let n = crowd.norm(8, cell(1, 3, 37, 83));
        assert!(n.repeated_is_normal() && !n.broken(), "{n:?}");
        assert!((n.repeated_share - 0.5).abs() < 0.05, "{n:?}");
    }

    #[test]
    fn the_cells_list_every_spot_learnt_and_each_corner_is_found_again_on_its_page_only() {
        let mut crowd: Crowd<64> = Crowd::new(1000);
        assert_eq!(crowd.cells(0).count(), 0);
        for t in 0..6 {
            crowd.learn(t, 1, 7, &clicks(&[(101, 102, false), (300, 40, true), (-20, -1, false)]));
        }
        let mut broken: heapless::Vec<(i32, i32), 4> =
            crowd.cells(6).filter(|(_, n)| n.broken()).filter_map(|(k, _)| corner(1, 7, k)).collect();
        broken.sort_unstable();
        assert_eq!(broken, [(-32, -16), (96, 96)]);
        let (_, answered) = crowd.cells(6).find(|(k, _)| corner(1, 7, *k) == Some((288, 32))).expect("the answered spot");
        assert!(!answered.broken() && (answered.visitors - 6.0).abs() < 0.05, "{answered:?}");
        // The listed norm is the one `norm` gives.
        for (k, n) in crowd.cells(6) {
            assert_eq!(n, crowd.norm(6, k));
        }
        // The inverse of `cell` at the edges of the viewport's range, and nothing on other pages.
        for (x, y) in [(0, 0), (15, 16), (-1, -16), (i16::MIN, i16::MAX), (i16::MAX, i16::MIN)] {
            let at = (i32::from(x).div_euclid(CELL_PX) * CELL_PX, i32::from(y).div_euclid(CELL_PX) * CELL_PX);
            assert_eq!(corner(1, 7, cell(1, 7, x, y)), Some(at), "({x}, {y})");
            assert_eq!(corner(1, 8, cell(1, 7, x, y)), None, "({x}, {y})");
            assert_eq!(corner(2, 7, cell(1, 7, x, y)), None, "({x}, {y})");
        }
    }

    #[test]
    fn counts_decay_and_memory_is_bounded() {
        let mut crowd: Crowd<4> = Crowd::new(100);
        for t in 0..6 {
            crowd.learn(t, 1, 1, &clicks(&[(0, 0, false)]));
        }
        assert!(crowd.norm(6, cell(1, 1, 0, 0)).broken());
        // Three half-lives later: an eighth of the visitors, below the minimum.
        assert!(!crowd.norm(306, cell(1, 1, 0, 0)).broken());
        // Ten more spots on a four-cell norm: the oldest, lightest cells give way.
        for i in 0..10 {
            crowd.learn(310 + i, 1, 1, &clicks(&[(i as i16 * 100 + 50, 500, true)]));
        }
        assert_eq!(crowd.len(), 4);
        assert!((crowd.norm(319, cell(1, 1, 950, 500)).visitors - 1.0).abs() < 0.01);
        assert_eq!(crowd.norm(319, cell(1, 1, 0, 0)), Norm::default());
    }
}
