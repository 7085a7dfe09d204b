//! A fixed-capacity ring buffer of [`Sample`]s: the last [`RING_CAPACITY`] samples of a page.

use crate::Sample;

/// How many samples the ring keeps. At the loader's coalescing (one move per animation frame,
/// about 60 Hz) this is about two seconds of continuous motion, which covers every evidence
/// window ([`crate::detect::EVIDENCE_WINDOW_MS`]).
pub const RING_CAPACITY: usize = 256;

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

    /// Copies the samples with `t_ms >= since_ms` into `out`, oldest first. When they do not
    /// all fit, the oldest pointer moves give way first: clicks, answers and the other kinds in
    /// the window are all kept (unless they alone overflow `out`, when the newest samples of any
    /// kind are kept), and the newest moves fill the rest. A slow burst of clicks with the
    /// pointer trembling between them keeps every click. Returns how many were written.
    pub fn copy_since(&self, since_ms: u32, out: &mut [Sample]) -> usize {
        let mut first = self.len;
        let mut moves = 0usize;
        while first > 0 {
            let Some(s) = self.get(first - 1).filter(|s| s.t_ms >= since_ms) else { break };
            first -= 1;
            moves += usize::from(s.kind == crate::Kind::Move);
        }
        let total = self.len - first;
        let mut drop = total.saturating_sub(out.len());
        if drop > moves {
            // The other kinds alone overflow: the newest samples of any kind.
            first += drop;
            drop = 0;
        }
        let mut n = 0;
        for i in first..self.len {
            let Some(s) = self.get(i) else { break };
            if drop > 0 && s.kind == crate::Kind::Move {
                drop -= 1;
                continue;
            }
            let Some(slot) = out.get_mut(n) else { break };
            *slot = *s;
            n += 1;
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
    fn copy_since_keeps_the_newest_moves_that_fit() {
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

    #[test]
    fn thinning_keeps_every_click_and_the_newest_moves() {
        let mut r = Ring::new();
        for t in 0..100u32 {
            let kind = if t % 25 == 0 { Kind::Click } else { Kind::Move };
            r.push(Sample { kind, ..s(t * 10) });
        }
        let mut out = [s(0); 8];
        let n = r.copy_since(0, &mut out);
        assert_eq!(n, 8);
        let clicks: heapless::Vec<u32, 8> = out.iter().filter(|s| s.kind == Kind::Click).map(|s| s.t_ms).collect();
        assert_eq!(&clicks[..], &[0, 250, 500, 750]);
        let moves: heapless::Vec<u32, 8> = out.iter().filter(|s| s.kind == Kind::Move).map(|s| s.t_ms).collect();
        assert_eq!(&moves[..], &[960, 970, 980, 990]);
        assert!(out.windows(2).all(|w| w[0].t_ms <= w[1].t_ms), "oldest first");
        // When everything fits, everything.
        let mut big = [s(0); 64];
        assert_eq!(r.copy_since(500, &mut big), 50);
        assert_eq!(big[0].t_ms, 500);
    }
}
