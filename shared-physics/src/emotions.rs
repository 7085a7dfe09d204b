//! The long-window emotions: `frustration`, `confusion`, `hesitation`, `abandonment` and
//! `engaged`, each a pure function of an evidence slice cut from the salient trace
//! ([`crate::trace`]), so the server recomputes exactly what the client computed.
//!
//! Every detector measures a few features, combines them into a score `z` with documented
//! weights, and turns the score into a confidence with its emotion's Platt calibration
//! ([`crate::calibration`]): `c = σ(a·z + b)`, capped at [`MAX_CONFIDENCE`]. The signatures,
//! thresholds and known failure cases are in `docs/detectors.md`.
//!
//! **Section classes**: the same motion means different things on a pricing table and in an
//! article. The SDK learns each section's name when it is first seen and files it under a
//! [`SectionClass`] by its name ([`classify`]); the server does the same from the session's
//! `Section` frames. Hesitation is only intervention-grade in a decision or checkout section;
//! a hidden tab only counts as abandonment in checkout.
//!
//! **Page answers**: frustration's dead clicks are clicks the page did not answer within
//! [`RESPONSE_WINDOW_MS`](crate::detection::RESPONSE_WINDOW_MS). The SDK always watches for answers; a recording that never carried
//! them (e.g. a raw mouse dataset) must say so ([`TraceParams::answers`] = false), and then no
//! click counts as dead.

use crate::calibration::{self, Platt};
use crate::detection::{answer, sigmoid, Answer, Detection, Features, MAX_CONFIDENCE, MIN_HUMAN_ICI_MS};
use crate::{Emotion, Kind, Sample};

/// What a section is for, from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SectionClass {
    /// Anything else (or no section).
    Other = 0,
    /// Choosing: pricing, plans, comparisons, upgrades.
    Decision = 1,
    /// Paying: checkout, cart, basket, payment, billing.
    Checkout = 2,
    /// Reading: articles, blog posts, docs.
    Content = 3,
}

/// Name fragments (lowercase ASCII) per class, tried in this order.
const CLASS_WORDS: [(SectionClass, &[&[u8]]); 3] = [
    (SectionClass::Checkout, &[b"checkout", b"cart", b"basket", b"payment", b"billing"]),
    (SectionClass::Decision, &[b"pric", b"plan", b"compar", b"upgrade", b"tier"]),
    (SectionClass::Content, &[b"article", b"blog", b"doc", b"content", b"read", b"post"]),
];

/// The class of a section called `name`: the first class one of whose words (`CLASS_WORDS`, in
/// this module's source: "checkout", "pric", "article", …) is in it, ASCII case-insensitive.
pub fn classify(name: &[u8]) -> SectionClass {
    // By hand rather than `windows`, whose size check links the SDK's wasm to `core::fmt`.
    let has = |word: &[u8]| (0..name.len()).any(|i| name.get(i..i + word.len()).is_some_and(|w| w.eq_ignore_ascii_case(word)));
    for (class, words) in CLASS_WORDS {
        if words.iter().any(|w| has(w)) {
            return class;
        }
    }
    SectionClass::Other
}

/// The class of every section id of a page view (2 bits per id; unknown ids are `Other`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SectionClasses([u32; 16]);

impl SectionClasses {
    /// All sections `Other`.
    pub const fn new() -> SectionClasses {
        SectionClasses([0; 16])
    }

    /// Files section `id` under `class`.
    pub fn set(&mut self, id: u8, class: SectionClass) {
        let (word, shift) = (id as usize / 16, (id as usize % 16) * 2);
        if let Some(w) = self.0.get_mut(word) {
            *w = (*w & !(3 << shift)) | ((class as u32) << shift);
        }
    }

    /// The class of section `id`.
    pub fn get(&self, id: u8) -> SectionClass {
        let (word, shift) = (id as usize / 16, (id as usize % 16) * 2);
        match self.0.get(word).map_or(0, |w| (w >> shift) & 3) {
            1 => SectionClass::Decision,
            2 => SectionClass::Checkout,
            3 => SectionClass::Content,
            _ => SectionClass::Other,
        }
    }
}

/// A long-window detection is emitted at this confidence (whole percent) or more, by default
/// ([`TraceParams::emit_floor_pct`]).
pub const EMIT_FLOOR_PCT: u8 = 50;

/// Tenant-tunable thresholds of the long-window emotions. The defaults are the documented
/// ones (`docs/detectors.md`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceParams {
    /// Whether the source reports the page's answers to clicks (the SDK always does).
    pub answers: bool,
    /// Fewest dead-click episodes (or repeated answered clicks) for frustration.
    pub min_dead_clicks: u8,
    /// Fewest scroll reversals for scroll confusion.
    pub min_scroll_reversals: u8,
    /// Fewest pointer reversals (in [`THRASH_WINDOW_MS`]) for thrashing.
    pub min_thrash_reversals: u8,
    /// Fewest wide swings between options for hesitation.
    pub min_swings: u8,
    /// Shortest steady reading scroll for `engaged`, ms.
    pub min_reading_ms: u32,
    /// A long-window detection is emitted at this confidence (whole percent) or more.
    pub emit_floor_pct: u8,
}

impl TraceParams {
    /// The documented defaults.
    pub const DEFAULT: TraceParams = TraceParams {
        answers: true,
        min_dead_clicks: 2,
        min_scroll_reversals: 3,
        min_thrash_reversals: 6,
        min_swings: 3,
        min_reading_ms: 4000,
        emit_floor_pct: EMIT_FLOOR_PCT,
    };
}

impl Default for TraceParams {
    fn default() -> Self {
        TraceParams::DEFAULT
    }
}

/// Clicks less than this far apart (px) are on the same spot.
pub const SPOT_RADIUS_PX: f32 = 48.0;
/// A dead click within this many ms of the previous dead click on the same spot belongs to the
/// same episode (a burst counts once: that is rage's evidence, not frustration's): the longest
/// gap of a rage burst (`RageParams::max_ici_ms`, 900 ms by default).
pub const EPISODE_GAP_MS: u32 = 900;
/// A dead click this close (px) to the previous dead click of its episode, or to its first,
/// continues it: the reach of a rage burst (`RageParams::radius_px`, 60 px by default, which
/// rage measures from the burst's first click), wider than a spot. Presses scattered over one
/// button swing further than that from one to the next, not from the first.
pub const EPISODE_RADIUS_PX: f32 = 60.0;
/// Answered clicks on the same control this far apart (ms) are repeated attempts (a submit that
/// keeps failing), not a burst.
pub const REPEAT_MS: (u32, u32) = (700, 5000);
/// A click this close (px) to an earlier one pressed the same control again. Tighter than
/// [`SPOT_RADIUS_PX`]: the next checkbox of a column or the next tab is another control.
pub const SAME_CONTROL_PX: f32 = 24.0;
/// A scroll turn counts as a reversal when the swing since the last turn is at least this, px.
pub const SCROLL_SWING_PX: i32 = 80;
/// The most confidence confusion can claim from motion alone: below the 0.85 intervention bar.
/// Scroll reversals alone, and pointer thrashing that follows no failed action, are capped here.
/// On real browsing (DLRV, `cargo xtask eval`) people scroll down and back up while they read,
/// and move the pointer back and forth over what they read (10–16 reversals in 2–5 s, no click,
/// no rest), in ways motion alone cannot tell from a hunt or from thrashing; what tells a lost
/// visitor is that something they tried did not work (a click the page left unanswered).
pub const SCROLL_ONLY_CAP: f32 = 0.80;
/// A pointer still this long (ms without a move) is resting, a reader's dwell: thrashing is
/// the movement since the latest rest. Longer than the trace's vertex period
/// ([`crate::trace::VERTEX_EVERY_MS`]) and a frame, so a moving pointer never looks at rest.
/// The trace keeps where a still pointer rested ([`crate::trace::REST_KEEP_MS`]), so a gap
/// between its moves is the stillness itself; before it did, a gap also held up to a vertex
/// period of movement, and the rule of 500 ms between kept moves read stops of 250–500 ms as
/// rests: this is that rule's middle.
pub const THRASH_REST_MS: u32 = 400;
/// Window of the thrashing features, ms.
pub const THRASH_WINDOW_MS: u32 = 5000;
/// A pointer turn counts as a reversal when the swing since the last turn is at least this, px.
pub const THRASH_SWING_PX: i32 = 40;
/// A swing between options is at least this wide, px.
pub const OPTION_SWING_PX: i32 = 120;
/// The pointer dwells while it stays within this radius, px.
pub const DWELL_RADIUS_PX: f32 = 24.0;
/// No move for this long is a rest (longer than the salient trace's gaps while moving,
/// [`crate::trace::VERTEX_EVERY_MS`] and a frame), ms.
pub const STOP_MS: u32 = 300;
/// A rest this close to an earlier one is a return to it, px.
pub const RETURN_PX: f32 = 80.0;
/// A hop of a slow approach is at least this long (shorter: the pointer drifting at rest), px.
pub const HOP_MIN_PX: f32 = 15.0;
/// A hop of a slow approach is at most this long (longer: a reach), px.
pub const HOP_MAX_PX: f32 = 120.0;
/// A click this recent (ms) means the visitor acted: no hesitation, no thrash.
pub const ACTED_MS: u32 = 2000;
/// An exit is "at the top edge" when the last pointer position is at most this far down, px.
pub const TOP_EDGE_PX: i16 = 48;
/// How far back (ms) from a leave the fastest upward step is looked for.
pub const EXIT_SPEED_MS: u32 = 500;
/// How far back (ms) from a leave or hidden a checkout section still counts.
pub const EXIT_CONTEXT_MS: u32 = 3000;

fn confidence(z: f32, cal: Platt) -> f32 {
    sigmoid(cal.a * z + cal.b).min(MAX_CONFIDENCE)
}

fn detection(emotion: Emotion, last: &Sample, section: u8, z: f32, features: Features) -> Detection {
    let cal = calibration::platt(emotion);
    Detection { emotion, confidence: confidence(z, cal), t_ms: last.t_ms, section, features: Features { score: z, ..features } }
}

/// The section of the newest pointer sample (move, down, click) in `ev`, 0 if none.
fn current_section(ev: &[Sample]) -> u8 {
    ev.iter().rev().find(|s| matches!(s.kind, Kind::Move | Kind::Down | Kind::Click)).map_or(0, |s| s.section)
}

fn dist(a: &Sample, b: &Sample) -> f32 {
    crate::norm(a.x as f32 - b.x as f32, a.y as f32 - b.y as f32)
}

/// Counts reversals along one coordinate of `samples`: once the value has moved `swing` away
/// from its start, a reversal is counted each time it comes back at least `swing` from its
/// furthest point in the current direction (hysteresis: jitter and small back-steps never count).
fn reversals<'a>(samples: impl Iterator<Item = &'a Sample>, coord: impl Fn(&Sample) -> i32, swing: i32) -> u8 {
    let (mut count, mut dir, mut start, mut extreme) = (0u8, 0i32, None::<i32>, 0i32);
    for s in samples {
        let v = coord(s);
        let Some(a) = start else {
            start = Some(v);
            continue;
        };
        if dir == 0 {
            if (v - a).abs() >= swing {
                dir = (v - a).signum();
                extreme = v;
            }
        } else if (v - extreme) * dir > 0 {
            extreme = v;
        } else if (extreme - v) * dir >= swing {
            count = count.saturating_add(1);
            dir = -dir;
            extreme = v;
        }
    }
    count
}

/// `frustration`: dead clicks (clicks the page did not answer within [`RESPONSE_WINDOW_MS`](crate::detection::RESPONSE_WINDOW_MS)),
/// counted once per episode, on several spots; or the same control pressed again
/// [`REPEAT_MS`] apart with the same result (a submit that keeps failing with the same error).
/// Evaluated when a click's answer window closes or an answer arrives.
///
/// **Same control, same result**: a repeat is a click within [`SAME_CONTROL_PX`] of the
/// previous answered click whose answer carries the same known signature (the `x` of the
/// [`Kind::Response`] sample, a hash of what the page changed; 0 = not known). A column of
/// checkboxes, a row of tabs, a date picker's arrow each answer with a different result (another
/// box ticked, another tab, another month): different controls or different answers, no repeat.
/// A source that does not record the answer's content (0) never makes repeats: a failing submit
/// cannot be told from an arrow doing its job without it.
///
/// The unanswered last click of a multi-click gesture whose earlier clicks were answered (within
/// [`EPISODE_GAP_MS`] and [`SPOT_RADIUS_PX`]: a triple-click selecting a paragraph) is part of
/// that gesture, not a dead click.
///
/// A press's own answer (a selection, a focus: [`crate::detection::OWN_ANSWER`]) carries no
/// result to compare, so triple clicks on paragraphs at one spot of the screen make no repeats.
///
/// Score: `z = 1.0·dead + 0.5·(spots − 1) + 2.0·repeats − 2.5`: the same control pressed three
/// times with the same result (two repeats, z = 1.5) weighs as three dead clicks on three spots.
pub fn detect_frustration(ev: &[Sample], p: &TraceParams) -> Option<Detection> {
    let last = ev.last()?;
    let (mut dead, mut spots, mut repeats) = (0u8, 0u8, 0u8);
    let mut spot_at: [Option<Sample>; 8] = [None; 8];
    let (mut prev_click, mut prev_dead): (Option<Sample>, Option<Sample>) = (None, None);
    // The first dead click of the current episode (set with the first dead click, before which
    // no episode is continued).
    let mut episode = *last;
    // The previous answered click and its answer's signature.
    let mut prev_answered: Option<(Sample, i16)> = None;
    let clicks = ev.iter().enumerate().filter(|(_, s)| s.kind == Kind::Click);
    for (i, c) in clicks {
        if prev_click.is_some_and(|p| c.t_ms.saturating_sub(p.t_ms) < MIN_HUMAN_ICI_MS) {
            continue;
        }
        prev_click = Some(*c);
        let a = answer(ev, i);
        let (answered, closed) = match a {
            Answer::Answered(sig) => (Some(sig), true),
            Answer::Dead => (None, true),
            Answer::Open => (None, false),
        };
        // The unanswered last click of a multi-click gesture whose earlier clicks the page
        // answered (a triple-click's third press selects nothing new) belongs to that gesture.
        let gesture = prev_answered.is_some_and(|(a, _)| c.t_ms.saturating_sub(a.t_ms) <= EPISODE_GAP_MS && dist(&a, c) <= SPOT_RADIUS_PX);
        if let Some(sig) = answered {
            if prev_answered.is_some_and(|(a, prev_sig)| {
                let gap = c.t_ms.saturating_sub(a.t_ms);
                sig != 0 && sig == prev_sig && dist(&a, c) <= SAME_CONTROL_PX && (REPEAT_MS.0..=REPEAT_MS.1).contains(&gap)
            }) {
                repeats = repeats.saturating_add(1);
            }
            prev_answered = Some((*c, sig));
        } else if closed && p.answers && !gesture {
            let same_episode = prev_dead.is_some_and(|d| {
                c.t_ms.saturating_sub(d.t_ms) <= EPISODE_GAP_MS && dist(&d, c).min(dist(&episode, c)) <= EPISODE_RADIUS_PX
            });
            prev_dead = Some(*c);
            if same_episode {
                continue;
            }
            episode = *c;
            dead = dead.saturating_add(1);
            if !spot_at.iter().flatten().any(|s| dist(s, c) <= SPOT_RADIUS_PX) {
                if let Some(slot) = spot_at.iter_mut().find(|s| s.is_none()) {
                    *slot = Some(*c);
                }
                spots = spots.saturating_add(1);
            }
        }
    }
    if dead < p.min_dead_clicks && repeats < p.min_dead_clicks {
        return None;
    }
    let z = f32::from(dead) + 0.5 * (f32::from(spots.max(1)) - 1.0) + 2.0 * f32::from(repeats) - 2.5;
    let features = Features { clicks: dead, dead_clicks: dead, reversals: repeats, ..Features::default() };
    Some(detection(Emotion::Frustration, last, prev_click.map_or(0, |c| c.section), z, features))
}

/// Path length and straight-line distance of the moves in `ev` after `since`.
fn path(ev: &[Sample], since: u32) -> (f32, f32) {
    let mut moves = ev.iter().filter(|s| s.kind == Kind::Move && s.t_ms >= since);
    let Some(first) = moves.next() else { return (0.0, 0.0) };
    let (mut len, mut prev) = (0.0, first);
    for s in moves {
        len += dist(prev, s);
        prev = s;
    }
    (len, dist(first, prev))
}

/// Time of the newest click in `ev`, if any.
fn last_click(ev: &[Sample]) -> Option<u32> {
    ev.iter().rev().find(|s| s.kind == Kind::Click).map(|s| s.t_ms)
}

/// `confusion`: scroll reversals (up and down over the same content, each swing ≥
/// [`SCROLL_SWING_PX`]) or thrashing (the pointer reversing ≥
/// [`TraceParams::min_thrash_reversals`] times with swings ≥ [`THRASH_SWING_PX`] within
/// [`THRASH_WINDOW_MS`] while getting nowhere, with no press or click in that window, counted
/// from the newest click (the way to a press is reaching) and from the newest rest of
/// [`THRASH_REST_MS`]). Scroll reversals alone, and thrashing
/// without a **failed action** (a click the page is known not to have answered,
/// [`Answer::Dead`], in the thrash window or at most [`ACTED_MS`] before the unbroken run of
/// movement began; only a source that records answers can know one), are capped at
/// [`SCROLL_ONLY_CAP`], below the intervention bar: by its motion, a reader's idle pointer
/// cannot be told from a lost visitor's (docs/detectors.md, DLRV).
///
/// Score: `z = 0.9·scroll_reversals + 0.45·thrash_reversals·(1 − efficiency) +
/// 0.5·min(in_vain / 1000 px, 2) + 1.0·failed − 3.0` (`in_vain` the run's path length less the
/// distance it got, `failed` 1 when there is a failed action): the dead click is evidence of
/// trouble of its own, weighing what one dead click weighs in frustration, so back and forth
/// after it reaches the bar with about eight reversals in the window rather than ten; slow,
/// wide flicks make fewer reversals for the same futile travel, which counts on its own.
pub fn detect_confusion(ev: &[Sample], p: &TraceParams) -> Option<Detection> {
    let last = ev.last()?;
    let scrolls = reversals(ev.iter().filter(|s| s.kind == Kind::Scroll), |s| s.y as i32, SCROLL_SWING_PX);
    let window_start = last.t_ms.saturating_sub(THRASH_WINDOW_MS);
    // Thrashing is continuous: the pointer resting (no move for THRASH_REST_MS, a reader's
    // dwell) ends the run, and only the movement after the latest rest counts. So does a
    // click: the way to a press is reaching, and back and forth is what comes *after* a click
    // that did nothing. `run` is when the current run began, however long ago (within the trace).
    let mut run = 0;
    let mut prev_move: Option<u32> = None;
    for s in ev {
        match s.kind {
            Kind::Click => run = s.t_ms,
            Kind::Move => {
                if prev_move.is_none_or(|t| s.t_ms.saturating_sub(t) >= THRASH_REST_MS) {
                    run = s.t_ms;
                }
                prev_move = Some(s.t_ms);
            }
            _ => {}
        }
    }
    if prev_move.is_some_and(|t| last.t_ms.saturating_sub(t) >= THRASH_REST_MS) {
        run = last.t_ms;
    }
    let since = run.max(window_start);
    // A press or click in the thrash window means the movement had a purpose (reaching for
    // targets fast with overshoots, dragging, as in SapiMouse's target-clicking task), unless
    // it was a click the page is known not to have answered: clicking something that did
    // nothing and then moving back and forth is what thrashing is about. A press counts through
    // its click; a press without one (a drag) is acting.
    let known_dead = |i: usize| answer(ev, i) == Answer::Dead;
    let acted = ev.iter().enumerate().any(|(i, s)| {
        s.t_ms >= window_start
            && match s.kind {
                Kind::Click => !(p.answers && known_dead(i)),
                Kind::Down => !ev.iter().skip(i + 1).any(|n| n.kind == Kind::Click && n.t_ms.saturating_sub(s.t_ms) <= 1000),
                _ => false,
            }
    });
    let recent = || ev.iter().filter(move |s| s.kind == Kind::Move && s.t_ms >= since);
    let thrash = if acted {
        0
    } else {
        reversals(recent(), |s| s.x as i32, THRASH_SWING_PX).saturating_add(reversals(recent(), |s| s.y as i32, THRASH_SWING_PX))
    };
    if scrolls < p.min_scroll_reversals && thrash < p.min_thrash_reversals {
        return None;
    }
    // A failed action: a click the page is known to have left unanswered, in the thrash window
    // or at most ACTED_MS before the run began (a pause to see that nothing happened, then
    // back and forth ever since: a long thrash outlives its window, not its cause). The
    // failure and the thrashing are one episode.
    let from = window_start.min(run.saturating_sub(ACTED_MS));
    let failed = if p.answers {
        ev.iter().enumerate().filter(|(i, s)| s.kind == Kind::Click && s.t_ms >= from && known_dead(*i)).count()
    } else {
        0
    };
    let (len, net) = path(ev, since);
    let efficiency = if len > 0.0 { net / len } else { 1.0 };
    let z = 0.9 * f32::from(scrolls)
        + 0.45 * f32::from(thrash) * (1.0 - efficiency)
        + 0.5 * ((len - net) / 1000.0).min(2.0)
        + f32::from(failed > 0)
        - 3.0;
    let features = Features {
        reversals: scrolls.saturating_add(thrash),
        efficiency,
        dwell_ms: last.t_ms.saturating_sub(since),
        dead_clicks: failed.min(255) as u8,
        ..Features::default()
    };
    let mut d = detection(Emotion::Confusion, last, current_section(ev), z, features);
    // Scrolling back and forth alone is how people read (re-reading, scanning a long page), and
    // so is moving the pointer to and fro over the page: recorded, never intervention grade
    // unless the pointer thrashes after something the visitor tried did nothing.
    if thrash < p.min_thrash_reversals || failed == 0 {
        d.confidence = d.confidence.min(SCROLL_ONLY_CAP);
    }
    Some(d)
}

/// `hesitation`: in a decision or checkout section (only there: the same motion over an
/// article is reading), swinging between options (x or y swings ≥ [`OPTION_SWING_PX`]) and
/// dwelling still (within [`DWELL_RADIUS_PX`]) without clicking for [`ACTED_MS`].
///
/// Swings alone do not say *between options*: a visitor touring distinct places in a zigzag
/// (a checkout's card, total, expiry) swings as much as one going back and forth between two
/// plans. A **return** does: the pointer comes to rest (no move for [`STOP_MS`]) back within
/// [`RETURN_PX`] of an earlier rest other than the one just before (A → B → A).
///
/// The brief's third sign is the **approach**: a slow approach with corrections comes to rest
/// in short hops (`approach_hops`); a reach for a control, or a look on the way out, takes
/// one or two. Hops beyond two count.
///
/// Score: `z = 0.4·swings + 0.8·returns + 1.0·min(dwell_s / 1.5, 2) + 1.0·max(hops − 2, 0)
/// − 2.5`.
pub fn detect_hesitation(ev: &[Sample], p: &TraceParams, classes: &SectionClasses) -> Option<Detection> {
    let last = ev.last()?;
    let section = current_section(ev);
    if !matches!(classes.get(section), SectionClass::Decision | SectionClass::Checkout) {
        return None;
    }
    if last_click(ev).is_some_and(|t| last.t_ms.saturating_sub(t) <= ACTED_MS) {
        return None;
    }
    let moves = || ev.iter().filter(|s| s.kind == Kind::Move);
    let swings = reversals(moves(), |s| s.x as i32, OPTION_SWING_PX).max(reversals(moves(), |s| s.y as i32, OPTION_SWING_PX));
    // The longest stretch of moves that stays within the dwell radius of its first.
    // A press or click ends a stretch: a still pointer that keeps clicking is acting.
    // Returns: rests (at most 8 kept) that come back near an earlier rest, not the last one;
    // the first move after a rest is where the pointer rested (a reach starts slowly).
    let (mut dwell_ms, mut anchor, mut prev) = (0u32, None::<&Sample>, last);
    let (mut rests, mut returns) = (heapless::Vec::<&Sample, 8>::new(), 0u8);
    for s in ev {
        if s.kind == Kind::Move {
            if s.t_ms.saturating_sub(prev.t_ms) >= STOP_MS && rests.last().is_none_or(|a| dist(a, s) > RETURN_PX) {
                // Not near the last rest, so near any kept one is a return.
                returns += u8::from(rests.iter().any(|a| dist(a, s) <= RETURN_PX));
                let _ = rests.push(s);
            }
            prev = s;
        }
        match (s.kind, anchor) {
            (Kind::Down | Kind::Click, _) => anchor = None,
            (Kind::Move, Some(a)) if dist(a, s) <= DWELL_RADIUS_PX => dwell_ms = dwell_ms.max(s.t_ms.saturating_sub(a.t_ms)),
            (Kind::Move, _) => anchor = Some(s),
            _ => {}
        }
    }
    if swings < p.min_swings && dwell_ms < 1500 {
        return None;
    }
    let hops = approach_hops(ev);
    let z =
        0.4 * f32::from(swings) + 0.8 * f32::from(returns) + (dwell_ms as f32 / 1500.0).min(2.0) + f32::from(hops.saturating_sub(2)) - 2.5;
    let features = Features { reversals: swings, dwell_ms, hops, ..Features::default() };
    Some(detection(Emotion::Hesitation, last, section, z, features))
}

/// Hops into the pointer's latest rest: a chain of rests (the pointer moved less than
/// [`HOP_MIN_PX`] in [`crate::trace::REST_KEEP_MS`] or more), each [`HOP_MIN_PX`]–[`HOP_MAX_PX`]
/// from the one before it (closer: one rest, drifting), that ends at the latest rest: a slow
/// approach with corrections. A press or click ends the chain.
fn approach_hops(ev: &[Sample]) -> u8 {
    let (mut hops, mut rest, mut prev) = (0u8, None::<&Sample>, None::<&Sample>);
    for s in ev {
        match s.kind {
            Kind::Down | Kind::Click => (hops, rest) = (0, None),
            Kind::Move => {
                if let Some(p) = prev.filter(|p| s.t_ms.saturating_sub(p.t_ms) >= crate::trace::REST_KEEP_MS && dist(p, s) < HOP_MIN_PX) {
                    match rest.map(|r| dist(r, p)) {
                        Some(d) if d < HOP_MIN_PX => {}
                        Some(d) if d <= HOP_MAX_PX => hops = hops.saturating_add(1),
                        _ => hops = 0,
                    }
                    rest = Some(p);
                }
                prev = Some(s);
            }
            _ => {}
        }
    }
    hops
}

/// `abandonment`: exit intent. The trigger is a `leave` (the pointer left the document) or a
/// `hidden` (the tab went away). A leave counts by the pointer's fastest upward step in the last
/// [`EXIT_SPEED_MS`] and whether it left at the top edge (towards the tab bar and the close
/// button: the leave's own y above the viewport, where the loader records it, or the last move
/// within [`TOP_EDGE_PX`] of the top); either counts more when the visitor was in a checkout
/// section in the last [`EXIT_CONTEXT_MS`].
///
/// Exit intent is *where* the pointer leaves from and *what* the visitor was doing: having
/// looked at the checkout, a pointer that leaves through the top edge (towards the tab bar, the
/// address bar, the close button) is leaving, whatever the speed a person reaches it with
/// (intervention grade, 0.87 however slow); speed adds a little. Without the top edge or
/// without checkout a leave is never intervention grade (at most 0.80), and a slow one is no
/// claim at all.
///
/// Score: leave `z = 0.6·min(up_speed / 800, 2.5) + 2.1·[top edge] + 2.0·[checkout] − 2.2`;
/// hidden `z = 2.2·[checkout] − 1.5`.
pub fn detect_abandonment(ev: &[Sample], classes: &SectionClasses) -> Option<Detection> {
    let last = ev.last()?;
    if !matches!(last.kind, Kind::Leave | Kind::Hidden) {
        return None;
    }
    let section = current_section(ev);
    // In checkout: any pointer sample of the last 3 s there (on the way out the pointer crosses
    // the page's header, which is another section).
    let recent = |s: &&Sample| last.t_ms.saturating_sub(s.t_ms) <= EXIT_CONTEXT_MS;
    let in_checkout = ev.iter().filter(recent).any(|s| s.kind.is_pointer() && classes.get(s.section) == SectionClass::Checkout);
    let checkout = if in_checkout { 1.0 } else { 0.0 };
    // The fastest upward step between consecutive moves of the last EXIT_SPEED_MS.
    let (mut up_speed, mut prev, mut end) = (0.0f32, None::<&Sample>, None::<&Sample>);
    for s in ev.iter().filter(|s| s.kind == Kind::Move && last.t_ms.saturating_sub(s.t_ms) <= EXIT_SPEED_MS) {
        if let Some(p) = prev {
            let dt = s.t_ms.saturating_sub(p.t_ms);
            if dt >= 8 {
                up_speed = up_speed.max((p.y as f32 - s.y as f32) * 1000.0 / dt as f32);
            }
        }
        prev = Some(s);
        end = Some(s);
    }
    // The leave's own y, where the loader records it, is where the pointer crossed: above the
    // viewport is the top edge however far below it a fast flick's last sampled move landed.
    // (`|`, not `||`: both are cheap, and the branch costs bytes of sdk-emotions.wasm.)
    let top = (last.y < 0) | end.is_some_and(|e| e.y <= TOP_EDGE_PX);
    let z = if last.kind == Kind::Hidden {
        2.2 * checkout - 1.5
    } else {
        0.6 * (up_speed / 800.0).min(2.5) + if top { 2.1 } else { 0.0 } + 2.0 * checkout - 2.2
    };
    let features = Features { peak_speed: up_speed, ..Features::default() };
    Some(detection(Emotion::Abandonment, last, section, z, features))
}

/// `engaged`: steady reading. The page scrolled mostly one way (back-scroll under a fifth of
/// the way forward, at most one reversal) for at least [`TraceParams::min_reading_ms`] at a
/// reading pace (20–600 px/s); more so in a content section.
///
/// Score: `z = 1.0·min(duration / 5 s, 2) + 0.8·[content] − 0.8·reversals − 1.2`.
pub fn detect_engaged(ev: &[Sample], p: &TraceParams, classes: &SectionClasses) -> Option<Detection> {
    let last = ev.last()?;
    let mut scrolls = ev.iter().filter(|s| s.kind == Kind::Scroll);
    let first = scrolls.next()?;
    let (mut down, mut up, mut prev) = (0i32, 0i32, first);
    for s in scrolls {
        let d = s.y as i32 - prev.y as i32;
        if d > 0 {
            down += d;
        } else {
            up -= d;
        }
        prev = s;
    }
    let duration = prev.t_ms.saturating_sub(first.t_ms);
    let turns = reversals(ev.iter().filter(|s| s.kind == Kind::Scroll), |s| s.y as i32, SCROLL_SWING_PX);
    let pace = down as f32 * 1000.0 / duration.max(1) as f32;
    if duration < p.min_reading_ms || turns > 1 || up * 5 > down || !(20.0..=600.0).contains(&pace) {
        return None;
    }
    let section = current_section(ev);
    let content = if classes.get(section) == SectionClass::Content { 0.8 } else { 0.0 };
    let z = (duration as f32 / 5000.0).min(2.0) + content - 0.8 * f32::from(turns) - 1.2;
    let features = Features { reversals: turns, dwell_ms: duration, peak_speed: pace, ..Features::default() };
    Some(detection(Emotion::Engaged, last, section, z, features))
}

/// Runs the long-window detector for `emotion` over `ev` (what the server's confirm step
/// calls). `None` for `rage`, which reads the raw window ([`crate::detect::detect_rage`]).
pub fn detect(emotion: Emotion, ev: &[Sample], p: &TraceParams, classes: &SectionClasses) -> Option<Detection> {
    match emotion {
        Emotion::Rage => None,
        Emotion::Frustration => detect_frustration(ev, p),
        Emotion::Confusion => detect_confusion(ev, p),
        Emotion::Hesitation => detect_hesitation(ev, p, classes),
        Emotion::Abandonment => detect_abandonment(ev, classes),
        Emotion::Engaged => detect_engaged(ev, p, classes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: u32, kind: Kind, x: i16, y: i16, section: u8) -> Sample {
        Sample { t_ms: t, x, y, kind, section }
    }
    fn click(t: u32, x: i16, y: i16) -> Sample {
        s(t, Kind::Click, x, y, 1)
    }
    fn resp(t: u32) -> Sample {
        s(t, Kind::Response, 0, 0, 0)
    }
    /// An answer whose content hashes to `sig`.
    fn answer(t: u32, sig: i16) -> Sample {
        s(t, Kind::Response, sig, 0, 0)
    }
    fn mv(t: u32, x: i16, y: i16, section: u8) -> Sample {
        s(t, Kind::Move, x, y, section)
    }
    fn scroll(t: u32, y: i16) -> Sample {
        s(t, Kind::Scroll, 0, y, 0)
    }

    #[test]
    fn classes_come_from_section_names() {
        assert_eq!(classify(b"Pricing"), SectionClass::Decision);
        assert_eq!(classify(b"checkout-form"), SectionClass::Checkout);
        assert_eq!(classify(b"blog-article"), SectionClass::Content);
        assert_eq!(classify(b"hero"), SectionClass::Other);
        let mut c = SectionClasses::new();
        c.set(200, SectionClass::Content);
        c.set(3, SectionClass::Checkout);
        c.set(3, SectionClass::Decision);
        assert_eq!((c.get(200), c.get(3), c.get(4)), (SectionClass::Content, SectionClass::Decision, SectionClass::Other));
    }

    #[test]
    fn reversals_need_a_wide_enough_swing() {
        let ys = [0, 100, 200, 120, 20, 110, 200, 190, 195];
        let ss: heapless::Vec<Sample, 16> = ys.iter().enumerate().map(|(i, &y)| scroll(i as u32 * 100, y)).collect();
        // 0→200 down, 200→20 up, 20→200 down, 200→190 (10 px) up, then down: two reversals count.
        assert_eq!(reversals(ss.iter(), |s| s.y as i32, 80), 2);
    }

    #[test]
    fn dead_clicks_on_several_spots_are_frustration_and_answered_ones_are_not() {
        let dead = [
            click(0, 100, 100),
            mv(500, 300, 100, 1),
            click(1000, 400, 100),
            mv(1500, 600, 300, 1),
            click(2000, 600, 300),
            mv(3000, 610, 300, 1),
        ];
        let d = detect_frustration(&dead, &TraceParams::DEFAULT).expect("frustration");
        assert_eq!((d.features.dead_clicks, d.t_ms), (3, 3000));
        // Before the last click's answer window has passed, it is not known dead.
        assert_eq!(detect_frustration(&dead[..5], &TraceParams::DEFAULT).map(|d| d.features.dead_clicks), Some(2));
        assert!(d.confidence > 0.5, "{}", d.confidence);
        let answered =
            [click(0, 100, 100), resp(20), click(1000, 400, 100), resp(1030), click(2000, 600, 300), resp(2050), mv(3000, 610, 300, 1)];
        assert_eq!(detect_frustration(&answered, &TraceParams::DEFAULT), None);
        let unknown = TraceParams { answers: false, ..TraceParams::DEFAULT };
        assert_eq!(detect_frustration(&dead, &unknown), None);
    }

    #[test]
    fn a_burst_is_one_episode_and_a_failing_submit_repeats() {
        let burst = [click(0, 100, 100), click(150, 101, 100), click(300, 100, 101), click(450, 100, 100), mv(900, 120, 100, 1)];
        assert_eq!(detect_frustration(&burst, &TraceParams::DEFAULT), None);
        // Presses scattered over one wide button, 500 ms apart: 85-102 px from one press to the
        // next, but each within 54 px of the first: one episode, no frustration. The same
        // presses 1.2 s apart are five dead clicks.
        let spots = [(500, 300), (545, 330), (455, 270), (540, 270), (460, 330)];
        let presses = |gap: u32| -> heapless::Vec<Sample, 8> {
            let mut ev: heapless::Vec<Sample, 8> = spots.iter().zip(0u32..).map(|(&(x, y), i)| click(i * gap, x, y)).collect();
            ev.push(mv(5 * gap + 1000, 500, 300, 1)).unwrap();
            ev
        };
        assert_eq!(detect_frustration(&presses(500), &TraceParams::DEFAULT), None);
        assert_eq!(detect_frustration(&presses(1200), &TraceParams::DEFAULT).map(|d| d.features.dead_clicks), Some(5));
        // The same error each time: a failing submit.
        let submits = [click(0, 100, 100), answer(40, 77), click(1500, 102, 100), answer(1540, 77), click(3200, 99, 101), answer(3230, 77)];
        let d = detect_frustration(&submits, &TraceParams::DEFAULT).expect("repeated failing submit");
        assert_eq!(d.features.reversals, 2);
        assert!(d.confidence >= 0.85, "three presses, the same error: intervention grade, {}", d.confidence);
        let twice = detect_frustration(&submits[..4], &TraceParams::DEFAULT).map_or(0.0, |d| d.confidence);
        assert!(twice < 0.5, "pressed again once: not yet, {twice}");
        // A date picker's arrow: the same control, another month each time.
        let arrow = [click(0, 37, 83), answer(1, 11), click(1100, 37, 87), answer(1101, 12), click(2200, 34, 85), answer(2201, 13)];
        assert_eq!(detect_frustration(&arrow, &TraceParams::DEFAULT), None);
        // A recording that does not say what the page answered (MiniWoB++, the event CSV
        // without signatures): a failing submit cannot be told from an arrow, nothing claimed.
        let unknown = [click(0, 100, 100), resp(40), click(1500, 102, 100), resp(1540), click(3200, 99, 101), resp(3230)];
        assert_eq!(detect_frustration(&unknown, &TraceParams::DEFAULT), None);
        // A column of checkboxes, each answering alike (the same kind of tick), 30 px apart:
        // different controls.
        let column: heapless::Vec<Sample, 16> =
            (0..6u32).flat_map(|i| [click(i * 1500, 40, 60 + 30 * i as i16), answer(i * 1500 + 1, 5)]).collect();
        assert_eq!(detect_frustration(&column, &TraceParams::DEFAULT), None);
        // Triple-clicks selecting paragraphs: the third press selects nothing new, so the third
        // click goes unanswered; it is part of the gesture, not a dead click.
        let mut triples: heapless::Vec<Sample, 32> = heapless::Vec::new();
        for (k, y) in [100i16, 300, 500].into_iter().enumerate() {
            let t = k as u32 * 2000;
            triples
                .extend_from_slice(&[click(t, 200, y), resp(t + 90), click(t + 100, 200, y), resp(t + 190), click(t + 200, 200, y)])
                .unwrap();
        }
        triples.push(mv(6000, 220, 520, 1)).unwrap();
        assert_eq!(detect_frustration(&triples, &TraceParams::DEFAULT), None);
        // The same, as the loader writes it: each paragraph is the gesture's own answer (the
        // selection, y = its presses), and after a scroll the next paragraph is under the same
        // spot of the screen. The same selection signature each time is no failing control.
        let gesture = |t: u32, n: i16| s(t, Kind::Response, 26270, n, 0);
        let mut spot: heapless::Vec<Sample, 32> = heapless::Vec::new();
        for k in 0..3u32 {
            let t = k * 2900;
            let presses =
                [click(t, 660, 620), click(t + 160, 660, 620), gesture(t + 160, 2), click(t + 330, 660, 620), gesture(t + 330, 3)];
            spot.extend_from_slice(&presses).unwrap();
        }
        spot.push(mv(9000, 700, 600, 1)).unwrap();
        assert_eq!(detect_frustration(&spot, &TraceParams::DEFAULT), None);
    }

    #[test]
    fn scroll_ping_pong_is_confusion_and_steady_reading_is_engaged() {
        let mut ping: heapless::Vec<Sample, 64> = heapless::Vec::new();
        for i in 0..40u32 {
            // Down 600 px and back up, every second.
            let phase = i % 10;
            let y = if phase < 5 { phase * 120 } else { (10 - phase) * 120 };
            ping.push(scroll(i * 100, y as i16)).unwrap();
        }
        let c = detect_confusion(&ping, &TraceParams::DEFAULT).expect("confusion");
        assert!(c.features.reversals >= 6, "{:?}", c.features);
        assert_eq!(detect_engaged(&ping, &TraceParams::DEFAULT, &SectionClasses::new()), None);

        let read: heapless::Vec<Sample, 64> = (0..30u32).map(|i| scroll(i * 250, (i * 30) as i16)).collect();
        let e = detect_engaged(&read, &TraceParams::DEFAULT, &SectionClasses::new()).expect("engaged");
        assert_eq!(e.features.dwell_ms, 29 * 250);
        assert_eq!(detect_confusion(&read, &TraceParams::DEFAULT), None);
    }

    #[test]
    fn thrashing_after_a_dead_click_counts_and_after_an_answered_one_does_not() {
        let mut ev: heapless::Vec<Sample, 64> = heapless::Vec::new();
        ev.push(click(0, 500, 300)).unwrap();
        for i in 0..30u32 {
            ev.push(mv(400 + i * 120, if i % 2 == 0 { 380 } else { 520 }, 300, 1)).unwrap();
        }
        let d = detect_confusion(&ev, &TraceParams::DEFAULT).expect("thrashing after a dead click");
        assert!(d.confidence >= 0.85, "{}", d.confidence);
        // Without the page's answers the click may have done something: acting, no thrash.
        assert_eq!(detect_confusion(&ev, &TraceParams { answers: false, ..TraceParams::DEFAULT }), None);
        ev.insert(1, resp(30)).unwrap();
        assert_eq!(detect_confusion(&ev, &TraceParams::DEFAULT), None, "the click was answered: a purpose");
        // The same to-and-fro with no click at all (a reader's idle pointer moves like this):
        // recorded, below the intervention bar.
        let idle: heapless::Vec<Sample, 64> = ev.iter().filter(|s| s.kind == Kind::Move).copied().collect();
        let d = detect_confusion(&idle, &TraceParams::DEFAULT).expect("thrashing is still seen");
        assert!(d.confidence >= 0.5 && d.confidence <= SCROLL_ONLY_CAP, "{}", d.confidence);
        assert_eq!(d.features.dead_clicks, 0);
        // A dead click long before (6 s) the to-and-fro is not what the visitor reacts to.
        let mut late: heapless::Vec<Sample, 64> = heapless::Vec::new();
        late.push(click(0, 500, 300)).unwrap();
        for i in 0..40u32 {
            late.push(mv(6000 + i * 120, if i % 2 == 0 { 380 } else { 520 }, 300, 1)).unwrap();
        }
        let d = detect_confusion(&late, &TraceParams::DEFAULT).expect("thrashing is still seen");
        assert!(d.confidence <= SCROLL_ONLY_CAP, "{}", d.confidence);
        // Slow back and forth after a dead click (a swing every 400 ms, eight reversals in the
        // window, the trace keeping each turn and the move half-way): the failed action weighs
        // in the score, and it reaches the bar.
        let mut slow: heapless::Vec<Sample, 64> = heapless::Vec::new();
        slow.push(click(0, 500, 300)).unwrap();
        for i in 0..10u32 {
            let (x, y) = (if i % 2 == 0 { 380 } else { 520 }, 300 + 10 * (i % 3) as i16);
            if i > 0 {
                slow.push(mv(400 + i * 400, 450, y, 1)).unwrap();
            }
            slow.push(mv(600 + i * 400, x, y, 1)).unwrap();
        }
        let d = detect_confusion(&slow, &TraceParams::DEFAULT).expect("slow thrashing after a dead click");
        assert_eq!((d.features.reversals, d.features.dead_clicks), (8, 1));
        assert!(d.confidence >= 0.85, "{}", d.confidence);
        let idle = detect_confusion(&slow[1..], &TraceParams::DEFAULT).expect("the same motion with no click");
        assert!((d.features.score - idle.features.score - 1.0).abs() < 1e-4, "a failed action weighs 1.0");
        assert!(idle.confidence <= SCROLL_ONLY_CAP, "{}", idle.confidence);
        // A long thrash outlives its window, not its cause: a dead click, a pause of `pause` ms,
        // then 9.6 s of to-and-fro, the click well outside the 5 s window at its end.
        let long = |pause: u32, rest_at: Option<u32>| {
            let mut ev: heapless::Vec<Sample, 128> = heapless::Vec::new();
            ev.push(click(0, 500, 300)).unwrap();
            let mut t = pause;
            for i in 0..80u32 {
                if rest_at == Some(i) {
                    t += THRASH_REST_MS;
                }
                ev.push(mv(t, if i % 2 == 0 { 380 } else { 520 }, 300, 1)).unwrap();
                t += 120;
            }
            detect_confusion(&ev, &TraceParams::DEFAULT).expect("thrashing is seen")
        };
        let d = long(1500, None);
        assert!(d.confidence >= 0.85 && d.features.dead_clicks == 1, "{} {}", d.confidence, d.features.dead_clicks);
        // Begun more than ACTED_MS after the click, or broken by a rest since: not its reaction.
        for d in [long(ACTED_MS + 200, None), long(1000, Some(20))] {
            assert!(d.confidence <= SCROLL_ONLY_CAP && d.features.dead_clicks == 0, "{}", d.confidence);
        }
        // Slow, wide flicks make few reversals: six swings of 400 px after a dead click travel
        // 2,800 px in vain and reach the bar; the same six swings over 60 px do not (a swing
        // every 400 ms, the trace keeping each turn and the move half-way).
        let swings = |reach: i16| {
            let mut ev: heapless::Vec<Sample, 16> = heapless::Vec::new();
            ev.push(click(0, 100, 300)).unwrap();
            for i in 0..8u32 {
                if i > 0 {
                    ev.push(mv(100 + i * 400, 100 + reach / 2, 300, 1)).unwrap();
                }
                ev.push(mv(300 + i * 400, if i % 2 == 0 { 100 } else { 100 + reach }, 300, 1)).unwrap();
            }
            detect_confusion(&ev, &TraceParams::DEFAULT).expect("back and forth after a dead click")
        };
        let (wide, narrow) = (swings(400), swings(60));
        assert_eq!((wide.features.reversals, narrow.features.reversals), (6, 6));
        assert!(wide.confidence >= 0.85 && narrow.confidence < 0.85, "{} {}", wide.confidence, narrow.confidence);
        // The way *to* a press is reaching, not thrashing: to-and-fro, then a dead click, then
        // one straight reach on (as `dead_clicks` visitors go from one dead control to the next).
        let mut before: heapless::Vec<Sample, 64> = heapless::Vec::new();
        for i in 0..24u32 {
            before.push(mv(i * 120, if i % 2 == 0 { 380 } else { 520 }, 300, 1)).unwrap();
        }
        before.push(click(2900, 520, 300)).unwrap();
        for i in 1..=14u32 {
            before.push(mv(2900 + i * 100, 520 + 30 * i as i16, 300, 1)).unwrap();
        }
        assert_eq!(detect_confusion(&before, &TraceParams::DEFAULT), None, "no back and forth after the click");
    }

    #[test]
    fn swinging_between_plans_is_hesitation_only_where_people_decide() {
        let mut ev: heapless::Vec<Sample, 64> = heapless::Vec::new();
        for i in 0..16u32 {
            let x = if (i / 2) % 2 == 0 { 300 } else { 700 };
            ev.push(mv(i * 400, x, 400, 1)).unwrap();
        }
        let mut classes = SectionClasses::new();
        assert_eq!(detect_hesitation(&ev, &TraceParams::DEFAULT, &classes), None, "not where people decide");
        classes.set(1, classify(b"blog-article"));
        assert_eq!(detect_hesitation(&ev, &TraceParams::DEFAULT, &classes), None, "reading");
        classes.set(1, classify(b"pricing"));
        let pricing = detect_hesitation(&ev, &TraceParams::DEFAULT, &classes).expect("hesitation");
        assert!(pricing.confidence > 0.5, "{}", pricing.confidence);
        assert!(pricing.features.reversals >= 3);
        // Back and forth between two plans, resting 1 s at each, against a zigzag tour of five
        // distinct places (as a visitor reviews a checkout's fields): the same three swings, but
        // only going back and forth comes back to where it rested, three times.
        let rests = |points: [(i16, i16); 5]| {
            let mut ev: heapless::Vec<Sample, 16> = heapless::Vec::new();
            for (k, &(x, y)) in points.iter().enumerate() {
                let t = k as u32 * 1200;
                ev.push(mv(t, x, y, 1)).unwrap();
                ev.push(mv(t + 1000, x + 2, y, 1)).unwrap();
                if let Some(&(nx, ny)) = points.get(k + 1) {
                    ev.push(mv(t + 1100, (x + nx) / 2, (y + ny) / 2, 1)).unwrap();
                }
            }
            detect_hesitation(&ev, &TraceParams::DEFAULT, &classes).expect("swings")
        };
        let back = rests([(300, 300), (700, 300), (300, 300), (700, 300), (300, 300)]);
        let tour = rests([(300, 300), (700, 300), (320, 450), (720, 450), (340, 600)]);
        assert_eq!((back.features.reversals, tour.features.reversals), (3, 3));
        assert!((back.features.score - tour.features.score - 3.0 * 0.8).abs() < 1e-3, "{} {}", back.features.score, tour.features.score);
        assert!(back.confidence > 0.5 && tour.confidence < 0.5, "{} {}", back.confidence, tour.confidence);
    }

    /// The moves the trace keeps of a pointer that rests 200 ms at each of `rests` (where it
    /// rested, and where it set off 1 px on), 100 ms between rests, and dwells 1.6 s at the last.
    fn hops_through(rests: &[(i16, i16)]) -> heapless::Vec<Sample, 32> {
        let mut ev = heapless::Vec::new();
        let mut t = 0;
        for &(x, y) in rests {
            ev.push(mv(t, x, y, 1)).unwrap();
            ev.push(mv(t + 200, x + 1, y, 1)).unwrap();
            t += 300;
        }
        let &(x, y) = rests.last().unwrap();
        ev.push(mv(t + 1300, x + 3, y, 1)).unwrap();
        ev
    }

    #[test]
    fn a_slow_approach_comes_to_rest_in_short_hops() {
        let slow = [(300, 300), (340, 300), (380, 312), (430, 300), (455, 306)];
        assert_eq!(approach_hops(&hops_through(&slow)), 4);
        // One reach to the same spot; a pointer drifting at rest; a reach, then two hops.
        assert_eq!(approach_hops(&hops_through(&[(300, 300), (455, 306)])), 0);
        assert_eq!(approach_hops(&hops_through(&[(300, 300), (306, 302), (300, 309), (304, 300)])), 0);
        assert_eq!(approach_hops(&hops_through(&[(100, 300), (380, 312), (430, 300), (455, 306)])), 2);
        // A press ends the chain: what came before it was reaching.
        let mut pressed = hops_through(&slow);
        pressed.insert(5, click(650, 380, 312)).unwrap();
        assert_eq!(approach_hops(&pressed), 2);
        // On to a rest far from the last: a reach, and a chain begins again there.
        let mut away = hops_through(&slow);
        away.push(mv(3000, 700, 306, 1)).unwrap();
        away.push(mv(3200, 701, 306, 1)).unwrap();
        assert_eq!(approach_hops(&away), 0);

        // In a decision section, the hops beyond two add to hesitation's score, one each.
        let mut classes = SectionClasses::new();
        classes.set(1, classify(b"pricing"));
        let approach = detect_hesitation(&hops_through(&slow), &TraceParams::DEFAULT, &classes).expect("a dwell");
        let reach = detect_hesitation(&hops_through(&[(300, 300), (455, 306)]), &TraceParams::DEFAULT, &classes).expect("a dwell");
        assert_eq!((approach.features.hops, reach.features.hops), (4, 0));
        assert!(
            (approach.features.score - reach.features.score - 2.0).abs() < 1e-3,
            "{} {}",
            approach.features.score,
            reach.features.score
        );
        assert!(approach.confidence > reach.confidence, "{} {}", approach.confidence, reach.confidence);
    }

    #[test]
    fn a_fast_exit_through_the_top_is_abandonment() {
        let mut classes = SectionClasses::new();
        classes.set(2, SectionClass::Checkout);
        let exit = [mv(0, 500, 500, 2), mv(100, 505, 300, 2), mv(200, 510, 60, 2), mv(250, 512, 5, 2), s(260, Kind::Leave, 0, 0, 0)];
        let d = detect_abandonment(&exit, &classes).expect("abandonment");
        assert!(d.features.peak_speed > 1000.0, "{:?}", d.features);
        assert!(d.confidence >= 0.85, "{}", d.confidence);
        // A slow exit through the top edge of a checkout is leaving too.
        let slow = [mv(0, 500, 300, 2), mv(400, 505, 200, 2), mv(800, 510, 100, 2), mv(1200, 512, 8, 2), s(1210, Kind::Leave, 0, 0, 0)];
        assert!(detect_abandonment(&slow, &classes).unwrap().confidence >= 0.85);
        // Outside checkout, even a fast exit at the top stays below the bar.
        assert!(detect_abandonment(&exit, &SectionClasses::new()).unwrap().confidence < 0.85);
        let sideways = [mv(0, 500, 500, 0), mv(200, 700, 505, 0), mv(400, 1270, 510, 0), s(420, Kind::Leave, 0, 0, 0)];
        assert!(detect_abandonment(&sideways, &SectionClasses::new()).unwrap().confidence < 0.5);
        // A flick so fast that its last sampled move is 130 px below the edge: the leave's own
        // y (above the viewport) says it went out through the top. Through the right edge of
        // the checkout, it stays below the bar.
        let flick = [mv(0, 500, 500, 2), mv(33, 505, 330, 2), mv(66, 510, 130, 2), s(80, Kind::Leave, 512, -40, 0)];
        assert!(detect_abandonment(&flick, &classes).unwrap().confidence >= 0.85);
        let unknown = [flick[0], flick[1], flick[2], s(80, Kind::Leave, 0, 0, 0)];
        assert!(detect_abandonment(&unknown, &classes).unwrap().confidence < 0.85, "no exit point recorded: the last move decides");
        let right = [mv(0, 500, 500, 2), mv(100, 900, 450, 2), mv(200, 1270, 400, 2), s(210, Kind::Leave, 1300, 395, 0)];
        assert!(detect_abandonment(&right, &classes).unwrap().confidence < 0.85);
        assert_eq!(detect_abandonment(&exit[..4], &classes), None);
    }
}
