//! The crowd's norm on the server: a spot of a page where many visitors' clicks go unanswered is
//! a broken control, a finding about the page, not each visitor's rage.
//!
//! One [`shared_physics::crowd::Crowd`] per tenant (cells of a page's 16 px squares, counts per
//! visitor, halving every [`HALF_LIFE_SECS`], at most [`CELLS_PER_TENANT`] cells). The server
//! sees a session's clicks only in the evidence of its detections, so that is what it learns
//! from: the clicks of every confirmed detection's evidence, with whether the page answered each,
//! gathered per session and learnt **once the session has been idle** for
//! [`SESSION_IDLE_SECS`] (a reconnect continues the same session), so a session is never judged
//! against itself. At most [`MAX_PENDING_SESSIONS`] sessions wait (the longest idle is learnt
//! early when full) with at most [`MAX_CLICKS_PER_SESSION`] clicks each.
//!
//! A confirmed rage or frustration detection whose triggering click lands on a cell the crowd
//! knows as broken ([`Norm::broken`]: at least 5 visitors, half or more of them unanswered there)
//! is a [`Judgement::BrokenControl`]: the caller records it but does not intervene on the
//! visitor, and the spot counts it as held back.
//!
//! [`Crowds::broken`] lists a tenant's broken controls now (the dashboard's "Broken controls"):
//! each spot's page, where on it, its visitors, their share unanswered and the detections held
//! back there. The crowd knows a page by a 32-bit key, so the path of each page learnt is kept
//! beside it (at most [`PAGES_PER_TENANT`] pages; a spot whose page's path gave way is not
//! listed until a session of that page is learnt again), and the held-back counts of at most
//! [`HELD_SPOTS_PER_TENANT`] spots. Each server instance learns from the sessions it holds: the
//! list is this instance's.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{LazyLock, Mutex};

use shared_physics::crowd::{cell, corner, Click, Crowd, Norm};
use shared_physics::detect::{answer, Answer, Detection};
use shared_physics::{Emotion, Kind, Sample};

/// Cells of the norm kept per tenant (about 24 bytes each).
pub const CELLS_PER_TENANT: usize = 4096;
/// Every count halves in this many seconds: a control fixed last week stops being "broken".
pub const HALF_LIFE_SECS: u32 = 7 * 24 * 3600;
/// A session idle this long is over and is learnt.
pub const SESSION_IDLE_SECS: u32 = 30 * 60;
/// Sessions whose clicks wait to be learnt, at most.
pub const MAX_PENDING_SESSIONS: usize = 10_000;
/// Clicks kept per waiting session.
pub const MAX_CLICKS_PER_SESSION: usize = 256;
/// Page paths kept per tenant to name where a broken control is (the page learnt longest ago
/// gives way).
pub const PAGES_PER_TENANT: usize = 256;
/// Spots whose held-back detections are counted per tenant (the spot held back at longest ago
/// gives way).
pub const HELD_SPOTS_PER_TENANT: usize = 256;
/// Broken controls listed at most, the most visited first.
pub const MAX_BROKEN_LISTED: usize = 100;

/// What the crowd says about a confirmed detection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Judgement {
    /// Nothing known against it: the visitor's own.
    Visitor,
    /// Its click lands on a spot where many visitors' clicks go unanswered.
    BrokenControl(Norm),
}

struct Pending {
    page: u32,
    /// The page's path (at most `wire::MAX_TEXT_BYTES`, as `Hello` brought it).
    path: String,
    clicks: Vec<Click>,
    /// Time of the newest click noted (ms, page clock): overlapping evidence is noted once.
    newest_click_ms: Option<u32>,
    /// Last time the session was heard from (s).
    last_s: u32,
}

/// Detections held back at one spot.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Held {
    count: u32,
    first_s: u32,
    last_s: u32,
}

/// One tenant's norm, the paths of its pages and the detections held back per spot.
struct Tenant {
    crowd: Box<Crowd<CELLS_PER_TENANT>>,
    /// Page key → its path and when a session of it was last learnt (s).
    pages: HashMap<u32, (String, u32)>,
    /// Cell key → the detections held back there.
    held: HashMap<u64, Held>,
}

impl Tenant {
    fn new() -> Tenant {
        Tenant { crowd: Box::new(Crowd::new(HALF_LIFE_SECS)), pages: HashMap::new(), held: HashMap::new() }
    }
}

#[derive(Default)]
struct Inner {
    tenants: HashMap<String, Tenant>,
    pending: HashMap<(String, u64), Pending>,
}

/// A broken control now: a spot of a page where many visitors' clicks go unanswered.
#[derive(Clone, Debug, PartialEq)]
pub struct BrokenSpot {
    /// The page's path.
    pub page: String,
    /// The left edge of the spot's 16 px square, viewport px.
    pub x: i32,
    /// The top edge of the spot's 16 px square, viewport px.
    pub y: i32,
    /// Visitors who clicked there (decayed, at least [`shared_physics::crowd::MIN_VISITORS`]).
    pub visitors: f32,
    /// Share of them whose clicks there went unanswered (at least
    /// [`shared_physics::crowd::BROKEN_SHARE`]).
    pub unanswered_share: f32,
    /// Rage and frustration detections there recorded but not intervened on.
    pub held_back: u32,
    /// When the first and the latest of them were (s); `None` when none was.
    pub held_s: Option<(u32, u32)>,
}

/// Every tenant's norm and the sessions waiting to be learnt.
#[derive(Default)]
pub struct Crowds {
    inner: Mutex<Inner>,
}

/// The process's norms (the confirm stage holds no other state).
pub static CROWDS: LazyLock<Crowds> = LazyLock::new(Crowds::default);

/// A stable 32-bit key for a page path.
fn page_key(page: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in page.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h
}

/// The clicks of `evidence` after `after_ms`, with whether the page answered each
/// ([`answer`]; a click not decided yet counts as answered: it is not known dead).
fn clicks(evidence: &[Sample], after_ms: Option<u32>) -> Vec<(u32, Click)> {
    let mut out = Vec::new();
    for (i, s) in evidence.iter().enumerate().filter(|(_, s)| s.kind == Kind::Click && after_ms.is_none_or(|a| s.t_ms > a)) {
        out.push((s.t_ms, Click { x: s.x, y: s.y, answered: answer(evidence, i) != Answer::Dead }));
    }
    out
}

impl Crowds {
    /// Judges a confirmed detection `d` of `session` on `page` of `tenant` from its `evidence`
    /// against the crowd (other, finished sessions), then notes the evidence's clicks for this
    /// session. `now_s`: wall-clock seconds.
    pub fn judge(&self, tenant: &str, session: u64, page: &str, d: &Detection, evidence: &[Sample], now_s: u32) -> Judgement {
        let mut inner = self.inner.lock().expect("crowd lock");
        let inner = &mut *inner;
        // Never the session being judged, which was just heard from.
        learn_over(inner, now_s, Some((tenant, session)));
        let path = page;
        let page = page_key(page);
        let judgement = match d.emotion {
            Emotion::Rage | Emotion::Frustration => {
                let at = evidence.iter().rev().find(|s| s.kind == Kind::Click && s.t_ms <= d.t_ms);
                let known = at.zip(inner.tenants.get_mut(tenant));
                match known.map(|(c, t)| (cell(0, page, c.x, c.y), t)) {
                    Some((key, t)) => {
                        let n = t.crowd.norm(now_s, key);
                        if n.broken() {
                            hold_back(t, key, now_s);
                            Judgement::BrokenControl(n)
                        } else {
                            Judgement::Visitor
                        }
                    }
                    None => Judgement::Visitor,
                }
            }
            _ => Judgement::Visitor,
        };
        // Note this session's clicks for later.
        let key = (tenant.to_string(), session);
        if let Some(oldest) = giving_way(&inner.pending, &key, MAX_PENDING_SESSIONS, |p| p.last_s) {
            learn(inner, oldest);
        }
        let p = inner.pending.entry(key).or_insert_with(|| Pending {
            page,
            path: path.to_string(),
            clicks: Vec::new(),
            newest_click_ms: None,
            last_s: now_s,
        });
        p.last_s = now_s;
        for (t, c) in clicks(evidence, p.newest_click_ms) {
            if p.clicks.len() < MAX_CLICKS_PER_SESSION {
                p.clicks.push(c);
            }
            p.newest_click_ms = Some(p.newest_click_ms.map_or(t, |n| n.max(t)));
        }
        judgement
    }

    /// `tenant`'s broken controls at `now_s` (wall-clock seconds), the most visited first, at
    /// most [`MAX_BROKEN_LISTED`]: what this instance has learnt, after learning the sessions
    /// that are over.
    pub fn broken(&self, tenant: &str, now_s: u32) -> Vec<BrokenSpot> {
        let mut inner = self.inner.lock().expect("crowd lock");
        let inner = &mut *inner;
        learn_over(inner, now_s, None);
        let Some(t) = inner.tenants.get(tenant) else { return Vec::new() };
        let mut spots: Vec<BrokenSpot> = t
            .crowd
            .cells(now_s)
            .filter(|(_, n)| n.broken())
            .filter_map(|(key, n)| {
                // The page whose cell it is, among the pages whose paths are kept.
                let (path, (x, y)) = t.pages.iter().find_map(|(page, (path, _))| corner(0, *page, key).map(|at| (path, at)))?;
                let held = t.held.get(&key);
                Some(BrokenSpot {
                    page: path.clone(),
                    x,
                    y,
                    visitors: n.visitors,
                    unanswered_share: n.dead_share,
                    held_back: held.map_or(0, |h| h.count),
                    held_s: held.map(|h| (h.first_s, h.last_s)),
                })
            })
            .collect();
        spots.sort_by(|a, b| {
            b.visitors
                .total_cmp(&a.visitors)
                .then(b.held_back.cmp(&a.held_back))
                .then_with(|| (&a.page, a.y, a.x).cmp(&(&b.page, b.y, b.x)))
        });
        spots.truncate(MAX_BROKEN_LISTED);
        spots
    }
}

/// Learns the sessions idle long enough to be over, but `except`.
fn learn_over(inner: &mut Inner, now_s: u32, except: Option<(&str, u64)>) {
    let over: Vec<(String, u64)> = inner
        .pending
        .iter()
        .filter(|(k, p)| now_s.saturating_sub(p.last_s) >= SESSION_IDLE_SECS && except.is_none_or(|(t, s)| !(k.0 == t && k.1 == s)))
        .map(|(k, _)| k.clone())
        .collect();
    for k in over {
        learn(inner, k);
    }
}

fn learn(inner: &mut Inner, key: (String, u64)) {
    if let Some(p) = inner.pending.remove(&key) {
        let t = inner.tenants.entry(key.0).or_insert_with(Tenant::new);
        t.crowd.learn(p.last_s, 0, p.page, &p.clicks);
        // The page's path, to name its spots; the page learnt longest ago gives way when full.
        if let Some(oldest) = giving_way(&t.pages, &p.page, PAGES_PER_TENANT, |(_, at)| *at) {
            t.pages.remove(&oldest);
        }
        let e = t.pages.entry(p.page).or_insert_with(|| (p.path, p.last_s));
        e.1 = e.1.max(p.last_s);
    }
}

/// Counts a detection held back at cell `key`; the spot held back at longest ago gives way when
/// full.
fn hold_back(t: &mut Tenant, key: u64, now_s: u32) {
    if let Some(oldest) = giving_way(&t.held, &key, HELD_SPOTS_PER_TENANT, |h| h.last_s) {
        t.held.remove(&oldest);
    }
    let h = t.held.entry(key).or_insert(Held { count: 0, first_s: now_s, last_s: now_s });
    h.count = h.count.saturating_add(1);
    h.last_s = h.last_s.max(now_s);
}

/// The entry of a bounded map that gives way before `key` goes in: none while `key` is already
/// there or the map holds fewer than `cap`, else the one with the smallest `age` (the one seen
/// longest ago).
fn giving_way<K: Eq + Hash + Clone, V>(map: &HashMap<K, V>, key: &K, cap: usize, age: impl Fn(&V) -> u32) -> Option<K> {
    if map.contains_key(key) || map.len() < cap {
        return None;
    }
    map.iter().min_by_key(|(_, v)| age(v)).map(|(k, _)| k.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared_physics::detect::{detect_rage, RageParams};

    /// Six clicks 150 ms apart, decided by the loader's quiet row 1 s after the last.
    fn burst(t0: u32, x: i16, y: i16) -> Vec<Sample> {
        let mut ev: Vec<Sample> = (0..6).map(|i| Sample { t_ms: t0 + i * 150, x, y, kind: Kind::Click, section: 0 }).collect();
        ev.push(Sample { t_ms: t0 + 750 + 1000, x: 0, y: 0, kind: Kind::Quiet, section: 0 });
        ev
    }

    fn judge(crowds: &Crowds, tenant: &str, session: u64, ev: &[Sample], now_s: u32) -> Judgement {
        let d = detect_rage(ev, &RageParams::default()).expect("rage");
        crowds.judge(tenant, session, "/checkout", &d, ev, now_s)
    }

    #[test]
    fn a_spot_where_many_visitors_rage_in_vain_is_a_broken_control_once_they_are_gone() {
        let crowds = Crowds::default();
        let ev = burst(1000, 400, 300);
        // Six visitors, an hour apart, rage at the same dead spot: each their own struggle.
        for s in 0..6u64 {
            assert_eq!(judge(&crowds, "t1", s, &ev, s as u32 * 3600), Judgement::Visitor);
        }
        // The seventh: the first six are over and learnt; the spot is broken.
        assert!(matches!(judge(&crowds, "t1", 6, &ev, 6 * 3600), Judgement::BrokenControl(n) if n.visitors >= 5.0));
        // Another tenant's page knows nothing of it; another spot of the page neither.
        assert_eq!(judge(&crowds, "t2", 6, &ev, 6 * 3600), Judgement::Visitor);
        assert_eq!(judge(&crowds, "t1", 7, &burst(1000, 40, 600), 6 * 3600), Judgement::Visitor);
    }

    #[test]
    fn a_session_is_never_judged_against_itself() {
        let crowds = Crowds::default();
        // One visitor rages at the same spot for hours: always their own struggle.
        for k in 0..10u32 {
            assert_eq!(judge(&crowds, "t1", 42, &burst(1000 + k * 5000, 400, 300), k * 3600), Judgement::Visitor);
        }
        let inner = crowds.inner.lock().unwrap();
        assert!(inner.tenants.is_empty(), "nothing learnt while the session goes on");
        assert_eq!(inner.pending[&("t1".to_string(), 42)].clicks.len(), 60, "overlapping evidence noted once");
    }

    #[test]
    fn the_dashboard_lists_the_broken_spot_with_its_page_and_the_detections_held_back_there() {
        let crowds = Crowds::default();
        let dead = burst(2000, 400, 300);
        let d = detect_rage(&dead, &RageParams::default()).expect("rage");
        // Each visitor's evidence: a click the page answered at (40, 600), then the dead burst.
        let mut ev = vec![
            Sample { t_ms: 100, x: 40, y: 600, kind: Kind::Click, section: 0 },
            Sample { t_ms: 120, x: 0, y: 0, kind: Kind::Response, section: 0 },
        ];
        ev.extend_from_slice(&dead);
        for s in 0..6u64 {
            assert_eq!(crowds.judge("t1", s, "/checkout", &d, &ev, s as u32 * 60), Judgement::Visitor);
        }
        assert!(crowds.broken("t1", 6 * 60).is_empty(), "nothing while the sessions go on");
        // Half an hour after the last: the six are over, learnt when the dashboard asks.
        let later = 5 * 60 + SESSION_IDLE_SECS;
        let spots = crowds.broken("t1", later);
        assert_eq!(spots.len(), 1, "the answered spot is not listed: {spots:?}");
        let s = &spots[0];
        assert_eq!((s.page.as_str(), s.x, s.y, s.held_back, s.held_s), ("/checkout", 400, 288, 0, None), "{s:?}");
        assert!((s.visitors - 6.0).abs() < 0.05 && s.unanswered_share == 1.0, "{s:?}");
        // A seventh visitor's rage there is held back, and counted on the spot.
        assert!(matches!(crowds.judge("t1", 6, "/checkout", &d, &dead, later + 10), Judgement::BrokenControl(_)));
        assert!(matches!(crowds.judge("t1", 7, "/checkout", &d, &dead, later + 20), Judgement::BrokenControl(_)));
        let s = &crowds.broken("t1", later + 30)[0];
        assert_eq!((s.held_back, s.held_s), (2, Some((later + 10, later + 20))), "{s:?}");
        // The same spot of another page, and another tenant, are not broken.
        assert_eq!(crowds.judge("t1", 8, "/cart", &d, &dead, later + 40), Judgement::Visitor);
        assert!(crowds.broken("t2", later + 40).is_empty());
    }

    #[test]
    fn the_paths_and_held_back_spots_kept_per_tenant_are_bounded() {
        let crowds = Crowds::default();
        let ev = burst(1000, 400, 300);
        let d = detect_rage(&ev, &RageParams::default()).expect("rage");
        let n = PAGES_PER_TENANT as u64 + 10;
        // One page per session, each over (and learnt) when the next is judged.
        for s in 0..n {
            crowds.judge("t1", s, &format!("/p{s}"), &d, &ev, s as u32 * SESSION_IDLE_SECS);
        }
        crowds.broken("t1", n as u32 * SESSION_IDLE_SECS);
        let mut inner = crowds.inner.lock().unwrap();
        let t = inner.tenants.get_mut("t1").unwrap();
        assert_eq!(t.pages.len(), PAGES_PER_TENANT);
        assert!(t.pages.values().all(|(path, _)| path != "/p0"), "the page learnt longest ago gave way");
        for k in 0..HELD_SPOTS_PER_TENANT as u64 + 10 {
            hold_back(t, k, k as u32);
        }
        assert_eq!(t.held.len(), HELD_SPOTS_PER_TENANT);
        assert!(!t.held.contains_key(&0) && t.held.contains_key(&(HELD_SPOTS_PER_TENANT as u64 + 9)));
    }

    #[test]
    fn a_full_map_gives_way_with_the_entry_seen_longest_ago_and_only_for_a_new_key() {
        let map: HashMap<u32, u32> = [(1, 30), (2, 10), (3, 20)].into();
        assert_eq!(giving_way(&map, &4, 3, |&at| at), Some(2), "full: the oldest goes");
        assert_eq!(giving_way(&map, &1, 3, |&at| at), None, "a key already there takes no room");
        assert_eq!(giving_way(&map, &4, 4, |&at| at), None, "room left");
    }

    #[test]
    fn answered_clicks_and_the_last_clicks_unknown_answer_are_not_dead() {
        let mut ev = burst(0, 10, 10);
        ev.pop();
        ev.insert(1, Sample { t_ms: 20, x: 0, y: 0, kind: Kind::Response, section: 0 });
        ev.push(Sample { t_ms: 1400, x: 5, y: 5, kind: Kind::Move, section: 0 });
        // The response answers the first click; 1.4 s decides the clicks up to 400 ms (two dead); the
        // rest are not known dead.
        let c = clicks(&ev, None);
        assert_eq!(c.iter().map(|(_, c)| c.answered).collect::<Vec<_>>(), [true, false, false, true, true, true]);
        assert_eq!(page_key("/a"), page_key("/a"));
        assert_ne!(page_key("/a"), page_key("/b"));
    }
}
