//! Sign-in throttling: password guessing is bounded per address and per client, and the
//! password hash (argon2id, 19 MiB and ~50 ms each) runs on a bounded pool, so a flood of
//! sign-ins can neither guess without limit nor take the server's memory.
//!
//! * [`MAX_FAILURES_PER_EMAIL`] wrong passwords for one `(tenant, email)` within
//!   [`FAILURE_WINDOW`] refuse further tries for it with 429 `too_many_requests` until the
//!   window ends (whoever sends them: it protects the account, not the client).
//! * [`MAX_FAILURES_PER_CLIENT`] failures from one client address within the window refuse
//!   every sign-in from it the same way (it protects every account from one guesser).
//! * At most [`HASH_CONCURRENCY`] hashes run at once and [`HASH_QUEUE`] wait; past that a
//!   sign-in is refused at once (503 `unavailable`), before any hashing memory is taken.
//! * The failures remembered are bounded ([`MAX_TRACKED`] keys; expired ones go first).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Wrong passwords one `(tenant, email)` may see within [`FAILURE_WINDOW`].
pub const MAX_FAILURES_PER_EMAIL: u32 = 5;
/// Failed sign-ins one client address may make within [`FAILURE_WINDOW`].
pub const MAX_FAILURES_PER_CLIENT: u32 = 50;
/// How long failures are remembered, from the first of a run.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Password hashes computed at once (each takes 19 MiB for ~50 ms).
pub const HASH_CONCURRENCY: usize = 2;
/// Sign-ins that may wait for a hash; past this they are refused at once.
pub const HASH_QUEUE: usize = 64;
/// Keys (emails and addresses) whose failures are remembered at once.
pub const MAX_TRACKED: usize = 100_000;

#[derive(Clone, Copy, Debug)]
struct Run {
    failures: u32,
    since_ms: i64,
}

/// Failed sign-ins by key, and the hashing pool.
pub struct LoginThrottle {
    runs: Mutex<HashMap<String, Run>>,
    pool: Semaphore,
    waiting: AtomicUsize,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle { runs: Mutex::new(HashMap::new()), pool: Semaphore::new(HASH_CONCURRENCY), waiting: AtomicUsize::new(0) }
    }
}

/// The keys one sign-in is counted under: its account, and its client when known.
pub struct Keys {
    email: String,
    client: Option<String>,
}

impl Keys {
    /// `email_index` is the blind index of the normalised email (no address kept in memory).
    pub fn new(tenant: &str, email_index: &str, client: Option<IpAddr>) -> Keys {
        Keys { email: format!("e|{tenant}|{email_index}"), client: client.map(|ip| format!("c|{ip}")) }
    }
}

impl LoginThrottle {
    /// `Err(seconds to wait)` when either key has used up its failures in the window.
    pub fn check(&self, keys: &Keys, now_ms: i64) -> Result<(), u64> {
        let runs = self.runs.lock().expect("throttle lock");
        let window = FAILURE_WINDOW.as_millis() as i64;
        let over = |key: &str, max: u32| {
            runs.get(key).filter(|r| now_ms - r.since_ms < window && r.failures >= max).map(|r| r.since_ms + window - now_ms)
        };
        let wait =
            over(&keys.email, MAX_FAILURES_PER_EMAIL).or_else(|| keys.client.as_deref().and_then(|c| over(c, MAX_FAILURES_PER_CLIENT)));
        match wait {
            Some(ms) => Err((ms as u64).div_ceil(1000)),
            None => Ok(()),
        }
    }

    /// Counts a failed sign-in under both keys.
    pub fn failed(&self, keys: &Keys, now_ms: i64) {
        let mut runs = self.runs.lock().expect("throttle lock");
        let window = FAILURE_WINDOW.as_millis() as i64;
        if runs.len() >= MAX_TRACKED {
            runs.retain(|_, r| now_ms - r.since_ms < window);
            if runs.len() >= MAX_TRACKED {
                // Still full of live runs: forget the oldest tenth rather than grow.
                let mut since: Vec<i64> = runs.values().map(|r| r.since_ms).collect();
                since.sort_unstable();
                let cut = since[since.len() / 10];
                runs.retain(|_, r| r.since_ms > cut);
            }
        }
        for key in std::iter::once(&keys.email).chain(keys.client.as_ref()) {
            let run = runs.entry(key.clone()).or_insert(Run { failures: 0, since_ms: now_ms });
            if now_ms - run.since_ms >= window {
                *run = Run { failures: 0, since_ms: now_ms };
            }
            run.failures += 1;
        }
    }

    /// A right password clears its account's run (the client's stays: a guesser that owns one
    /// account must not reset its count with it).
    pub fn succeeded(&self, keys: &Keys) {
        self.runs.lock().expect("throttle lock").remove(&keys.email);
    }

    /// A place in the hashing pool, waited for; `None` at once when [`HASH_QUEUE`] already
    /// wait.
    pub async fn hash_slot(&self) -> Option<SemaphorePermit<'_>> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= HASH_QUEUE + HASH_CONCURRENCY {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let permit = self.pool.acquire().await.ok();
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_lock_the_address_for_the_window_and_a_success_clears_it() {
        let t = LoginThrottle::default();
        let ip = Some("10.0.0.1".parse().unwrap());
        let k = Keys::new("t1", "idx", ip);
        for _ in 0..MAX_FAILURES_PER_EMAIL {
            assert!(t.check(&k, 0).is_ok());
            t.failed(&k, 0);
        }
        assert!(t.check(&k, 1_000).is_err(), "locked after the fifth failure");
        assert!(t.check(&Keys::new("t2", "idx", ip), 1_000).is_ok(), "another tenant's address is its own");
        let window = FAILURE_WINDOW.as_millis() as i64;
        assert!(t.check(&k, window).is_ok(), "the window ended");
        t.failed(&k, window);
        t.succeeded(&k);
        assert!(t.check(&k, window + 1).is_ok());
    }

    #[test]
    fn one_client_guessing_many_addresses_is_stopped_too() {
        let t = LoginThrottle::default();
        let ip = Some("10.0.0.2".parse().unwrap());
        for i in 0..MAX_FAILURES_PER_CLIENT {
            let k = Keys::new("t1", &format!("idx{i}"), ip);
            assert!(t.check(&k, 0).is_ok());
            t.failed(&k, 0);
        }
        assert!(t.check(&Keys::new("t1", "fresh", ip), 0).is_err());
        assert!(t.check(&Keys::new("t1", "fresh", Some("10.0.0.3".parse().unwrap())), 0).is_ok());
    }

    #[test]
    fn memory_stays_bounded() {
        let t = LoginThrottle::default();
        for i in 0..(MAX_TRACKED + 10) {
            t.failed(&Keys::new("t", &i.to_string(), None), i as i64);
        }
        assert!(t.runs.lock().unwrap().len() <= MAX_TRACKED);
    }
}
