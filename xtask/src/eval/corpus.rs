//! The labelled corpus (`corpus/`, recorded by driving the real SDK in Chromium, see
//! `corpus/README.md`) and the scoring of every emotion on it: precision, recall and F1 per
//! emotion, the confusion matrix, calibration (reliability table, Brier score, expected
//! calibration error), and the Platt fit of [`shared_physics::calibration`].
//!
//! ## Units
//!
//! * A **trace** claims emotion X with confidence c when the detector emitted an X detection
//!   anywhere in it and c is the highest such confidence. A trace labelled X is a positive for
//!   X; every other trace (including the lead-ins of other labels) is a negative.
//! * The **predicted label** of a trace is its most confident claim at ≥ [`EMITTED`], else
//!   `none`.
//! * **Calibration** points are claims: (c, whether the trace's label is that emotion), on the
//!   test split, plus the human recordings of the test split (every claim there is wrong: they
//!   are ordinary behaviour).
//! * **Fit** (`--fit`): the train split and the human train half, replayed with an emit floor of
//!   1%, give each trace's highest score per emotion; a logistic regression of the label on that
//!   score (L2 0.01, Newton steps) gives `a`, `b`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use shared_physics::detect::{Detection, Detector, Params};
use shared_physics::emotions::classify;
use shared_physics::{Emotion, Kind, Sample};

use super::{Click, Rule};

/// A claim at or above this is emitted (the SDK sends it).
pub const EMITTED: f32 = 0.5;
/// A claim at or above this is intervention grade.
pub const INTERVENTION: f32 = 0.85;

/// Train or test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Tuned on.
    Train,
    /// Reported.
    Test,
}

/// One trace of the corpus.
#[derive(Clone, Debug)]
pub struct Trace {
    /// File stem.
    pub name: String,
    /// Scenario name.
    pub scenario: String,
    /// Its label (`None` = must not fire).
    pub label: Option<Emotion>,
    /// Split.
    pub split: Split,
    /// The rows as samples, sections interned in order of appearance.
    pub samples: Vec<Sample>,
    /// Section names by id − 1.
    pub sections: Vec<String>,
}

/// Parses one event-CSV trace (`docs/event-csv.md`).
pub fn parse_trace(name: &str, text: &str) -> Result<(Vec<Sample>, Vec<String>), String> {
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut samples = Vec::new();
    let mut sections: Vec<String> = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("{name}: {e}"))?;
        let line = rec.position().map_or(0, |p| p.line());
        let bad = |why: String| format!("{name} line {line}: {why}");
        let t: f64 = rec.get(1).unwrap_or("").parse().map_err(|_| bad("t_ms is not a number".into()))?;
        let kind_name = rec.get(2).unwrap_or("");
        let kind = Kind::from_name(kind_name).ok_or_else(|| bad(format!("unknown kind {kind_name:?}")))?;
        let coord = |i: usize| -> Result<i16, String> {
            let v = rec.get(i).unwrap_or("");
            if v.is_empty() {
                return Ok(0);
            }
            v.parse::<f64>().map(|v| v.clamp(i16::MIN as f64, i16::MAX as f64) as i16).map_err(|_| bad(format!("bad coordinate {v:?}")))
        };
        let target = rec.get(5).unwrap_or("");
        let section = if target.is_empty() || !kind.is_pointer() {
            0
        } else if let Some(i) = sections.iter().position(|s| s == target) {
            i as u8 + 1
        } else if sections.len() < 255 {
            sections.push(target.to_string());
            sections.len() as u8
        } else {
            0
        };
        samples.push(Sample { t_ms: t as u32, x: coord(3)?, y: coord(4)?, kind, section });
    }
    Ok((samples, sections))
}

/// Reads `dir/manifest.csv` and every trace it names.
pub fn load(dir: &Path) -> Result<Vec<Trace>, String> {
    let manifest = dir.join("manifest.csv");
    let text = std::fs::read_to_string(&manifest).map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = rdr.headers().map_err(|e| e.to_string())?.clone();
    let col = |h: &str| headers.iter().position(|c| c == h).ok_or_else(|| format!("{}: no column `{h}`", manifest.display()));
    let (cf, cs, cl, csp) = (col("file")?, col("scenario")?, col("label")?, col("split")?);
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("{}: {e}", manifest.display()))?;
        let file = rec.get(cf).unwrap_or("");
        let label = match rec.get(cl).unwrap_or("") {
            "none" => None,
            l => Some(Emotion::from_name(l).ok_or_else(|| format!("{}: unknown label {l:?}", manifest.display()))?),
        };
        let split = match rec.get(csp).unwrap_or("") {
            "train" => Split::Train,
            "test" => Split::Test,
            s => return Err(format!("{}: unknown split {s:?}", manifest.display())),
        };
        // `file` names a trace in `traces/` (as the recorder writes it), or a path from `dir`.
        let path = if dir.join("traces").join(file).is_file() { dir.join("traces").join(file) } else { dir.join(file) };
        let body = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let name = Path::new(file).file_stem().map_or(file.to_string(), |s| s.to_string_lossy().into_owned());
        let (samples, sections) = parse_trace(&name, &body)?;
        out.push(Trace { name, scenario: rec.get(cs).unwrap_or("").to_string(), label, split, samples, sections });
    }
    Ok(out)
}

/// Replays `samples` through the full detector with `params`; `sections` are the names of the
/// section ids (classified as the SDK does when it learns a name).
pub fn replay(samples: &[Sample], sections: &[String], params: Params) -> Vec<Detection> {
    let mut det = Detector::new(params);
    for (i, name) in sections.iter().enumerate() {
        det.set_section_class(i as u8 + 1, classify(name.as_bytes()));
    }
    samples.iter().filter_map(|s| det.push(*s)).collect()
}

/// Per emotion (variant order), the highest (confidence, score) claimed, if any.
pub type Claims = [Option<(f32, f32)>; 6];

/// Highest (confidence, score) per emotion among `detections`.
pub fn claims(detections: &[Detection]) -> Claims {
    let mut out = [None; 6];
    for d in detections {
        let slot: &mut Option<(f32, f32)> = &mut out[d.emotion as usize];
        let score = d.features.score;
        if slot.is_none_or(|(c, _)| d.confidence > c) {
            *slot = Some((d.confidence, score));
        }
    }
    out
}

/// The predicted label: the most confident claim at ≥ `EMITTED`.
pub fn predicted(claims: &[Option<(f32, f32)>; 6]) -> Option<Emotion> {
    Emotion::ALL
        .into_iter()
        .filter_map(|e| claims[e as usize].filter(|(c, _)| *c >= EMITTED).map(|(c, _)| (e, c)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(e, _)| e)
}

/// True positives, false positives, false negatives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Labelled X, claimed X.
    pub tp: u32,
    /// Not labelled X, claimed X.
    pub fp: u32,
    /// Labelled X, not claimed.
    pub fn_: u32,
}

impl Counts {
    /// Precision, recall, F1 (1 where undefined).
    pub fn prf(&self) -> (f64, f64, f64) {
        let p = if self.tp + self.fp == 0 { 1.0 } else { self.tp as f64 / (self.tp + self.fp) as f64 };
        let r = if self.tp + self.fn_ == 0 { 1.0 } else { self.tp as f64 / (self.tp + self.fn_) as f64 };
        let f = if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) };
        (p, r, f)
    }
}

/// Counts for `emotion` at threshold `at` over `(label, claims)` pairs.
pub fn counts<'a>(items: impl Iterator<Item = (Option<Emotion>, &'a [Option<(f32, f32)>; 6])>, emotion: Emotion, at: f32) -> Counts {
    let mut c = Counts::default();
    for (label, cl) in items {
        let claimed = cl[emotion as usize].is_some_and(|(conf, _)| conf >= at);
        match (label == Some(emotion), claimed) {
            (true, true) => c.tp += 1,
            (false, true) => c.fp += 1,
            (true, false) => c.fn_ += 1,
            (false, false) => {}
        }
    }
    c
}

/// Reliability bins over `[0.5, 1]` in tenths, Brier score and ECE of `(confidence, correct)`
/// points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Calibration {
    /// Per bin: points, mean confidence, fraction correct.
    pub bins: [(u32, f64, f64); 5],
    /// Mean of (c − y)².
    pub brier: f64,
    /// Σ (n_bin / n)·|accuracy − confidence|.
    pub ece: f64,
    /// Points.
    pub n: u32,
}

/// Calibration of `points`.
pub fn calibration(points: &[(f32, bool)]) -> Calibration {
    let mut sums = [(0u32, 0.0f64, 0.0f64); 5];
    let mut brier = 0.0;
    for &(c, y) in points {
        let b = (((c as f64 - 0.5) * 10.0).floor().max(0.0) as usize).min(4);
        sums[b].0 += 1;
        sums[b].1 += c as f64;
        sums[b].2 += f64::from(u8::from(y));
        brier += (c as f64 - f64::from(u8::from(y))).powi(2);
    }
    let n = points.len() as u32;
    let mut cal = Calibration { n, ..Default::default() };
    for (i, &(k, sc, sy)) in sums.iter().enumerate() {
        if k > 0 {
            cal.bins[i] = (k, sc / k as f64, sy / k as f64);
            cal.ece += (k as f64 / n as f64) * (sy / k as f64 - sc / k as f64).abs();
        }
    }
    cal.brier = if n == 0 { 0.0 } else { brier / n as f64 };
    cal
}

/// Logistic regression of `y` on `z` (`P(y) = σ(a·z + b)`) with a Gaussian prior of weight
/// `lambda` centred on the identity (`a = 1, b = 0`), so a small or separable sample gives a
/// finite, modest correction instead of an infinite slope: Newton steps, halved until the
/// penalised log-loss goes down.
pub fn fit_platt(points: &[(f32, bool)], lambda: f64) -> (f64, f64) {
    let loss = |a: f64, b: f64| -> f64 {
        let mut l = 0.5 * lambda * ((a - 1.0).powi(2) + b * b);
        for &(z, y) in points {
            let m = a * z as f64 + b;
            // log(1 + e^m) − y·m, computed stably.
            l += m.max(0.0) + (-m.abs()).exp().ln_1p() - if y { m } else { 0.0 };
        }
        l
    };
    let (mut a, mut b) = (1.0f64, 0.0f64);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (lambda * (a - 1.0), lambda * b, lambda, 0.0, lambda);
        for &(z, y) in points {
            let z = z as f64;
            let p = 1.0 / (1.0 + (-(a * z + b)).exp());
            let r = p - f64::from(u8::from(y));
            let w = p * (1.0 - p);
            ga += r * z;
            gb += r;
            haa += w * z * z;
            hab += w * z;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-12 {
            break;
        }
        let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
        let (before, mut step) = (loss(a, b), 1.0);
        while step > 1e-6 && loss(a - step * da, b - step * db) > before {
            step /= 2.0;
        }
        a -= step * da;
        b -= step * db;
        if (step * da).abs() + (step * db).abs() < 1e-9 {
            break;
        }
    }
    (a, b)
}

/// Whether each peer rule fires anywhere in `samples` (PostHog, Amplitude/Mixpanel, Datadog,
/// OpenReplay's thrashing).
pub fn peers_fire(samples: &[Sample]) -> [bool; 4] {
    let (mut ph, mut amp, mut dd) = (super::PostHog::default(), super::Amplitude::default(), super::Datadog::default());
    let mut thrash = super::OpenReplay::default();
    let mut fired = [false; 4];
    for s in samples {
        fired[3] |= thrash.sample(s);
        fired[2] |= dd.feed(s, 0).is_some();
    }
    fired[2] |= dd.finish().is_some();
    for s in samples.iter().filter(|s| s.kind == Kind::Click) {
        let c = Click::from(s);
        for (i, f) in [ph.click(c), amp.click(c)].into_iter().enumerate() {
            fired[i] |= f;
        }
    }
    fired
}

fn label_name(l: Option<Emotion>) -> &'static str {
    l.map_or("none", Emotion::name)
}

/// One scored trace.
pub struct Scored<'a> {
    /// The trace.
    pub trace: &'a Trace,
    /// Its claims.
    pub claims: [Option<(f32, f32)>; 6],
    /// Peer rules firing.
    pub peers: [bool; 4],
}

/// Scores every trace with the default parameters.
pub fn score(traces: &[Trace]) -> Vec<Scored<'_>> {
    traces
        .iter()
        .map(|t| Scored { trace: t, claims: claims(&replay(&t.samples, &t.sections, Params::DEFAULT)), peers: peers_fire(&t.samples) })
        .collect()
}

/// The corpus report for the `split` traces: per-emotion table, confusion matrix, per-scenario
/// table with the peers, and the calibration of the claims together with `human_claims`
/// (claims on ordinary human recordings of the same split, all wrong).
pub fn report(scored: &[Scored<'_>], split: Split, human_claims: &[[Option<(f32, f32)>; 6]]) -> String {
    let items: Vec<&Scored<'_>> = scored.iter().filter(|s| s.trace.split == split).collect();
    let mut t = String::new();
    let which = if split == Split::Test { "test" } else { "train" };
    let _ = writeln!(t, "== corpus, {which} split: {} traces (recorded by the real SDK in Chromium; corpus/README.md)", items.len());
    let _ = writeln!(
        t,
        "{:<12} {:>4} {:>10} {:>8} {:>8} {:>8}   {:>10} {:>8} {:>8}",
        "emotion", "n", "prec@0.5", "rec@0.5", "F1@0.5", "FP@0.5", "prec@0.85", "rec@0.85", "FP@0.85"
    );
    for e in Emotion::ALL {
        let n = items.iter().filter(|s| s.trace.label == Some(e)).count();
        let it = || items.iter().map(|s| (s.trace.label, &s.claims));
        let (lo, hi) = (counts(it(), e, EMITTED), counts(it(), e, INTERVENTION));
        let ((p, r, f), (ph, rh, _)) = (lo.prf(), hi.prf());
        let _ = writeln!(
            t,
            "{:<12} {n:>4} {:>9.1}% {:>7.1}% {:>7.1}% {:>8}   {:>9.1}% {:>7.1}% {:>8}",
            e.name(),
            100.0 * p,
            100.0 * r,
            100.0 * f,
            lo.fp,
            100.0 * ph,
            100.0 * rh,
            hi.fp
        );
    }
    // Confusion matrix.
    let cols: Vec<Option<Emotion>> = Emotion::ALL.into_iter().map(Some).chain([None]).collect();
    let _ = write!(t, "\nconfusion ({which}; rows = label, columns = predicted at >= {EMITTED}):\n{:<12}", "");
    for c in &cols {
        let _ = write!(t, " {:>11}", label_name(*c));
    }
    let _ = writeln!(t);
    for r in &cols {
        let row: Vec<&&Scored<'_>> = items.iter().filter(|s| s.trace.label == *r).collect();
        if row.is_empty() {
            continue;
        }
        let _ = write!(t, "{:<12}", label_name(*r));
        for c in &cols {
            let k = row.iter().filter(|s| predicted(&s.claims) == *c).count();
            let _ = write!(t, " {k:>11}");
        }
        let _ = writeln!(t);
    }
    // Per scenario, with the peers.
    let _ = writeln!(t, "\nper scenario ({which}): traces where each fired (ours: any emotion at >= {INTERVENTION}, and which; PostHog, Amplitude, Datadog: rage clicks; OpenReplay: mouse thrashing)");
    let _ = writeln!(
        t,
        "{:<18} {:<12} {:>3} {:>26} {:>8} {:>10} {:>8} {:>11}",
        "scenario", "label", "n", "ours >= 0.85", "PostHog", "Amplitude", "Datadog", "OpenReplay"
    );
    let mut scenarios: Vec<&str> = items.iter().map(|s| s.trace.scenario.as_str()).collect();
    scenarios.dedup();
    for sc in scenarios {
        let these: Vec<&&Scored<'_>> = items.iter().filter(|s| s.trace.scenario == sc).collect();
        let mut ours: HashMap<&str, u32> = HashMap::new();
        let mut fired = 0;
        for s in &these {
            let hi: Vec<Emotion> =
                Emotion::ALL.into_iter().filter(|e| s.claims[*e as usize].is_some_and(|(c, _)| c >= INTERVENTION)).collect();
            fired += u32::from(!hi.is_empty());
            for e in hi {
                *ours.entry(e.name()).or_default() += 1;
            }
        }
        let mut what: Vec<String> = ours.iter().map(|(k, v)| format!("{k} {v}")).collect();
        what.sort();
        let peer = |i: usize| these.iter().filter(|s| s.peers[i]).count();
        let _ = writeln!(
            t,
            "{sc:<18} {:<12} {:>3} {:>26} {:>8} {:>10} {:>8} {:>11}",
            label_name(these[0].trace.label),
            these.len(),
            format!("{fired} ({})", if what.is_empty() { "-".into() } else { what.join(", ") }),
            peer(0),
            peer(1),
            peer(2),
            peer(3)
        );
    }
    let wrong: Vec<String> = items
        .iter()
        .filter(|s| predicted(&s.claims) != s.trace.label)
        .map(|s| format!("{} ({} -> {})", s.trace.name, label_name(s.trace.label), label_name(predicted(&s.claims))))
        .collect();
    if !wrong.is_empty() {
        let _ = writeln!(t, "misclassified ({which}): {}", wrong.join(", "));
    }
    // Calibration.
    let _ = writeln!(
        t,
        "\ncalibration ({which} claims at >= {EMITTED}, plus, except for rage and frustration, {} human recordings of the split as negatives): bins 0.5-0.6 .. 0.9-1.0 as n:mean conf/accuracy",
        human_claims.len()
    );
    let _ = writeln!(t, "{:<12} {:>5} {:>8} {:>7}   reliability", "emotion", "n", "Brier", "ECE");
    for e in Emotion::ALL {
        let mut points: Vec<(f32, bool)> = items
            .iter()
            .filter_map(|s| s.claims[e as usize].filter(|(c, _)| *c >= EMITTED).map(|(c, _)| (c, s.trace.label == Some(e))))
            .collect();
        points.extend(human_claims.iter().filter_map(|cl| cl[e as usize].filter(|(c, _)| *c >= EMITTED).map(|(c, _)| (c, false))));
        let cal = calibration(&points);
        let bins: Vec<String> =
            cal.bins.iter().map(|&(k, c, a)| if k == 0 { "-".to_string() } else { format!("{k}:{c:.2}/{a:.2}") }).collect();
        let _ = writeln!(t, "{:<12} {:>5} {:>8.3} {:>7.3}   {}", e.name(), cal.n, cal.brier, cal.ece, bins.join("  "));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_parses_with_sections_interned_and_context_rows() {
        let text = "session,t_ms,kind,x,y,target\n\
                    a,10,move,5,6,pricing\n\
                    a,20,click,5,6,pricing\n\
                    a,25,response,,,\n\
                    a,30,move,50,6,hero\n\
                    a,40,leave,,,\n";
        let (samples, sections) = parse_trace("a", text).unwrap();
        assert_eq!(sections, ["pricing", "hero"]);
        assert_eq!(samples.iter().map(|s| s.section).collect::<Vec<_>>(), [1, 1, 0, 2, 0]);
        assert_eq!(samples[2].kind, Kind::Response);
        assert!(parse_trace("b", "session,t_ms,kind,x,y,target\nb,1,hover,1,1,\n").is_err());
    }

    #[test]
    fn counts_calibration_and_the_fit_behave() {
        let c = |x: f32| [Some((x, x)), None, None, None, None, None];
        let (hi, lo, none) = (c(0.95), c(0.6), [None; 6]);
        let items = [(Some(Emotion::Rage), &hi), (Some(Emotion::Rage), &lo), (None, &hi), (Some(Emotion::Rage), &none)];
        assert_eq!(counts(items.iter().copied(), Emotion::Rage, 0.5), Counts { tp: 2, fp: 1, fn_: 1 });
        assert_eq!(counts(items.iter().copied(), Emotion::Rage, 0.85), Counts { tp: 1, fp: 1, fn_: 2 });
        assert_eq!(predicted(&hi), Some(Emotion::Rage));
        assert_eq!(predicted(&c(0.4)), None);

        let cal = calibration(&[(0.95, true), (0.95, false), (0.55, false), (0.55, false)]);
        assert_eq!(cal.bins[4], (2, 0.949999988079071, 0.5));
        assert!((cal.ece - (0.5 * 0.45 + 0.5 * 0.55)).abs() < 1e-6, "{}", cal.ece);
        assert!((cal.brier - (0.0025 + 0.9025 + 2.0 * 0.3025) / 4.0).abs() < 1e-6);

        // Points drawn from σ(2z − 1): the fit finds about (2, −1).
        let mut pts = Vec::new();
        for i in 0..400 {
            let z = (i % 40) as f32 / 10.0 - 2.0;
            let p = 1.0 / (1.0 + (-(2.0 * z as f64 - 1.0)).exp());
            // Deterministic: the first round(p·10) of every ten repeats are positive.
            pts.push((z, (i / 40) < (p * 10.0).round() as usize));
        }
        let (a, b) = fit_platt(&pts, 1e-6);
        assert!((a - 2.0).abs() < 0.3 && (b + 1.0).abs() < 0.3, "{a} {b}");
    }
}
