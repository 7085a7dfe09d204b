//! **The committed trace corpus is what it says it is.**
//!
//! `corpus/` holds traces the real SDK's loader produced in real Chromium while scripted
//! scenarios ran (`cargo run --release -p siq-e2e --bin record-corpus -- --out corpus`). These
//! tests read it back: the manifest parses and names every file, every file is an event CSV the
//! product's own parser accepts (`sentientiq_server::confirm::replay::parse_csv_row`), in time order,
//! every scenario has train and test traces, and the traces show what their labels rest on —
//! the must-not-fire clicks were answered by the page, the rage burst was not, the abandoning
//! visitor left or hid the page. A last test records one scenario live, to prove the recorder
//! still sees the loader's rows.

use std::collections::BTreeMap;
use std::path::PathBuf;

use shared_physics::detect;
use shared_physics::{Kind, Sample};
use siq_e2e::browser::Chromium;
use siq_e2e::corpus::{self, Pages, MANIFEST_HEADER, SCENARIOS};
use siq_e2e::stack::{Backend, Stack};
use siq_e2e::util::workspace_root;

/// One line of `corpus/manifest.csv`.
#[derive(Debug)]
struct Entry {
    file: String,
    scenario: String,
    label: String,
    split: String,
    seed: u64,
    episode: (u32, u32),
}

/// One row of a trace.
#[derive(Debug)]
struct Row {
    t: u32,
    kind: Kind,
    x: f64,
    y: f64,
    target: String,
}

fn corpus_dir() -> PathBuf {
    workspace_root().join("corpus")
}

fn manifest() -> Vec<Entry> {
    let path = corpus_dir().join("manifest.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(MANIFEST_HEADER), "manifest header");
    lines
        .enumerate()
        .map(|(i, line)| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 7, "manifest line {}: {line:?}", i + 2);
            let num = |s: &str| s.parse::<u64>().unwrap_or_else(|_| panic!("manifest line {}: {s:?} is not a number", i + 2));
            Entry {
                file: f[0].into(),
                scenario: f[1].into(),
                label: f[2].into(),
                split: f[3].into(),
                seed: num(f[4]),
                episode: (num(f[5]) as u32, num(f[6]) as u32),
            }
        })
        .collect()
}

/// Reads a trace with the product's event-CSV parser and checks every row.
fn trace(entry: &Entry) -> Vec<Row> {
    let path = corpus_dir().join("traces").join(&entry.file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(text.as_bytes());
    let header: Vec<String> = rdr.headers().expect("a header").iter().map(String::from).collect();
    assert_eq!(header.join(","), corpus::CSV_HEADER, "{}: header", entry.file);
    let stem = entry.file.trim_end_matches(".csv");
    let mut rows: Vec<Row> = Vec::new();
    for rec in rdr.records() {
        let rec = rec.unwrap_or_else(|e| panic!("{}: {e}", entry.file));
        let line = rec.position().map_or(0, |p| p.line());
        let row = sentientiq_server::confirm::replay::parse_csv_row(&rec).unwrap_or_else(|e| panic!("{}:{line}: {e}", entry.file));
        assert_eq!(row.session, stem, "{}:{line}: the session is the file stem", entry.file);
        let s = row.sample;
        if let Some(prev) = rows.last() {
            assert!(s.t_ms >= prev.t, "{}:{line}: time goes backwards", entry.file);
        }
        if s.kind.is_pointer() {
            let (w, h) = (corpus_viewport().0, corpus_viewport().1);
            if s.kind == Kind::Scroll {
                assert!(s.x == 0 && (0..=32767).contains(&s.y), "{}:{line}: scroll row {s:?}", entry.file);
            } else {
                assert!(
                    (-100..=w).contains(&i32::from(s.x)) && (-100..=h).contains(&i32::from(s.y)),
                    "{}:{line}: off screen {s:?}",
                    entry.file
                );
            }
        } else {
            assert!(row.target.is_empty(), "{}:{line}: a context row names a section", entry.file);
        }
        if matches!(s.kind, Kind::Down | Kind::Click) {
            assert!(!row.target.is_empty(), "{}:{line}: every corpus page puts its clickable things in a section", entry.file);
        }
        rows.push(Row { t: s.t_ms, kind: s.kind, x: f64::from(s.x), y: f64::from(s.y), target: row.target.clone() });
    }
    let span = rows.last().map_or(0, |r| r.t);
    assert!((corpus::MIN_SPAN_MS as u32..=corpus::MAX_SPAN_MS as u32).contains(&span), "{}: the trace spans {span} ms", entry.file);
    assert!(rows.iter().filter(|r| r.kind == Kind::Move).count() >= 50, "{}: too few moves", entry.file);
    assert!(entry.episode.0 <= entry.episode.1 && entry.episode.1 <= span + 2_000, "{}: episode {:?}", entry.file, entry.episode);
    rows
}

fn corpus_viewport() -> (i32, i32) {
    let (w, h) = siq_e2e::browser::VIEWPORT;
    (w as i32, h as i32)
}

/// For every click, whether the page answered it (`shared_physics::detect::answered`: a
/// `response` within the response window whatever clicks came in between, or its press's own).
fn answered(rows: &[Row]) -> Vec<bool> {
    let samples: Vec<Sample> = rows.iter().map(|r| Sample { t_ms: r.t, x: r.x as i16, y: r.y as i16, kind: r.kind, section: 0 }).collect();
    let clicks = samples.iter().enumerate().filter(|(_, s)| s.kind == Kind::Click);
    clicks.map(|(i, s)| detect::answered(&samples[i + 1..], s.t_ms).is_some()).collect()
}

fn count(rows: &[Row], kind: Kind) -> usize {
    rows.iter().filter(|r| r.kind == kind).count()
}

#[test]
fn the_manifest_names_every_trace_with_its_scenario_label_and_split() {
    let entries = manifest();
    let mut per: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for e in &entries {
        let s = corpus::scenario(&e.scenario).unwrap_or_else(|| panic!("{}: unknown scenario {}", e.file, e.scenario));
        assert_eq!(corpus::label_from_name(&e.label), Some(s.label), "{}: label", e.file);
        assert_eq!(e.split, corpus::split(e.seed), "{}: seeds 1-7 are train, 8-10 test", e.file);
        assert_eq!(e.file, format!("{}.csv", corpus::session_name(&e.scenario, e.seed)), "file name");
        let c = per.entry(s.name).or_default();
        if e.split == "train" {
            c.0 += 1;
        } else {
            c.1 += 1;
        }
        trace(e);
    }
    for s in SCENARIOS {
        let (train, test) = per.get(s.name).copied().unwrap_or_default();
        assert!(train > 0 && test > 0, "{}: {train} train and {test} test traces", s.name);
    }
    let files = std::fs::read_dir(corpus_dir().join("traces")).expect("corpus/traces").count();
    assert_eq!(files, entries.len(), "every file in corpus/traces is in the manifest");
}

#[test]
fn must_not_fire_clicks_were_answered_by_the_page() {
    // answers_late's page answers late (300-800 ms) or once per load, within the loader's 1 s
    // answer window: its clicks are answered too.
    for e in manifest().iter().filter(|e| e.label == "none") {
        let rows = trace(e);
        let answers = answered(&rows);
        if e.scenario == "leave_side" {
            // Looks and a way out, no click at all.
            assert!(answers.is_empty(), "{}: {} clicks", e.file, answers.len());
            continue;
        }
        let yes = answers.iter().filter(|a| **a).count();
        assert!(!answers.is_empty(), "{}: no clicks", e.file);
        // A triple click's word and paragraph are the gesture's own answer, which answers its
        // three presses (the first press alone only put a caret in the text).
        assert_eq!(yes, answers.len(), "{}: {yes} of {} clicks answered", e.file, answers.len());
    }
}

#[test]
fn the_rage_burst_is_never_answered() {
    for e in manifest().iter().filter(|e| e.scenario == "rage_dead_button") {
        let rows = trace(e);
        let burst: Vec<&Row> = rows.iter().filter(|r| r.kind == Kind::Click && (e.episode.0..=e.episode.1).contains(&r.t)).collect();
        assert!((5..=10).contains(&burst.len()), "{}: {} clicks in the episode", e.file, burst.len());
        assert_eq!(count(&rows, Kind::Response), 0, "{}: the dead button answered", e.file);
    }
}

/// `rage_wide`'s rule (corpus/README.md): 3-12 presses at the dead button, each within 60 px of
/// the first; the button never answers (a press that missed it and selected a word may).
#[test]
fn the_wide_rage_bursts_press_3_to_12_times_within_60_px() {
    let mut traces = 0;
    for e in manifest().iter().filter(|e| e.scenario == "rage_wide") {
        let rows = trace(e);
        let presses: Vec<&Row> = rows.iter().filter(|r| r.kind == Kind::Down && (e.episode.0..=e.episode.1).contains(&r.t)).collect();
        assert!((3..=12).contains(&presses.len()), "{}: {} presses in the episode", e.file, presses.len());
        let first = presses[0];
        for p in &presses {
            let d = ((p.x - first.x).powi(2) + (p.y - first.y).powi(2)).sqrt();
            assert!(d <= 61.0, "{}: a press {d:.0} px from the first", e.file);
        }
        assert!(count(&rows, Kind::Click) >= 3, "{}: fewer than 3 clicks", e.file);
        traces += 1;
    }
    assert_eq!(traces, 60, "rage_wide seeds 1-60");
}

/// `answers_late`'s rule (corpus/README.md): the visitor clicks the working button again and
/// again (2-5 times a round, 2-3 rounds), on the results (the button stays where it is: every
/// click is answered, `must_not_fire_clicks_were_answered_by_the_page`).
#[test]
fn the_late_answering_page_is_clicked_again_and_again() {
    let mut traces = 0;
    for e in manifest().iter().filter(|e| e.scenario == "answers_late") {
        let rows = trace(e);
        let clicks: Vec<&Row> = rows.iter().filter(|r| r.kind == Kind::Click && (e.episode.0..=e.episode.1).contains(&r.t)).collect();
        assert!((4..=15).contains(&clicks.len()), "{}: {} clicks in the episode", e.file, clicks.len());
        assert!(clicks.iter().all(|c| c.target == "results"), "{}: a click outside the results", e.file);
        traces += 1;
    }
    assert_eq!(traces, 60, "answers_late seeds 1-60");
}

#[test]
fn abandonment_traces_leave_or_hide_the_page_and_others_do_not() {
    for e in manifest() {
        let rows = trace(&e);
        let exits = count(&rows, Kind::Leave) + count(&rows, Kind::Hidden);
        if e.label == "abandonment" {
            let at = rows.iter().find(|r| matches!(r.kind, Kind::Leave | Kind::Hidden));
            assert!(at.is_some_and(|r| r.t >= e.episode.0), "{}: no leave or hidden row in the episode", e.file);
            if e.scenario == "exit_flick" {
                let y = at.map_or(0.0, |r| r.y);
                assert!(y < 0.0, "{}: the flick left at y = {y}, not above the viewport", e.file);
            }
        } else if e.scenario == "leave_side" {
            // The pointer leaves through the right or the bottom edge, once; the loader records
            // where (the mouseout's own coordinates).
            let leave = rows.iter().find(|r| r.kind == Kind::Leave).unwrap_or_else(|| panic!("{}: no leave row", e.file));
            let (w, h) = corpus_viewport();
            assert!(leave.x >= f64::from(w) || leave.y >= f64::from(h), "{}: left at ({}, {})", e.file, leave.x, leave.y);
            assert_eq!((count(&rows, Kind::Leave), count(&rows, Kind::Hidden)), (1, 0), "{}: one leave, no hidden", e.file);
        } else if e.scenario == "thrash_wide" {
            // Its flicks go 40-400 px from an anchor near the form, and one may cross the
            // window's edge (seeds 55 and 81 leave it): a leave, never a hidden page.
            assert_eq!(count(&rows, Kind::Hidden), 0, "{}: hides the page", e.file);
        } else {
            assert_eq!(exits, 0, "{}: leaves or hides the page", e.file);
        }
    }
}

#[test]
fn confusion_scrolling_reverses_at_least_four_times() {
    for e in manifest().iter().filter(|e| e.scenario == "scroll_hunt") {
        let path = corpus_dir().join("traces").join(&e.file);
        let text = std::fs::read_to_string(&path).expect("trace");
        let ys: Vec<i64> = text.lines().filter(|l| l.contains(",scroll,")).filter_map(|l| l.split(',').nth(4)?.parse().ok()).collect();
        let mut reversals = 0;
        let mut dir = 0i64;
        for w in ys.windows(2) {
            let d = (w[1] - w[0]).signum();
            if d != 0 && dir != 0 && d != dir {
                reversals += 1;
            }
            if d != 0 {
                dir = d;
            }
        }
        assert!(reversals >= 4, "{}: {reversals} reversals", e.file);
    }
}

/// Live: the recorder sees the real loader's rows, and the stepper's clicks are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_the_stepper_live_gives_answered_clicks() {
    let stack = Stack::start(Backend::Embedded).await.unwrap_or_else(|e| panic!("{e}"));
    let chromium = Chromium::launch().await.unwrap_or_else(|e| panic!("{e}"));
    let pages = Pages::render(&stack).unwrap_or_else(|e| panic!("{e}"));
    let scenario = corpus::scenario("stepper").expect("the stepper scenario");
    let r = corpus::record(&chromium, &pages, scenario, 1).await.unwrap_or_else(|e| panic!("{e}"));
    corpus::check(&r).unwrap_or_else(|e| panic!("stepper-1: {e}\n{}", r.to_csv()));
    let c = r.counts();
    assert!(c[Kind::Click as usize] >= 5, "stepper-1: {} clicks", c[Kind::Click as usize]);
    assert_eq!(c[Kind::Response as usize], c[Kind::Click as usize], "stepper-1: every click answered\n{}", r.to_csv());
    assert!(r.rows.iter().any(|row| row.kind == Kind::Click && row.target == "cart"), "clicks carry their section");
    chromium.close().await;
    stack.shutdown().await;
}
