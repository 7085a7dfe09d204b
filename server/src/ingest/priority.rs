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
//!
//! The gate orders detections that meet at it, but under saturation they rarely do: the wait is
//! earlier, in the runtime's queue of sockets with a frame to read, where every socket is served
//! in turn whatever its visitor is worth. The [`Pacer`] moves that wait out of the queue for the
//! low lane. A probe task asks to wake every [`PROBE_EVERY`] and measures how late it runs (the
//! runtime's *lag*: what any frame waits before it is read) and how many durable events wait
//! for the store or the bus (the *backlog*: what every `Ack` waits behind). While the smoothed
//! lag is above [`OVERLOAD_LAG`], or the backlog above [`OVERLOAD_BACKLOG`], the instance is
//! *paced*: a low-lane socket reads its next frame only with a
//! token, handed out at a rate that falls while either stays high and rises once both are low
//! again (at least [`MIN_LOW_RATE`] a second: the low lane is slowed, never stopped). A socket
//! waiting for a token is not in the runtime's queue, its frames wait in the kernel's socket
//! buffer and the page's unacknowledged queue (backpressure, nothing dropped), so the queue stays
//! short and a high-lane frame is read within about [`OVERLOAD_LAG`], and its events wait behind
//! at most about [`OVERLOAD_BACKLOG`] others. Once demand has stayed below the pace with both
//! low for [`CALM_FOR`], pacing ends and every waiter goes on.
//! The lag and the pace are in `/metrics` (`siq_runtime_lag_seconds`, `siq_low_lane_pace`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

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

/// How often the pacer's probe asks to run.
pub const PROBE_EVERY: Duration = Duration::from_millis(10);
/// The instance is overloaded while the probe's smoothed lag is above this: about twice what
/// the operating system's own scheduling adds on a busy 2-core box.
pub const OVERLOAD_LAG: Duration = Duration::from_millis(20);
/// The instance is overloaded while more durable events than this wait for the store or the
/// bus (about a quarter of a second of 20,000 frames a second with their events).
pub const OVERLOAD_BACKLOG: usize = 10_000;
/// The least rate the low lane is paced to, frames a second.
pub const MIN_LOW_RATE: f64 = 500.0;
/// Pacing ends after demand has stayed below the pace, with a low lag, this long.
pub const CALM_FOR: Duration = Duration::from_secs(1);
/// Tokens never pile up past this many seconds of the pace.
const BURST: f64 = 0.05;
/// Tokens handed out at once when pacing ends, so that every waiter goes on.
const RELEASE_ALL: usize = 1 << 24;

/// Paces the low lane's reads while the runtime lags (module docs).
pub struct Pacer {
    tokens: Arc<Semaphore>,
    paced: AtomicBool,
    /// Frames read since the last probe (both lanes): the demand.
    frames: AtomicU64,
    /// Smoothed lag, µs (for `/metrics`).
    lag_us: AtomicU64,
    /// The pace, frames a second; 0 when not paced (for `/metrics`).
    pace: AtomicU64,
    /// Low-lane reads that waited for a token.
    waited: AtomicU64,
    control: Mutex<Control>,
}

#[derive(Default)]
struct Control {
    /// Smoothed lag, ms.
    lag_ms: f64,
    /// Frames a second the low lane may read while paced.
    rate: f64,
    /// Fractional tokens owed.
    carry: f64,
    /// Seconds demand has been below the pace with a low lag.
    calm: f64,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer {
            tokens: Arc::new(Semaphore::new(0)),
            paced: AtomicBool::new(false),
            frames: AtomicU64::new(0),
            lag_us: AtomicU64::new(0),
            pace: AtomicU64::new(0),
            waited: AtomicU64::new(0),
            control: Mutex::new(Control::default()),
        }
    }
}

impl Pacer {
    /// Whether low-lane reads need a token now.
    pub fn paced(&self) -> bool {
        self.paced.load(Ordering::Relaxed)
    }

    /// A frame was read (either lane).
    pub fn read_one(&self) {
        self.frames.fetch_add(1, Ordering::Relaxed);
    }

    /// A token for one low-lane read; resolves when one is handed out (or pacing ends).
    pub fn token(&self) -> futures::future::BoxFuture<'static, ()> {
        self.waited.fetch_add(1, Ordering::Relaxed);
        let tokens = self.tokens.clone();
        Box::pin(async move {
            if let Ok(permit) = tokens.acquire_owned().await {
                permit.forget();
            }
        })
    }

    /// `(smoothed lag, pace in frames a second or 0, low-lane reads that waited)`.
    pub fn figures(&self) -> (Duration, u64, u64) {
        (Duration::from_micros(self.lag_us.load(Ordering::Relaxed)), self.pace.load(Ordering::Relaxed), self.waited.load(Ordering::Relaxed))
    }

    /// One probe: the probe ran `lag` late, `dt` after the previous one, with `backlog` durable
    /// events waiting.
    pub fn probe(&self, dt: Duration, lag: Duration, backlog: usize) {
        let dt = dt.as_secs_f64().max(1e-3);
        let demand = self.frames.swap(0, Ordering::Relaxed) as f64 / dt;
        let overload = OVERLOAD_LAG.as_secs_f64() * 1e3;
        let mut c = self.control.lock().expect("pacer lock");
        c.lag_ms = 0.8 * c.lag_ms + 0.2 * lag.as_secs_f64() * 1e3;
        let high = c.lag_ms > overload || backlog > OVERLOAD_BACKLOG;
        let low = c.lag_ms < overload / 2.0 && backlog < OVERLOAD_BACKLOG / 2;
        if !self.paced() {
            if high {
                // Start at three quarters of what was read: below what the box could not keep up with.
                c.rate = (0.75 * demand).max(MIN_LOW_RATE);
                c.carry = 0.0;
                c.calm = 0.0;
                let stale = self.tokens.available_permits();
                self.tokens.forget_permits(stale);
                self.paced.store(true, Ordering::Relaxed);
            }
        } else {
            if high {
                // Halve about every two seconds while the lag stays high.
                c.rate = (c.rate * (1.0 - 0.35 * dt).max(0.5)).max(MIN_LOW_RATE);
                c.calm = 0.0;
            } else if low {
                c.rate *= 1.0 + 0.25 * dt.min(1.0);
                c.calm = if demand < c.rate { c.calm + dt } else { 0.0 };
            }
            if c.calm >= CALM_FOR.as_secs_f64() {
                self.paced.store(false, Ordering::Relaxed);
                self.tokens.add_permits(RELEASE_ALL);
            } else {
                c.carry += c.rate * dt;
                let room = (c.rate * BURST).ceil() as usize;
                let available = self.tokens.available_permits();
                if available > room {
                    // The pace fell: tokens handed out at the old one and not taken lapse.
                    self.tokens.forget_permits(available - room);
                }
                let give = (c.carry.floor() as usize).min(room.saturating_sub(available.min(room)));
                c.carry -= c.carry.floor();
                self.tokens.add_permits(give);
            }
        }
        self.lag_us.store((c.lag_ms * 1e3) as u64, Ordering::Relaxed);
        self.pace.store(if self.paced() { c.rate as u64 } else { 0 }, Ordering::Relaxed);
    }

    /// The probe task: runs for as long as the runtime does; `backlog` counts the durable events
    /// waiting.
    pub async fn run(self: Arc<Self>, backlog: impl Fn() -> usize) {
        let mut last = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(PROBE_EVERY).await;
            let now = tokio::time::Instant::now();
            let dt = now - last;
            last = now;
            self.probe(dt, dt.saturating_sub(PROBE_EVERY), backlog());
        }
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

    /// `n` probes `dt` apart, each `lag` late, with `frames` read before each.
    fn probes(p: &Pacer, n: usize, dt_ms: u64, lag_ms: u64, frames: u64) {
        for _ in 0..n {
            p.frames.fetch_add(frames, Ordering::Relaxed);
            p.probe(Duration::from_millis(dt_ms), Duration::from_millis(lag_ms), 0);
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_low_lane_is_paced_while_the_runtime_lags_and_let_go_after() {
        let p = Pacer::default();
        // 10,000 frames a second, served on time: nothing is paced, a token is never asked for.
        probes(&p, 100, 10, 1, 100);
        assert!(!p.paced());
        assert_eq!(p.figures().1, 0);
        // The probe runs 40 ms late: paced, below what was being read.
        probes(&p, 10, 50, 40, 500);
        assert!(p.paced());
        let first = p.figures().1;
        assert!((MIN_LOW_RATE as u64..10_000).contains(&first), "pace {first}");
        // A low-lane read waits for a token; the next probe hands tokens out.
        let stale = p.tokens.available_permits();
        p.tokens.forget_permits(stale);
        let mut waiting = p.token();
        assert!(futures::poll!(&mut waiting).is_pending());
        probes(&p, 1, 50, 40, 0);
        assert!(futures::poll!(&mut waiting).is_ready());
        // Tokens never pile up past the burst, however long nobody reads.
        probes(&p, 20, 50, 40, 0);
        assert!(p.tokens.available_permits() as f64 <= (p.figures().1 as f64 * BURST).ceil());
        // While the lag stays high the pace falls, never below the floor.
        probes(&p, 200, 50, 40, 0);
        let low = p.figures().1;
        assert!(low < first, "{low} < {first}");
        assert_eq!(low, MIN_LOW_RATE as u64);
        // Lag low and demand below the pace for a while: pacing ends, every waiter goes on.
        let stale = p.tokens.available_permits();
        p.tokens.forget_permits(stale);
        let mut a = p.token();
        let mut b = p.token();
        probes(&p, 30, 10, 0, 0);
        assert!(p.paced(), "the lag is smoothed: not let go at once");
        probes(&p, 200, 10, 0, 0);
        assert!(!p.paced());
        assert_eq!(p.figures().1, 0);
        assert!(futures::poll!(&mut a).is_ready() && futures::poll!(&mut b).is_ready());
        assert_eq!(p.figures().2, 3, "three reads waited");
    }

    #[test]
    fn a_backlog_of_durable_events_paces_the_low_lane_on_time_or_not() {
        let p = Pacer::default();
        p.probe(Duration::from_millis(10), Duration::ZERO, OVERLOAD_BACKLOG);
        assert!(!p.paced());
        p.probe(Duration::from_millis(10), Duration::ZERO, OVERLOAD_BACKLOG + 1);
        assert!(p.paced());
        // Still half full: not let go, however calm the runtime.
        for _ in 0..500 {
            p.probe(Duration::from_millis(10), Duration::ZERO, OVERLOAD_BACKLOG / 2);
        }
        assert!(p.paced());
        for _ in 0..200 {
            p.probe(Duration::from_millis(10), Duration::ZERO, 0);
        }
        assert!(!p.paced());
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
