//! Priority by value: under overload, the detections of identified visitors of high-value
//! accounts are confirmed, decided and paged before the others.
//!
//! The detection path ([`super::Conn`] takes a turn before its `detection`) runs in turns of a [`Gate`]: at most
//! `permits` detections are in it at once (one per core by default, [`DETECTIONS`]). A detection
//! that finds every turn taken waits in one of two lanes: [`Lane::High`] for a visitor
//! identified by a token whose account is worth at least the tenant's critical value (the bar
//! that pages a person, [`super::Settings::critical_value_cents`]), [`Lane::Low`] for everyone
//! else. A turn given back goes to the oldest high-lane waiter first, and only when that lane is
//! empty to the oldest low-lane waiter. Each lane is first come, first served.
//!
//! Bounded: a connection waits for its detection's turn before it reads its next frame, so a
//! lane never holds more than one waiter per open socket ([`super::MAX_CONNECTIONS`]), and the
//! waiting is backpressure on that socket alone. A waiter that goes away (its socket closed)
//! leaves its lane; a turn granted to it is passed on, never lost.
//!
//! When the box is not saturated no detection ever waits and the gate costs one uncontended
//! lock per detection.

use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex};

use tokio::sync::Notify;

use crate::identity::Visitor;

/// Which lane a detection waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// An identified visitor of an account worth at least the critical value.
    High,
    /// Anyone else.
    Low,
}

impl Lane {
    /// The lane of a session's detection: [`Lane::High`] when its visitor is identified and
    /// their account (its value now, from the identity cache, else as of the `Hello`) is worth at
    /// least `critical_value_cents`.
    pub fn of(visitor: Option<&Visitor>, account_value_now: Option<i64>, critical_value_cents: i64) -> Lane {
        let value = account_value_now.or_else(|| visitor.and_then(|v| v.account.as_ref()).map(|a| a.value_cents));
        match (visitor, value) {
            (Some(_), Some(v)) if v >= critical_value_cents => Lane::High,
            _ => Lane::Low,
        }
    }
}

/// The lane of a live session's detections: its visitor (from its last `Hello`) and their
/// account's value now.
pub(super) fn lane(app: &super::Hub, tenant: &str, state: &Mutex<super::SessionState>) -> Lane {
    let (visitor, account) = {
        let st = state.lock().expect("session lock");
        (st.visitor.clone(), st.visitor.as_ref().and_then(|v| v.claims.account.clone()))
    };
    let value_now = account.and_then(|a| app.people.cache.with_account(tenant, &a, |a| a.value_cents));
    Lane::of(visitor.as_ref(), value_now, app.settings.critical_value_cents)
}

/// The detection path's gate of this instance: one turn per core.
pub static DETECTIONS: LazyLock<Arc<Gate>> = LazyLock::new(|| Gate::new(std::thread::available_parallelism().map_or(2, |n| n.get())));

/// A waiter's place in a lane.
#[derive(Default)]
struct Waiter {
    /// Set (under the gate's lock) when a turn is handed to it.
    granted: std::sync::atomic::AtomicBool,
    wake: Notify,
}

#[derive(Default)]
struct Lanes {
    free: usize,
    high: VecDeque<Arc<Waiter>>,
    low: VecDeque<Arc<Waiter>>,
}

impl Lanes {
    /// Hands a returned turn to the next waiter (high lane first), or keeps it free.
    fn pass_on(&mut self) {
        match self.high.pop_front().or_else(|| self.low.pop_front()) {
            Some(w) => {
                w.granted.store(true, std::sync::atomic::Ordering::Release);
                w.wake.notify_one();
            }
            None => self.free += 1,
        }
    }
}

/// Turns of the detection path in two lanes (module docs).
pub struct Gate {
    lanes: Mutex<Lanes>,
}

/// A detection's turn; given back (to the next waiter) when dropped.
#[must_use = "the turn is given back when dropped"]
pub struct Turn {
    gate: Arc<Gate>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.gate.lanes.lock().expect("gate lock").pass_on();
    }
}

/// A wait in a lane that goes away (the future dropped) before or after its turn came.
struct Waiting<'a> {
    gate: &'a Arc<Gate>,
    waiter: Option<Arc<Waiter>>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let Some(w) = self.waiter.take() else { return };
        let mut lanes = self.gate.lanes.lock().expect("gate lock");
        if w.granted.load(std::sync::atomic::Ordering::Acquire) {
            // Its turn came but nobody will take it: the next waiter gets it.
            lanes.pass_on();
        } else {
            lanes.high.retain(|x| !Arc::ptr_eq(x, &w));
            lanes.low.retain(|x| !Arc::ptr_eq(x, &w));
        }
    }
}

impl Gate {
    /// A gate of `permits` turns (at least one).
    pub fn new(permits: usize) -> Arc<Gate> {
        Arc::new(Gate { lanes: Mutex::new(Lanes { free: permits.max(1), ..Lanes::default() }) })
    }

    /// Waits for a turn in `lane`.
    pub async fn turn(self: &Arc<Self>, lane: Lane) -> Turn {
        let waiter = {
            let mut lanes = self.lanes.lock().expect("gate lock");
            if lanes.free > 0 {
                lanes.free -= 1;
                return Turn { gate: self.clone() };
            }
            let w = Arc::new(Waiter::default());
            match lane {
                Lane::High => lanes.high.push_back(w.clone()),
                Lane::Low => lanes.low.push_back(w.clone()),
            }
            w
        };
        let mut waiting = Waiting { gate: self, waiter: Some(waiter.clone()) };
        while !waiter.granted.load(std::sync::atomic::Ordering::Acquire) {
            waiter.wake.notified().await;
        }
        waiting.waiter = None;
        Turn { gate: self.clone() }
    }

    /// Detections waiting, `(high, low)`.
    pub fn waiting(&self) -> (usize, usize) {
        let lanes = self.lanes.lock().expect("gate lock");
        (lanes.high.len(), lanes.low.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spawns a detection that waits for its turn in `lane`, notes `name` when it has it, and
    /// gives the turn back; returns once it is queued.
    async fn queue(gate: &Arc<Gate>, lane: Lane, name: &'static str, order: &Arc<Mutex<Vec<&'static str>>>) -> tokio::task::JoinHandle<()> {
        let before = gate.waiting();
        let (g, o) = (gate.clone(), order.clone());
        let task = tokio::spawn(async move {
            let _turn = g.turn(lane).await;
            o.lock().expect("order lock").push(name);
        });
        while gate.waiting() == before {
            tokio::task::yield_now().await;
        }
        task
    }

    #[tokio::test(flavor = "current_thread")]
    async fn high_value_detections_waiting_behind_others_go_first() {
        let gate = Gate::new(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let running = gate.turn(Lane::Low).await;
        let mut tasks = Vec::new();
        for (lane, name) in
            [(Lane::Low, "low 1"), (Lane::Low, "low 2"), (Lane::High, "high 1"), (Lane::Low, "low 3"), (Lane::High, "high 2")]
        {
            tasks.push(queue(&gate, lane, name, &order).await);
        }
        assert_eq!(gate.waiting(), (2, 3));
        drop(running);
        for t in tasks {
            t.await.expect("a waiter finished");
        }
        assert_eq!(*order.lock().expect("order lock"), ["high 1", "high 2", "low 1", "low 2", "low 3"]);
        assert_eq!(gate.waiting(), (0, 0));
        // Every turn came back: one is free again.
        let _again = gate.turn(Lane::Low).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_turn_granted_to_a_waiter_that_went_away_is_passed_on() {
        let gate = Gate::new(1);
        let running = gate.turn(Lane::Low).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        // A high-value waiter whose socket closes after its turn was granted, before it ran.
        let gone = tokio::spawn({
            let g = gate.clone();
            async move {
                let _turn = g.turn(Lane::High).await;
                unreachable!("aborted before it runs");
            }
        });
        while gate.waiting() == (0, 0) {
            tokio::task::yield_now().await;
        }
        let next = queue(&gate, Lane::Low, "next", &order).await;
        drop(running);
        gone.abort();
        let _ = gone.await;
        next.await.expect("the next waiter finished");
        assert_eq!(*order.lock().expect("order lock"), ["next"]);
        assert_eq!(gate.waiting(), (0, 0));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_waiter_that_goes_away_before_its_turn_leaves_its_lane() {
        let gate = Gate::new(1);
        let running = gate.turn(Lane::Low).await;
        let gone = tokio::spawn({
            let g = gate.clone();
            async move {
                let _turn = g.turn(Lane::Low).await;
            }
        });
        while gate.waiting() == (0, 0) {
            tokio::task::yield_now().await;
        }
        gone.abort();
        let _ = gone.await;
        assert_eq!(gate.waiting(), (0, 0));
        drop(running);
        let _t = gate.turn(Lane::High).await;
    }

    #[test]
    fn the_lane_is_high_for_an_identified_visitor_of_an_account_at_the_critical_value() {
        use crate::identity::jwt::VisitorClaims;
        let visitor = |value: Option<i64>| Visitor {
            claims: serde_json::from_value::<VisitorClaims>(serde_json::json!({"sub": "u_1", "exp": 1})).expect("claims"),
            account: value.map(|v| crate::records::Account { account: "a".into(), name: "A".into(), value_cents: v, recent_cents: 0 }),
        };
        let bar = 1_000_000;
        assert_eq!(Lane::of(Some(&visitor(Some(bar))), None, bar), Lane::High);
        assert_eq!(Lane::of(Some(&visitor(Some(bar - 1))), None, bar), Lane::Low);
        // The account's value now wins over the value at hello.
        assert_eq!(Lane::of(Some(&visitor(Some(bar - 1))), Some(bar), bar), Lane::High);
        assert_eq!(Lane::of(Some(&visitor(None)), None, bar), Lane::Low);
        // Anonymous visitors are never high, whatever value is claimed.
        assert_eq!(Lane::of(None, Some(bar * 10), bar), Lane::Low);
    }
}
