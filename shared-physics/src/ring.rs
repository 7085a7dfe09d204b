//! A fixed-capacity ring buffer of [`Sample`]s: the last [`RING_CAPACITY`] samples of a page.

use crate::Sample;

/// How many samples the ring keeps. At the loader's coalescing (one move per animation frame,
/// about 60 Hz) this is about two seconds of continuous motion, which covers every evidence
/// window ([`crate::detect::EVIDENCE_WINDOW_MS`]).
pub const RING_CAPACITY: usize = 128;

/// The ring. Pushing into a full ring overwrites the oldest sample.
#[derive(Clone, Debug)]
pub struct Ring {
    buf: [Sample; RING_CAPACITY],
    /// Index of the oldest sample.
    head: usize,
    len: usize,
}

impl Default for Ring {
    fn default() -> Self {
        Self::new()
    }
}

impl Ring {
    /// An empty ring.
    pub const fn new() -> Ring {
        Ring { buf: [Sample { t_ms: 0, x: 0, y: 0, kind: crate::Kind::Move, section: 0 }; RING_CAPACITY], head: 0, len: 0 }
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no sample is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a sample, dropping the oldest when full.
    pub fn push(&mut self, s: Sample) {
        let idx = (self.head + self.len) % RING_CAPACITY;
        self.buf[idx] = s;
        if self.len == RING_CAPACITY {
            self.head = (self.head + 1) % RING_CAPACITY;
        } else {
            self.len += 1;
        }
    }

    /// The `i`-th oldest sample.
    pub fn get(&self, i: usize) -> Option<&Sample> {
        (i < self.len).then(|| &self.buf[(self.head + i) % RING_CAPACITY])
    }

    /// Copies the most recent samples with `t_ms >= since_ms` into `out`, oldest first, keeping
    /// only the newest `out.len()` of them. Returns how many were written.
    pub fn copy_since(&self, since_ms: u32, out: &mut [Sample]) -> usize {
        let mut first = self.len;
        while first > 0 && self.get(first - 1).is_some_and(|s| s.t_ms >= since_ms) {
            first -= 1;
        }
        let first = first.max(self.len.saturating_sub(out.len()));
        let n = self.len - first;
        for (k, slot) in out.iter_mut().take(n).enumerate() {
            if let Some(s) = self.get(first + k) {
                *slot = *s;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind;

    fn s(t: u32) -> Sample {
        Sample { t_ms: t, x: t as i16, y: 0, kind: Kind::Move, section: 0 }
    }

    #[test]
    fn overwrites_oldest_when_full() {
        let mut r = Ring::new();
        for t in 0..(RING_CAPACITY as u32 + 10) {
            r.push(s(t));
        }
        assert_eq!(r.len(), RING_CAPACITY);
        assert_eq!(r.get(0).unwrap().t_ms, 10);
        assert_eq!(r.get(RING_CAPACITY - 1).unwrap().t_ms, RING_CAPACITY as u32 + 9);
        assert!(r.get(RING_CAPACITY).is_none());
    }

    #[test]
    fn copy_since_keeps_the_newest_that_fit() {
        let mut r = Ring::new();
        for t in 0..50 {
            r.push(s(t * 10));
        }
        let mut out = [s(0); 8];
        // 20 samples are >= 300 ms; only the newest 8 fit.
        assert_eq!(r.copy_since(300, &mut out), 8);
        assert_eq!(out[0].t_ms, 420);
        assert_eq!(out[7].t_ms, 490);
        let mut big = [s(0); 64];
        assert_eq!(r.copy_since(450, &mut big), 5);
        assert_eq!(big[0].t_ms, 450);
        assert_eq!(r.copy_since(10_000, &mut big), 0);
    }
}
