//! Sign-in throttling: password guessing is bounded per address and per client, and the
//! password hash (argon2id, 19 MiB and ~50 ms each) runs on a bounded pool, so a flood of
//! sign-ins can neither guess without limit nor take the server's memory.
//!
//! * [`MAX_FAILURES_PER_EMAIL`] wrong passwords for one `(tenant, email)` within
//!   [`FAILURE_WINDOW`] refuse further tries for it with 429 `too_many_requests` until the
//!   window ends (whoever sends them: it protects the account, not the client).
//! * [`MAX_FAILURES_PER_CLIENT`] failures from one client address within the window refuse
//!   every sign-in from it the same way (it protects every account from one guesser).
//! * Hashes run on [`HASH_CONCURRENCY`] threads of their own and at most [`HASH_QUEUE`] wait;
//!   past that a sign-in is refused at once (429, `Retry-After: 1`). Two long-lived threads,
//!   not the runtime's blocking pool: each thread that ever hashed keeps its 19 MiB in its own
//!   allocator arena, so a flood spread over many threads held hundreds of MiB (measured:
//!   +367 MiB after 1,000 concurrent wrong sign-ins; `server/tests/flood.rs`).
//! * The failures remembered are bounded ([`MAX_TRACKED`] keys; expired ones go first).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};

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

type Job = Box<dyn FnOnce() + Send>;

/// Failed sign-ins by key, and the hashing threads.
pub struct LoginThrottle {
    runs: Mutex<HashMap<String, Run>>,
    jobs: SyncSender<Job>,
}

impl Default for LoginThrottle {
    /// Starts the hashing threads; they end when the throttle is dropped.
    fn default() -> Self {
        let (jobs, rx) = sync_channel::<Job>(HASH_QUEUE);
        let rx = std::sync::Arc::new(Mutex::new(rx));
        for i in 0..HASH_CONCURRENCY {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("siq-hash-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })
                .expect("a hashing thread starts");
        }
        LoginThrottle { runs: Mutex::new(HashMap::new()), jobs }
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

    /// Runs `hash` on a hashing thread and waits for it; `None` at once when [`HASH_QUEUE`]
    /// hashes already wait.
    pub async fn hash<R: Send + 'static>(&self, hash: impl FnOnce() -> R + Send + 'static) -> Option<R> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(hash());
        });
        match self.jobs.try_send(job) {
            Ok(()) => rx.await.ok(),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => None,
        }
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
