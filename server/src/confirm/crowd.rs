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
//! visitor. Each server instance learns from the sessions it holds.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use shared_physics::crowd::{cell, Click, Crowd, Norm};
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
    clicks: Vec<Click>,
    /// Time of the newest click noted (ms, page clock): overlapping evidence is noted once.
    newest_click_ms: Option<u32>,
    /// Last time the session was heard from (s).
    last_s: u32,
}

#[derive(Default)]
struct Inner {
    tenants: HashMap<String, Box<Crowd<CELLS_PER_TENANT>>>,
    pending: HashMap<(String, u64), Pending>,
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
        // Sessions idle long enough are over: learn them (never the one being judged, which
        // was just heard from).
        let over: Vec<(String, u64)> = inner
            .pending
            .iter()
            .filter(|(k, p)| now_s.saturating_sub(p.last_s) >= SESSION_IDLE_SECS && !(k.0 == tenant && k.1 == session))
            .map(|(k, _)| k.clone())
            .collect();
        for k in over {
            learn(inner, k);
        }
        let page = page_key(page);
        let judgement = match d.emotion {
            Emotion::Rage | Emotion::Frustration => {
                let at = evidence.iter().rev().find(|s| s.kind == Kind::Click && s.t_ms <= d.t_ms);
                let norm = at.zip(inner.tenants.get(tenant)).map(|(c, crowd)| crowd.norm(now_s, cell(0, page, c.x, c.y)));
                match norm {
                    Some(n) if n.broken() => Judgement::BrokenControl(n),
                    _ => Judgement::Visitor,
                }
            }
            _ => Judgement::Visitor,
        };
        // Note this session's clicks for later.
        let key = (tenant.to_string(), session);
        if !inner.pending.contains_key(&key) && inner.pending.len() >= MAX_PENDING_SESSIONS {
            if let Some(oldest) = inner.pending.iter().min_by_key(|(_, p)| p.last_s).map(|(k, _)| k.clone()) {
                learn(inner, oldest);
            }
        }
        let p = inner.pending.entry(key).or_insert(Pending { page, clicks: Vec::new(), newest_click_ms: None, last_s: now_s });
        p.last_s = now_s;
        for (t, c) in clicks(evidence, p.newest_click_ms) {
            if p.clicks.len() < MAX_CLICKS_PER_SESSION {
                p.clicks.push(c);
            }
            p.newest_click_ms = Some(p.newest_click_ms.map_or(t, |n| n.max(t)));
        }
        judgement
    }
}

fn learn(inner: &mut Inner, key: (String, u64)) {
    if let Some(p) = inner.pending.remove(&key) {
        let crowd = inner.tenants.entry(key.0).or_insert_with(|| Box::new(Crowd::new(HALF_LIFE_SECS)));
        crowd.learn(p.last_s, 0, p.page, &p.clicks);
    }
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
