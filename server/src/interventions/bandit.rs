//! Which intervention a page gets: Thompson sampling over a tenant's variants, with a fixed
//! holdout that gets none, so every uplift is measured against a control group.
//!
//! A tenant defines, per context (an emotion on a section, [`ContextKey`]), a [`VariantSet`]:
//! an in-page message, a help offer, a discount offer, "a person will call you", a conversation
//! card for a human, or deliberately nothing ([`VariantKind`]). Each variant has an [`Arm`]: the
//! outcomes recorded so far in that context, read as a Beta posterior of its conversion rate.
//!
//! [`decide`] is a pure function of `(arms, policy, seed)`:
//!
//! 1. a ChaCha8 stream is seeded with `seed` ([`decision_seed`] derives it from the tenant, the
//!    session, the decision's sequence number and a server secret, so clients cannot predict it
//!    and nothing random is unseeded);
//! 2. the first draw `u ∈ [0, 1)` puts the decision in the **holdout** when
//!    `u < policy.holdout_share()` (default 10%): no intervention at all. The draw does not look
//!    at the posteriors, so the control group is a uniform sample of the traffic;
//! 3. otherwise one value is drawn from each arm's Beta posterior, in the arms' order, and the
//!    arm with the largest draw is served (ties go to the lowest index).
//!
//! The [`Decision`] keeps the seed, the posteriors it saw and the draws, so [`replay`] can
//! recompute it later and check that it gives the same answer. Outcomes feed back through
//! [`update`]; [`uplift`] compares treated conversions with the holdout's (difference of
//! proportions with Newcombe's hybrid score interval). `docs/interventions.md` has the formulas
//! and the simulation benchmark (`cargo xtask bench bandit`).

use hmac::{Hmac, Mac};
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Share of decisions held out (no intervention) unless the tenant sets another.
pub const DEFAULT_HOLDOUT_SHARE: f64 = 0.10;
/// Largest holdout share a tenant may set: above it the control group would cost more
/// conversions than it is worth.
pub const MAX_HOLDOUT_SHARE: f64 = 0.5;
/// Most variants in one context. Every variant needs traffic to learn; more than this splits it
/// too thinly.
pub const MAX_VARIANTS: usize = 16;
/// Longest variant id, bytes.
pub const MAX_VARIANT_ID_BYTES: usize = 64;
/// Longest text of a variant, bytes (what the page or the human shows).
pub const MAX_VARIANT_TEXT_BYTES: usize = 1000;
/// How far a replayed draw may differ from the stored one. The stream is bit-exact everywhere;
/// the Beta transform goes through `ln`/`exp`, whose last bit may differ between platforms'
/// maths libraries, and a JSON round trip of an `f64` may move its last bit.
pub const REPLAY_TOLERANCE: f64 = 1e-9;

type HmacSha256 = Hmac<Sha256>;

/// What a bandit step refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BanditError {
    /// The holdout share is not a number in `0..=MAX_HOLDOUT_SHARE`.
    #[error("holdout share {0} is outside 0..={MAX_HOLDOUT_SHARE}")]
    HoldoutShare(f64),
    /// An outcome names a variant that has no arm.
    #[error("no arm for variant {0:?}")]
    UnknownVariant(String),
    /// A variant set has no variant.
    #[error("a context needs at least one variant")]
    NoVariants,
    /// A variant set has more than [`MAX_VARIANTS`] variants.
    #[error("{count} variants; at most {max} per context")]
    TooManyVariants {
        /// Variants given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A variant id is empty, longer than [`MAX_VARIANT_ID_BYTES`], or has a character other
    /// than `[A-Za-z0-9_-]`.
    #[error("invalid variant id {0:?}")]
    VariantId(String),
    /// Two variants of one context share an id.
    #[error("variant id {0:?} is used twice")]
    DuplicateVariant(String),
    /// A variant shown to a customer has no text.
    #[error("variant {0:?} needs a text")]
    MissingText(String),
    /// A `Nothing` variant has a text (it shows nothing).
    #[error("variant {0:?} shows nothing and cannot have a text")]
    TextOnNothing(String),
    /// A variant's text is longer than [`MAX_VARIANT_TEXT_BYTES`].
    #[error("variant {id:?} has {len} bytes of text; at most {max}")]
    TextTooLong {
        /// The variant.
        id: String,
        /// Its text's length, bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// What a variant does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariantKind {
    /// A message in the page.
    Message,
    /// An offer of help in the page (guide, chat, documentation).
    Help,
    /// A discount offer in the page.
    Discount,
    /// "A person will call you": shown in the page, and a human follows up.
    Callback,
    /// No change in the page; a human of the tenant gets a conversation card about the visitor.
    Card,
    /// Deliberately nothing. A real arm, learned like the others, and not the holdout: its
    /// decisions count as treated, so "doing nothing on purpose" is measured too.
    Nothing,
}

impl VariantKind {
    /// True when the variant changes the customer's page (a busy customer may suppress these).
    pub fn in_page(self) -> bool {
        matches!(self, Self::Message | Self::Help | Self::Discount | Self::Callback)
    }

    /// True when a human of the tenant has to act.
    pub fn needs_human(self) -> bool {
        matches!(self, Self::Callback | Self::Card)
    }
}

/// One intervention a tenant defined for a context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// Tenant-chosen id, unique within its context (`[A-Za-z0-9_-]`, at most
    /// [`MAX_VARIANT_ID_BYTES`]).
    pub id: String,
    /// What it does.
    pub kind: VariantKind,
    /// What the customer sees (for `Card`, what the human's card says; empty for `Nothing`).
    pub text: String,
}

/// Where an intervention applies: an emotion on a section (a section class or a section name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContextKey {
    /// The confirmed emotion (`rage`, `confusion`, …).
    pub emotion: String,
    /// The section class or name the emotion was detected on.
    pub section: String,
}

impl ContextKey {
    /// The context of `emotion` on `section`.
    pub fn new(emotion: &str, section: &str) -> Self {
        Self { emotion: emotion.to_string(), section: section.to_string() }
    }
}

/// A tenant's variants for one context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantSet {
    /// Where the variants apply.
    pub context: ContextKey,
    /// The variants, in the order their arms are sampled.
    pub variants: Vec<Variant>,
}

impl VariantSet {
    /// Checks the set: 1 to [`MAX_VARIANTS`] variants, valid and unique ids, a text on every
    /// variant shown to a customer, none on `Nothing`, no text over [`MAX_VARIANT_TEXT_BYTES`].
    pub fn validate(&self) -> Result<(), BanditError> {
        if self.variants.is_empty() {
            return Err(BanditError::NoVariants);
        }
        if self.variants.len() > MAX_VARIANTS {
            return Err(BanditError::TooManyVariants { count: self.variants.len(), max: MAX_VARIANTS });
        }
        for (i, v) in self.variants.iter().enumerate() {
            let id_ok = !v.id.is_empty()
                && v.id.len() <= MAX_VARIANT_ID_BYTES
                && v.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !id_ok {
                return Err(BanditError::VariantId(v.id.clone()));
            }
            if self.variants[..i].iter().any(|w| w.id == v.id) {
                return Err(BanditError::DuplicateVariant(v.id.clone()));
            }
            if v.text.len() > MAX_VARIANT_TEXT_BYTES {
                return Err(BanditError::TextTooLong { id: v.id.clone(), len: v.text.len(), max: MAX_VARIANT_TEXT_BYTES });
            }
            match v.kind {
                VariantKind::Nothing if !v.text.is_empty() => return Err(BanditError::TextOnNothing(v.id.clone())),
                k if k.in_page() && v.text.trim().is_empty() => return Err(BanditError::MissingText(v.id.clone())),
                _ => {}
            }
        }
        Ok(())
    }

    /// Fresh arms (no outcomes yet), one per variant, in order.
    pub fn arms(&self) -> Vec<Arm> {
        self.variants.iter().map(|v| Arm::new(&v.id)).collect()
    }
}

/// The outcomes of one variant in one context.
///
/// Its conversion rate is read as `Beta(1 + successes, 1 + failures)`: the uniform prior
/// `Beta(1, 1)` (every rate equally likely before any outcome) updated by each recorded outcome.
/// A new variant therefore starts wide open and is tried often until its outcomes narrow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arm {
    /// The variant's id.
    pub variant_id: String,
    /// Decisions that served the variant and converted.
    pub successes: u64,
    /// Decisions that served the variant and did not convert.
    pub failures: u64,
}

impl Arm {
    /// An arm with no outcomes (the uniform prior).
    pub fn new(variant_id: &str) -> Self {
        Self { variant_id: variant_id.to_string(), successes: 0, failures: 0 }
    }

    /// The posterior's first parameter, `1 + successes`.
    pub fn alpha(&self) -> f64 {
        1.0 + self.successes as f64
    }

    /// The posterior's second parameter, `1 + failures`.
    pub fn beta(&self) -> f64 {
        1.0 + self.failures as f64
    }

    /// The posterior mean of the conversion rate, `α / (α + β)`.
    pub fn mean(&self) -> f64 {
        self.alpha() / (self.alpha() + self.beta())
    }

    /// One draw from the posterior.
    fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
        // α and β are at least 1 and finite (u64 → f64 cannot overflow), which is all
        // `Beta::new` asks; the mean stands in should that ever change.
        match Beta::new(self.alpha(), self.beta()) {
            Ok(b) => b.sample(rng),
            Err(_) => self.mean(),
        }
    }
}

/// How decisions are made for a tenant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    holdout_share: f64,
}

impl Policy {
    /// A policy holding out `holdout_share` of decisions (`0..=MAX_HOLDOUT_SHARE`). Zero turns
    /// the control group off, and with it every uplift measurement ([`uplift`] returns `None`).
    pub fn new(holdout_share: f64) -> Result<Self, BanditError> {
        if !(0.0..=MAX_HOLDOUT_SHARE).contains(&holdout_share) {
            return Err(BanditError::HoldoutShare(holdout_share));
        }
        Ok(Self { holdout_share })
    }

    /// The share of decisions that get no intervention.
    pub fn holdout_share(&self) -> f64 {
        self.holdout_share
    }
}

impl Default for Policy {
    /// [`DEFAULT_HOLDOUT_SHARE`].
    fn default() -> Self {
        Self { holdout_share: DEFAULT_HOLDOUT_SHARE }
    }
}

/// One decision, with everything needed to recompute it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The seed of the decision's random stream.
    pub seed: u64,
    /// True when the decision fell in the holdout: no intervention, counted as control.
    pub holdout: bool,
    /// The variant served; `None` in the holdout, or when the context has no arm.
    pub chosen: Option<String>,
    /// Each arm's posterior draw, in the arms' order (empty in the holdout).
    pub samples: Vec<(String, f64)>,
    /// The arms as they were when the decision was made.
    pub posteriors: Vec<Arm>,
}

/// The seed of a decision: HMAC-SHA256 under the server's `secret` of the tenant, the session
/// and the decision's sequence number in the session, first 8 bytes big-endian. Deterministic
/// (the same decision always gets the same seed) and unpredictable without the secret, so a
/// client cannot steer itself in or out of the holdout. Each field is length-prefixed, so no
/// two different `(tenant, session)` pairs hash the same bytes.
pub fn decision_seed(tenant: &str, session: &str, seq: u64, secret: &[u8]) -> u64 {
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    m.update(b"siq-bandit-seed/1");
    for field in [tenant.as_bytes(), session.as_bytes()] {
        m.update(&(field.len() as u64).to_be_bytes());
        m.update(field);
    }
    m.update(&seq.to_be_bytes());
    let tag = m.finalize().into_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&tag[..8]);
    u64::from_be_bytes(first)
}

/// The decision's random stream. ChaCha8 (`rand_chacha`) has a published, platform-independent
/// output for a given seed that the rand project treats as fixed (its test vectors pin it), so a
/// decision stored today replays identically after an upgrade; `StdRng` makes no such promise.
fn stream(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A uniform draw in `[0, 1)` from the top 53 bits of the next `u64`.
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// True when the decision with `seed` falls in the holdout under `policy`: the first draw of
/// its stream is below the holdout share. [`decide`] makes the same draw, so this answers
/// without the arms (a simulation can hold out the same decisions under every strategy).
pub fn in_holdout(policy: &Policy, seed: u64) -> bool {
    unit(&mut stream(seed)) < policy.holdout_share
}

/// Chooses for one decision: the holdout, or the arm with the largest posterior draw (ties to
/// the lowest index). Deterministic given `(arms, policy, seed)`.
pub fn decide(arms: &[Arm], policy: &Policy, seed: u64) -> Decision {
    let mut rng = stream(seed);
    let posteriors = arms.to_vec();
    if unit(&mut rng) < policy.holdout_share {
        return Decision { seed, holdout: true, chosen: None, samples: Vec::new(), posteriors };
    }
    let samples: Vec<(String, f64)> = arms.iter().map(|a| (a.variant_id.clone(), a.sample(&mut rng))).collect();
    let mut best: Option<(usize, f64)> = None;
    for (i, (_, x)) in samples.iter().enumerate() {
        if best.is_none_or(|(_, b)| *x > b) {
            best = Some((i, *x));
        }
    }
    let chosen = best.map(|(i, _)| samples[i].0.clone());
    Decision { seed, holdout: false, chosen, samples, posteriors }
}

/// Recomputes `d` from its stored posteriors and seed under `policy` and checks it gives the
/// same holdout, the same choice, and the same draws (within [`REPLAY_TOLERANCE`]). False when
/// anything stored was changed or the decision was made under another policy.
pub fn replay(d: &Decision, policy: &Policy) -> bool {
    let again = decide(&d.posteriors, policy, d.seed);
    again.holdout == d.holdout
        && again.chosen == d.chosen
        && again.samples.len() == d.samples.len()
        && again.samples.iter().zip(&d.samples).all(|((ia, xa), (ib, xb))| ia == ib && (xa - xb).abs() <= REPLAY_TOLERANCE)
}

/// Records one outcome of a served variant: a conversion adds a success, anything else a
/// failure (counts saturate at `u64::MAX`). Holdout outcomes do not go here: they are control.
pub fn update(arms: &mut [Arm], variant_id: &str, converted: bool) -> Result<(), BanditError> {
    let arm = arms.iter_mut().find(|a| a.variant_id == variant_id).ok_or_else(|| BanditError::UnknownVariant(variant_id.to_string()))?;
    if converted {
        arm.successes = arm.successes.saturating_add(1);
    } else {
        arm.failures = arm.failures.saturating_add(1);
    }
    Ok(())
}

/// Treated against control: conversion rates, their difference and its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Uplift {
    /// Conversions / decisions among treated (every served variant, `Nothing` included).
    pub treated_rate: f64,
    /// Conversions / decisions in the holdout.
    pub control_rate: f64,
    /// `treated_rate - control_rate`.
    pub uplift: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
    /// Treated decisions.
    pub treated_n: u64,
    /// Holdout decisions.
    pub control_n: u64,
}

impl Uplift {
    /// True when `value` lies in `[low, high]`.
    pub fn covers(&self, value: f64) -> bool {
        self.low <= value && value <= self.high
    }
}

/// The uplift of treated over control, `treated` and `control` given as
/// `(conversions, decisions)`, with a two-sided interval at `confidence` (0.95 for 95%).
///
/// Newcombe's hybrid score interval (1998, method 10), which stays inside `[-1, 1]` and behaves
/// at rates near 0 or 1 and small counts, where the Wald interval does not. With `z` the normal
/// quantile of `(1 + confidence) / 2`, each rate gets its Wilson score interval
/// `(c ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)` where `c = p + z²/2n`, giving `(l1, u1)` for
/// treated and `(l2, u2)` for control; with `d = p1 − p2`:
///
/// `low = d − √((p1 − l1)² + (u2 − p2)²)`, `high = d + √((u1 − p1)² + (p2 − l2)²)`.
///
/// `None` when a group has no decision, a count of conversions exceeds its decisions, or
/// `confidence` is not strictly between 0 and 1.
pub fn uplift(treated: (u64, u64), control: (u64, u64), confidence: f64) -> Option<Uplift> {
    let ((x1, n1), (x2, n2)) = (treated, control);
    if n1 == 0 || n2 == 0 || x1 > n1 || x2 > n2 || !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let z = normal_quantile((1.0 + confidence) / 2.0);
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let (l1, u1) = wilson(p1, n1 as f64, z);
    let (l2, u2) = wilson(p2, n2 as f64, z);
    let d = p1 - p2;
    Some(Uplift {
        treated_rate: p1,
        control_rate: p2,
        uplift: d,
        low: d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt(),
        high: d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt(),
        treated_n: n1,
        control_n: n2,
    })
}

/// Wilson score interval of a proportion `p` over `n` trials, clamped to `[0, 1]`.
fn wilson(p: f64, n: f64, z: f64) -> (f64, f64) {
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The standard normal quantile of `p` in `(0, 1)`: bisection on `Φ(z) = erfc(−z/√2)/2` until
/// the bracket stops shrinking (the last bit of an `f64`).
fn normal_quantile(p: f64) -> f64 {
    let cdf = |z: f64| 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2);
    let (mut lo, mut hi) = (-40.0_f64, 40.0_f64);
    loop {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            return mid;
        }
        if cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arms(counts: &[(&str, u64, u64)]) -> Vec<Arm> {
        counts.iter().map(|(id, s, f)| Arm { variant_id: id.to_string(), successes: *s, failures: *f }).collect()
    }

    fn three() -> Vec<Arm> {
        arms(&[("msg", 3, 40), ("help", 5, 38), ("discount", 4, 30)])
    }

    #[test]
    fn same_inputs_give_the_same_decision_and_other_seeds_differ() {
        let (a, p) = (three(), Policy::default());
        for seed in 0..200 {
            assert_eq!(decide(&a, &p, seed), decide(&a, &p, seed));
        }
        let chosen: std::collections::BTreeSet<_> = (0..200).filter_map(|s| decide(&a, &p, s).chosen).collect();
        assert_eq!(chosen.len(), 3, "close posteriors: every arm wins for some seed, got {chosen:?}");
        assert!((0..200).any(|s| decide(&a, &p, s).holdout) && (0..200).any(|s| !decide(&a, &p, s).holdout));
    }

    #[test]
    fn the_stream_is_pinned() {
        // Stored decisions replay only while ChaCha8 and rand_distr's Beta keep their values; an
        // upgrade that changes them fails here before it fails a replay in production.
        let mut rng = stream(0);
        assert_eq!(rng.next_u64(), 0xb585_f767_a79a_3b6c);
        let d = decide(&three(), &Policy::default(), 7);
        assert!(!d.holdout);
        let want = [("msg", 0.049_692_343_567_669_085), ("help", 0.173_656_029_802_450_32), ("discount", 0.116_273_786_887_782_17)];
        assert_eq!(d.chosen.as_deref(), Some("help"));
        for ((id, x), (wid, wx)) in d.samples.iter().zip(want) {
            assert_eq!(id, wid);
            assert!((x - wx).abs() < 1e-12, "{id}: {x}");
        }
    }

    #[test]
    fn a_decision_replays_and_tampering_is_caught() {
        let p = Policy::default();
        let d = (0..).map(|s| decide(&three(), &p, s)).find(|d| !d.holdout).expect("a treated decision");
        assert!(replay(&d, &p));
        let json = serde_json::to_string(&d).unwrap();
        assert!(replay(&serde_json::from_str(&json).unwrap(), &p), "a stored decision replays");

        let mut t = d.clone();
        t.posteriors[1].successes += 1;
        assert!(!replay(&t, &p), "a changed posterior changes its draw");
        let mut t = d.clone();
        t.chosen = d.samples.iter().map(|(id, _)| id.clone()).find(|id| Some(id) != d.chosen.as_ref());
        assert!(!replay(&t, &p), "another choice");
        let mut t = d.clone();
        t.samples[0].1 += 1e-6;
        assert!(!replay(&t, &p), "a changed draw");
        let mut t = d.clone();
        t.seed ^= 1;
        assert!(!replay(&t, &p), "another seed");
        let half = Policy::new(0.5).unwrap();
        let moved = (0..).map(|s| decide(&three(), &p, s)).find(|d| !d.holdout && in_holdout(&half, d.seed)).unwrap();
        assert!(replay(&moved, &p) && !replay(&moved, &half), "made under another policy");

        let h = (0..).map(|s| decide(&three(), &p, s)).find(|d| d.holdout).expect("a holdout decision");
        assert!(replay(&h, &p));
        assert!(!replay(&h, &Policy::new(0.0).unwrap()), "no holdout under a zero share");
    }

    #[test]
    fn the_holdout_share_converges_and_matches_in_holdout() {
        let a = three();
        for share in [0.10, 0.25] {
            let p = Policy::new(share).unwrap();
            let n = 100_000;
            let held = (0..n).filter(|&s| decide(&a, &p, s).holdout).count();
            let got = held as f64 / n as f64;
            assert!((got - share).abs() < 0.005, "share {share}: held out {got}");
        }
        let p = Policy::default();
        assert!((0..2000).all(|s| in_holdout(&p, s) == decide(&a, &p, s).holdout));
        let none = Policy::new(0.0).unwrap();
        assert!((0..2000).all(|s| !decide(&a, &none, s).holdout));
    }

    #[test]
    fn thompson_settles_on_a_clearly_better_arm() {
        let rates = [0.03, 0.05, 0.15];
        let mut a = arms(&[("a", 0, 0), ("b", 0, 0), ("c", 0, 0)]);
        let p = Policy::default();
        let mut world = ChaCha8Rng::seed_from_u64(99);
        let (mut late, mut late_best) = (0, 0);
        for seq in 0..4000u64 {
            let d = decide(&a, &p, decision_seed("t", "sim", seq, b"k"));
            let Some(id) = d.chosen else { continue };
            let i = a.iter().position(|x| x.variant_id == id).unwrap();
            update(&mut a, &id, unit(&mut world) < rates[i]).unwrap();
            if seq >= 3000 {
                late += 1;
                late_best += usize::from(i == 2);
            }
        }
        let share = late_best as f64 / late as f64;
        assert!(share >= 0.9, "best arm served {share} of the last treated decisions; arms {a:?}");
    }

    #[test]
    fn ties_go_to_the_lowest_index_and_no_arm_serves_nothing() {
        let p = Policy::new(0.0).unwrap();
        let d = decide(&[], &p, 1);
        assert_eq!((d.holdout, d.chosen), (false, None));
        // A draw of exactly equal value only happens with equal arms and equal streams; check the
        // rule on the stored draws: the first of the maxima is chosen.
        for seed in 0..50 {
            let d = decide(&three(), &p, seed);
            let max = d.samples.iter().map(|s| s.1).fold(f64::MIN, f64::max);
            let first = d.samples.iter().find(|s| s.1 == max).map(|s| s.0.clone());
            assert_eq!(d.chosen, first);
        }
    }

    #[test]
    fn seeds_are_keyed_and_unambiguous() {
        let s = decision_seed("t1", "sess", 3, b"secret");
        assert_eq!(s, decision_seed("t1", "sess", 3, b"secret"));
        assert_ne!(s, decision_seed("t1", "sess", 4, b"secret"));
        assert_ne!(s, decision_seed("t1", "sess", 3, b"other"));
        assert_ne!(s, decision_seed("t2", "sess", 3, b"secret"));
        assert_ne!(decision_seed("ab", "c", 0, b"k"), decision_seed("a", "bc", 0, b"k"));
    }

    #[test]
    fn update_counts_outcomes_of_known_variants_only() {
        let mut a = arms(&[("x", 0, 0), ("y", 0, 0)]);
        update(&mut a, "y", true).unwrap();
        update(&mut a, "y", false).unwrap();
        update(&mut a, "y", true).unwrap();
        update(&mut a, "x", false).unwrap();
        assert_eq!(a, arms(&[("x", 0, 1), ("y", 2, 1)]));
        assert_eq!(update(&mut a, "z", true), Err(BanditError::UnknownVariant("z".into())));
        assert!((a[1].mean() - 3.0 / 5.0).abs() < 1e-15, "Beta(1+2, 1+1) has mean 3/5");
        let mut full = arms(&[("x", u64::MAX, 0)]);
        update(&mut full, "x", true).unwrap();
        assert_eq!(full[0].successes, u64::MAX);
    }

    #[test]
    fn uplift_matches_newcombes_table() {
        // Newcombe (1998), Statistics in Medicine 17:873–890, Table II, method 10, 95%.
        let cases = [
            ((56, 70), (48, 80), 0.0524, 0.3339),
            ((9, 10), (3, 10), 0.1705, 0.8090),
            ((6, 7), (2, 7), 0.0582, 0.8062),
            ((5, 56), (0, 29), -0.0381, 0.1926),
            ((0, 10), (0, 20), -0.1611, 0.2775),
            ((10, 10), (0, 20), 0.6791, 1.0000),
            ((10, 10), (0, 10), 0.6075, 1.0000),
        ];
        for (t, c, low, high) in cases {
            let u = uplift(t, c, 0.95).unwrap();
            assert!((u.low - low).abs() < 5e-5 && (u.high - high).abs() < 5e-5, "{t:?} vs {c:?}: {u:?}");
            assert_eq!((u.treated_n, u.control_n), (t.1, c.1));
        }
        let u = uplift((56, 70), (48, 80), 0.95).unwrap();
        assert!((u.uplift - 0.2).abs() < 1e-12 && (u.treated_rate - 0.8).abs() < 1e-12 && (u.control_rate - 0.6).abs() < 1e-12);
        assert!(u.covers(0.2) && !u.covers(0.05));
        let wider = uplift((56, 70), (48, 80), 0.99).unwrap();
        assert!(wider.low < u.low && wider.high > u.high);
    }

    #[test]
    fn uplift_refuses_what_it_cannot_measure() {
        assert_eq!(uplift((1, 10), (0, 0), 0.95), None, "no holdout, no uplift");
        assert_eq!(uplift((0, 0), (1, 10), 0.95), None);
        assert_eq!(uplift((11, 10), (1, 10), 0.95), None);
        for c in [0.0, 1.0, -0.5, f64::NAN] {
            assert_eq!(uplift((1, 10), (1, 10), c), None, "confidence {c}");
        }
    }

    #[test]
    fn normal_quantiles() {
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-12);
        assert!((normal_quantile(0.995) - 2.575_829_303_548_901).abs() < 1e-12);
        assert!(normal_quantile(0.5).abs() < 1e-15);
    }

    #[test]
    fn policies_outside_the_range_are_refused() {
        assert_eq!(Policy::default().holdout_share(), DEFAULT_HOLDOUT_SHARE);
        assert_eq!(Policy::new(0.0).unwrap().holdout_share(), 0.0);
        assert_eq!(Policy::new(MAX_HOLDOUT_SHARE).unwrap().holdout_share(), MAX_HOLDOUT_SHARE);
        for bad in [-0.01, MAX_HOLDOUT_SHARE + 1e-9, 1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(Policy::new(bad), Err(BanditError::HoldoutShare(_))), "{bad}");
        }
    }

    #[test]
    fn variant_sets_are_checked() {
        let v = |id: &str, kind, text: &str| Variant { id: id.into(), kind, text: text.into() };
        let ctx = ContextKey::new("rage", "pricing");
        let ok = VariantSet {
            context: ctx.clone(),
            variants: vec![
                v("msg", VariantKind::Message, "Having trouble? We can help."),
                v("card", VariantKind::Card, ""),
                v("none", VariantKind::Nothing, ""),
            ],
        };
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.arms(), arms(&[("msg", 0, 0), ("card", 0, 0), ("none", 0, 0)]));
        let with = |variants| VariantSet { context: ctx.clone(), variants };
        assert_eq!(with(vec![]).validate(), Err(BanditError::NoVariants));
        let many = (0..=MAX_VARIANTS).map(|i| v(&format!("v{i}"), VariantKind::Nothing, "")).collect();
        assert_eq!(with(many).validate(), Err(BanditError::TooManyVariants { count: MAX_VARIANTS + 1, max: MAX_VARIANTS }));
        let exactly = (0..MAX_VARIANTS).map(|i| v(&format!("v{i}"), VariantKind::Nothing, "")).collect();
        assert_eq!(with(exactly).validate(), Ok(()));
        assert_eq!(with(vec![v("a b", VariantKind::Nothing, "")]).validate(), Err(BanditError::VariantId("a b".into())));
        let long_id = "x".repeat(MAX_VARIANT_ID_BYTES + 1);
        assert_eq!(with(vec![v(&long_id, VariantKind::Nothing, "")]).validate(), Err(BanditError::VariantId(long_id)));
        assert_eq!(
            with(vec![v("a", VariantKind::Nothing, ""), v("a", VariantKind::Card, "")]).validate(),
            Err(BanditError::DuplicateVariant("a".into()))
        );
        assert_eq!(with(vec![v("d", VariantKind::Discount, " ")]).validate(), Err(BanditError::MissingText("d".into())));
        assert_eq!(with(vec![v("n", VariantKind::Nothing, "hi")]).validate(), Err(BanditError::TextOnNothing("n".into())));
        let text = "x".repeat(MAX_VARIANT_TEXT_BYTES + 1);
        assert!(matches!(with(vec![v("m", VariantKind::Message, &text)]).validate(), Err(BanditError::TextTooLong { .. })));
        let text = "x".repeat(MAX_VARIANT_TEXT_BYTES);
        assert_eq!(with(vec![v("m", VariantKind::Message, &text)]).validate(), Ok(()));
        assert_eq!(serde_json::to_string(&VariantKind::Callback).unwrap(), "\"callback\"");
    }
}
