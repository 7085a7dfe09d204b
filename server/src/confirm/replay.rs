//! `sentientiq detect --input FILE`: replays recorded events through the same streaming detector
//! the SDK runs ([`shared_physics::detect::Detector`]) and prints one JSON line per detection it
//! would have sent: `{"session","t_ms","emotion","confidence","section"}`.
//!
//! Two inputs, both turned into [`Row`]s and fed through one [`Replay`]:
//!
//! * **Event CSV** ([`replay_csv`]; `docs/event-csv.md`): header `session,t_ms,kind,x,y,target`.
//!   Pointer kinds `move|down|up|click|scroll` carry viewport CSS px in `x`/`y` (for `scroll`, `y`
//!   is the scroll offset); context kinds `response|leave|hidden|visible` have empty `x`/`y`
//!   (a `response` may carry its signature, a `leave` where the pointer left the document).
//!   `t_ms` is milliseconds since the page started and must not go backwards within a session;
//!   `target` is the section name (may be empty).
//! * **rrweb recording** ([`replay_rrweb`]): a JSON array of rrweb events as exported by rrweb or
//!   PostHog; mouse moves, touch moves, mouse down/up/click and scrolls become pointer rows,
//!   mutations and inputs responses, and full snapshots and mutations give the sections (the
//!   recorded DOM's `data-siq-section`s and landmark ids, as the SDK names them); every other
//!   event is ignored. One file is one session.
//!
//! Context rows become samples of the matching [`Kind`] (`Response`, `Leave`, `Hidden`,
//! `Visible`) with `x = y = 0` (a response: its signature; a leave: where the pointer left, when
//! given) and no section, as the SDK's loader pushes them, and are fed to
//! the detector like pointer rows: a `response` within
//! [`shared_physics::detect::RESPONSE_WINDOW_MS`] of a burst's earlier click makes the burst an
//! answered one, not rage. In rrweb input every DOM mutation and input event becomes a `response`
//! (`docs/event-csv.md`).
//!
//! A bad row (or rrweb event) is reported with its line number (or event index) and skipped; the
//! command then exits non-zero.

use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Write};

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::Value;
use shared_physics::detect::{Detection, Detector, LoaderQuiet, Params, MAX_GESTURE_PRESSES, OWN_ANSWER};
use shared_physics::emotions::{classify, TraceParams};
use shared_physics::{Kind, Sample};

/// The CSV header, in order.
pub const CSV_HEADER: [&str; 6] = ["session", "t_ms", "kind", "x", "y", "target"];

/// Most distinct section names per session; later names are replayed as "no section" (the SDK
/// interns section names into a `u8`, `0` meaning none).
pub const MAX_SECTIONS: usize = 255;

/// The input formats `sentientiq detect` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The event CSV (`docs/event-csv.md`).
    Csv,
    /// An rrweb event array (rrweb / PostHog recording export).
    Rrweb,
}

impl Format {
    /// The format a file name implies: `.json` is rrweb, anything else CSV.
    pub fn for_path(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Format::Rrweb,
            _ => Format::Csv,
        }
    }

    /// Parses a `--format` value (`csv` or `rrweb`).
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" => Some(Format::Csv),
            "rrweb" => Some(Format::Rrweb),
            _ => None,
        }
    }
}

/// One parsed input row: a sample of any [`Kind`]. Pointer kinds carry coordinates; context
/// kinds (`response`, `leave`, `hidden`, `visible`) have `x = y = 0` and are replayed without a
/// section, as the SDK's loader pushes them. `sample.section` is `0` here; the replay interns
/// `target` per session.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Session name.
    pub session: String,
    /// The sample (time, position, kind).
    pub sample: Sample,
    /// Section name, may be empty.
    pub target: String,
}

/// Where a refused row was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// 1-based line number in a CSV file.
    Line(u64),
    /// 0-based index of the event in an rrweb array.
    Event(u64),
}

/// A row (or rrweb event) that could not be used.
#[derive(Debug, PartialEq)]
pub struct RowError {
    /// Where it is.
    pub at: Location,
    /// What is wrong.
    pub message: String,
}

/// Rows used, per kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KindCounts([u64; Kind::ALL.len()]);

impl KindCounts {
    /// Rows of `kind`.
    pub fn get(&self, kind: Kind) -> u64 {
        self.0[kind as usize]
    }

    fn add(&mut self, kind: Kind) {
        self.0[kind as usize] += 1;
    }
}

impl fmt::Display for KindCounts {
    /// `move 3, down 0, …, visible 1`: every kind, in [`Kind::ALL`] order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} {}", k.name(), self.get(k))?;
        }
        Ok(())
    }
}

/// What a replay saw.
#[derive(Debug, PartialEq)]
pub struct Summary {
    /// The input format.
    pub format: Format,
    /// rrweb only: events in the array (used, ignored and refused).
    pub events: u64,
    /// rrweb only: well-formed events that map to no row.
    pub ignored: u64,
    /// Rows used (for rrweb: the rows its events became; a mouse-move event gives one per position).
    pub rows: u64,
    /// Rows used, per kind.
    pub by_kind: KindCounts,
    /// Detections printed.
    pub detections: u64,
    /// Rows (or events) refused.
    pub errors: Vec<RowError>,
    /// Whether the replay read the page's answers from the input ([`Answers`]).
    pub answers: Answers,
}

impl Summary {
    fn new(format: Format, answers: Answers) -> Summary {
        Summary { format, events: 0, ignored: 0, rows: 0, by_kind: KindCounts::default(), detections: 0, errors: Vec::new(), answers }
    }
}

/// Whether a recording carries the page's answers to clicks (`--answers recorded|none`).
///
/// The detectors that read them (rage's dead clicks, frustration) need to know: a recorder that
/// did not capture answers makes every click look dead. With `None`, rage is capped at 0.80
/// (recorded, below the 0.85 intervention bar: a burst cannot be known dead) and frustration is
/// not looked for, and the summary line says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answers {
    /// The input's `response` rows (rrweb: mutation and input events) are the page's answers.
    Recorded,
    /// The recorder did not capture answers.
    None,
}

impl Answers {
    /// `recorded` or `none`.
    pub fn parse(s: &str) -> Option<Answers> {
        match s {
            "recorded" => Some(Answers::Recorded),
            "none" => Some(Answers::None),
            _ => None,
        }
    }

    /// The detector parameters for this source, from `params`.
    pub fn params(self, params: Params) -> Params {
        Params { trace: TraceParams { answers: self == Answers::Recorded, ..params.trace }, ..params }
    }

    fn of(params: &Params) -> Answers {
        if params.trace.answers {
            Answers::Recorded
        } else {
            Answers::None
        }
    }
}

impl fmt::Display for Summary {
    /// The one-line summary `sentientiq detect` prints to stderr, e.g.
    /// `14 rows, 3 detections, 0 bad rows; by kind: move 4, down 1, …` (CSV) or
    /// `9 events (2 ignored), 12 rows, 3 detections, 0 bad events; by kind: …` (rrweb).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bad = match self.format {
            Format::Csv => "bad rows",
            Format::Rrweb => {
                write!(f, "{} events ({} ignored), ", self.events, self.ignored)?;
                "bad events"
            }
        };
        write!(f, "{} rows, {} detections, {} {bad}; by kind: {}", self.rows, self.detections, self.errors.len(), self.by_kind)?;
        let (clicks, responses) = (self.by_kind.get(Kind::Click), self.by_kind.get(Kind::Response));
        match self.answers {
            Answers::None => f.write_str("; answers: none (rage not claimed, capped at 0.80; frustration not looked for)"),
            Answers::Recorded if clicks > 0 && responses == 0 => write!(
                f,
                "; answers: recorded, but none of {clicks} clicks was answered (every click reads as dead: --answers none if the recorder did not capture them)"
            ),
            Answers::Recorded => f.write_str("; answers: recorded"),
        }
    }
}

/// An input that cannot be replayed at all (as opposed to a bad row, which is skipped).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Reading the input or writing the output failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The rrweb input is not a JSON array (or not valid JSON).
    #[error("not an rrweb recording: {0}")]
    NotRrweb(String),
}

#[derive(Default)]
struct SessionReplay {
    detector: Detector,
    /// The loader's quiet rows the recording does not carry (see [`LoaderQuiet`]).
    quiet: LoaderQuiet,
    sections: HashMap<String, u8>,
    names: Vec<String>,
    last_t: u32,
}

impl SessionReplay {
    fn section_id(&mut self, name: &str) -> u8 {
        if name.is_empty() {
            return 0;
        }
        if let Some(&id) = self.sections.get(name) {
            return id;
        }
        if self.names.len() >= MAX_SECTIONS {
            return 0;
        }
        self.names.push(name.to_string());
        let id = self.names.len() as u8;
        self.sections.insert(name.to_string(), id);
        self.detector.set_section_class(id, classify(name.as_bytes()));
        id
    }
}

/// Feeds rows, session by session, through a detector each and writes detections as JSON lines.
pub struct Replay<'w, W: Write> {
    params: Params,
    sessions: HashMap<String, SessionReplay>,
    out: &'w mut W,
    summary: Summary,
}

impl<'w, W: Write> Replay<'w, W> {
    /// A replay of `format` input writing to `out`.
    pub fn new(format: Format, out: &'w mut W, params: Params) -> Self {
        Replay { params, sessions: HashMap::new(), out, summary: Summary::new(format, Answers::of(&params)) }
    }

    /// Records a refused row.
    pub fn refuse(&mut self, at: Location, message: String) {
        self.summary.errors.push(RowError { at, message });
    }

    /// Feeds one row. A row earlier than its session's previous row is refused (the detector's
    /// evidence window assumes time order).
    pub fn push(&mut self, at: Location, row: Row) -> std::io::Result<()> {
        let params = self.params;
        let sr = self
            .sessions
            .entry(row.session.clone())
            .or_insert_with(|| SessionReplay { detector: Detector::new(params), ..Default::default() });
        let Row { session, mut sample, target } = row;
        if sample.t_ms < sr.last_t {
            let message = format!("t_ms {} is earlier than the session's previous row ({})", sample.t_ms, sr.last_t);
            self.summary.errors.push(RowError { at, message });
            return Ok(());
        }
        sr.last_t = sample.t_ms;
        self.summary.rows += 1;
        self.summary.by_kind.add(sample.kind);
        // Context rows go in as the SDK's loader pushes them: no section (a response's
        // signature and a leave's exit point as given).
        if sample.kind.is_pointer() {
            sample.section = sr.section_id(&target);
        }
        let found: Vec<Detection> = sr.quiet.feed(sample).filter_map(|row| sr.detector.push(row)).collect();
        for d in found {
            write_detection(self.out, &mut self.summary, &session, sr, &d)?;
        }
        Ok(())
    }

    /// Ends the replay: a session whose last click's answer window was still open gets the
    /// loader's quiet row after it (sessions in name order), then the summary.
    pub fn finish(mut self) -> std::io::Result<Summary> {
        let mut names: Vec<&String> = self.sessions.keys().collect();
        names.sort();
        let names: Vec<String> = names.into_iter().cloned().collect();
        for name in names {
            let Some(sr) = self.sessions.get_mut(&name) else { continue };
            if let Some(d) = sr.quiet.end().and_then(|q| sr.detector.push(q)) {
                write_detection(self.out, &mut self.summary, &name, sr, &d)?;
            }
        }
        Ok(self.summary)
    }
}

/// Writes one detection of `session` as a JSON line.
fn write_detection(out: &mut impl Write, summary: &mut Summary, session: &str, sr: &SessionReplay, d: &Detection) -> std::io::Result<()> {
    let section = if d.section == 0 { "" } else { sr.names[d.section as usize - 1].as_str() };
    let line = serde_json::json!({
        "session": session,
        "t_ms": d.t_ms,
        "emotion": d.emotion.name(),
        "confidence": d.confidence_pct() as f64 / 100.0,
        "section": section,
    });
    writeln!(out, "{line}")?;
    summary.detections += 1;
    Ok(())
}

fn parse_num(field: &str, s: &str, lo: f64, hi: f64) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("{field} {s:?} is not a number"))?;
    if !v.is_finite() || v < lo || v > hi {
        return Err(format!("{field} {v} is outside {lo}..={hi}"));
    }
    Ok(v)
}

/// Parses one CSV record (already known to be a data row) into a [`Row`].
pub fn parse_csv_row(rec: &csv::StringRecord) -> Result<Row, String> {
    if rec.len() != CSV_HEADER.len() {
        return Err(format!("expected {} fields, found {}", CSV_HEADER.len(), rec.len()));
    }
    let session = rec[0].trim();
    if session.is_empty() {
        return Err("session is empty".into());
    }
    let t_ms = parse_num("t_ms", &rec[1], 0.0, u32::MAX as f64)? as u32;
    let kind = Kind::from_name(rec[2].trim()).ok_or_else(|| {
        let names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
        format!("kind {:?} is not one of {}", &rec[2], names.join("|"))
    })?;
    let (x, y) = (rec[3].trim(), rec[4].trim());
    let target = rec[5].trim().to_string();
    let session = session.to_string();
    // A viewport coordinate in CSS px (pointer rows, and where a leave left the document).
    let coord = |field: &str, s: &str| {
        if s.is_empty() {
            return Err(format!("{field} is required for kind {}", kind.name()));
        }
        parse_num(field, s, i16::MIN as f64, i16::MAX as f64).map(|v| v as i16)
    };
    let (x, y) = if kind.is_pointer() {
        (coord("x", x)?, coord("y", y)?)
    } else if x.is_empty() && y.is_empty() {
        (0, 0)
    } else if kind == Kind::Leave {
        // Where the pointer left the document (the mouseout's clientX / clientY; y < 0 above
        // the viewport): both or neither.
        if x.is_empty() || y.is_empty() {
            return Err("x and y of a leave must both be given (where the pointer left) or both empty".into());
        }
        (coord("x", x)?, coord("y", y)?)
    } else if kind == Kind::Response && !x.is_empty() {
        // The answer's signature (the SDK's hash of what the page changed), 1..=32767, and
        // `y` = 1..=3 for the press's own answer, or its gesture's (the presses it answers,
        // shared_physics::detection::OWN_ANSWER).
        let sig = parse_num("x (answer signature)", x, 1.0, i16::MAX as f64)? as i16;
        match y {
            "" => (sig, 0),
            _ => match y.parse::<i16>() {
                Ok(n @ OWN_ANSWER..=MAX_GESTURE_PRESSES) => (sig, n),
                _ => return Err(format!("y of a response must be empty or 1-3 (a press's own answer), not {y:?}")),
            },
        }
    } else {
        return Err(format!(
            "x and y must be empty for kind {} (a response may carry its signature in x, and 1 in y for a press's own answer; a leave where the pointer left)",
            kind.name()
        ));
    };
    Ok(Row { session, sample: Sample { t_ms, x, y, kind, section: 0 }, target })
}

/// Replays an event CSV, writing detections as JSON lines to `out`.
pub fn replay_csv(input: impl Read, out: &mut impl Write, params: Params) -> std::io::Result<Summary> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(input);
    let mut replay = Replay::new(Format::Csv, out, params);
    match rdr.headers() {
        Ok(h) if h.iter().map(str::trim).eq(CSV_HEADER) => {}
        Ok(h) => {
            let found = h.iter().collect::<Vec<_>>().join(",");
            replay.refuse(Location::Line(1), format!("header must be {:?}, found {found:?}", CSV_HEADER.join(",")));
            return replay.finish();
        }
        Err(e) => {
            replay.refuse(Location::Line(1), e.to_string());
            return replay.finish();
        }
    }
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                replay.refuse(Location::Line(line), e.to_string());
                continue;
            }
        };
        let at = Location::Line(rec.position().map_or(0, |p| p.line()));
        match parse_csv_row(&rec) {
            Ok(row) => replay.push(at, row)?,
            Err(message) => replay.refuse(at, message),
        }
    }
    replay.finish()
}

/// rrweb's `EventType.FullSnapshot`: the page's whole DOM (`data.node`).
pub const RRWEB_FULL_SNAPSHOT: u64 = 2;

/// rrweb's `EventType.IncrementalSnapshot`.
pub const RRWEB_INCREMENTAL_SNAPSHOT: u64 = 3;

/// The rrweb `IncrementalSource` values the replay maps.
pub mod rrweb_source {
    /// DOM mutations (`data.adds`, `removes`, `texts`, `attributes`): the page changed.
    pub const MUTATION: u64 = 0;
    /// A form value changed (`data.id`, `data.text`).
    pub const INPUT: u64 = 5;
    /// `data.positions[]`, each `{x, y, id, timeOffset}`.
    pub const MOUSE_MOVE: u64 = 1;
    /// `data.type` (a `MouseInteractions` value), `data.x`, `data.y`.
    pub const MOUSE_INTERACTION: u64 = 2;
    /// `data.id`, `data.x`, `data.y` (scroll offsets).
    pub const SCROLL: u64 = 3;
    /// Same shape as [`MOUSE_MOVE`].
    pub const TOUCH_MOVE: u64 = 6;
}

/// The rrweb `MouseInteractions` values the replay maps.
pub mod rrweb_interaction {
    /// `mouseup`.
    pub const MOUSE_UP: u64 = 0;
    /// `mousedown`.
    pub const MOUSE_DOWN: u64 = 1;
    /// `click`.
    pub const CLICK: u64 = 2;
}

/// A pointer sample read from an rrweb event, before times are made relative.
struct RrwebSample {
    /// Absolute time, ms (`timestamp`, plus `timeOffset` for moves).
    abs_ms: f64,
    index: u64,
    kind: Kind,
    x: i16,
    y: i16,
    /// Its section's name: an index into [`RrwebReader::names`] (0: none).
    section: u16,
}

/// The elements whose id names a section where no `data-siq-section` does, as in the SDK's
/// loader (`docs/sdk.md`, "Sections").
pub const LANDMARKS: [&str; 8] = ["main", "nav", "header", "footer", "aside", "section", "form", "dialog"];

/// The `role`s that make any element such a landmark, as in the SDK's loader (a modal built of
/// `div`s; other landmark roles with ids are rare, and each costs the loader's lookup).
pub const LANDMARK_ROLES: [&str; 1] = ["dialog"];

/// Most nodes of a recording's DOM kept; the adds past it are not (their events then have no
/// section): memory stays bounded whatever a recording holds.
pub const MAX_DOM_NODES: usize = 1 << 18;

/// Most ancestors looked at for a node's section (rrweb's DOM is a tree; a malformed recording
/// may describe a loop).
const MAX_SECTION_DEPTH: usize = 1024;

/// One node of a recording's DOM, as far as sections go.
#[derive(Default)]
struct DomNode {
    parent: Option<u64>,
    children: Vec<u64>,
    /// Its `data-siq-section` value.
    ours: Option<String>,
    /// A landmark element by its tag ([`LANDMARKS`]).
    landmark_tag: bool,
    /// Its `role`, if one of [`LANDMARK_ROLES`].
    landmark_role: bool,
    /// Its `id`.
    id: Option<String>,
}

impl DomNode {
    /// The id that names its section, if it is a landmark.
    fn landmark_id(&self) -> Option<&str> {
        self.id.as_deref().filter(|_| self.landmark_tag || self.landmark_role)
    }
}

/// Whether a `role` value makes a landmark ([`LANDMARK_ROLES`]; the loader's selector matches
/// the attribute's whole value, case-sensitively).
fn landmark_role(role: Option<&str>) -> bool {
    role.is_some_and(|r| LANDMARK_ROLES.contains(&r))
}

/// The DOM an rrweb recording describes (its full snapshots, then its mutations), reduced to what
/// names a section: each element's parent, children, `data-siq-section`, `id` and whether it is
/// a landmark. Read leniently: what is malformed names no section; the events are still used.
#[derive(Default)]
struct Dom {
    nodes: HashMap<u64, DomNode>,
}

/// A string attribute of a serialized node or an attribute mutation; `Some(None)` when the
/// mutation removed it (`null`), `None` when not mentioned.
fn attribute(attrs: &Object, name: &str) -> Option<Option<String>> {
    attrs.get(name).map(|v| v.as_str().map(str::to_string))
}

impl Dom {
    /// A full snapshot: the whole DOM anew.
    fn snapshot(&mut self, root: &Value) {
        self.nodes.clear();
        self.add(None, root);
    }

    /// Adds the serialized `node` (and the children it carries) under `parent`.
    fn add(&mut self, parent: Option<u64>, node: &Value) {
        let Some(n) = node.as_object() else { return };
        let Some(id) = n.get("id").and_then(Value::as_u64) else { return };
        self.remove(id);
        if self.nodes.len() >= MAX_DOM_NODES {
            return;
        }
        let element = n.get("type").and_then(Value::as_u64) == Some(2);
        let tag = n.get("tagName").and_then(Value::as_str).unwrap_or("");
        let attrs = n.get("attributes").and_then(Value::as_object).filter(|_| element);
        let text = |name: &str| attrs.and_then(|a| attribute(a, name)).flatten();
        let node = DomNode {
            parent,
            children: Vec::new(),
            ours: text("data-siq-section"),
            landmark_tag: element && LANDMARKS.iter().any(|l| tag.eq_ignore_ascii_case(l)),
            landmark_role: landmark_role(text("role").as_deref()),
            id: text("id"),
        };
        if let Some(p) = parent.and_then(|p| self.nodes.get_mut(&p)) {
            p.children.push(id);
        }
        self.nodes.insert(id, node);
        for child in n.get("childNodes").and_then(Value::as_array).into_iter().flatten() {
            self.add(Some(id), child);
        }
    }

    /// Removes node `id` and everything under it.
    fn remove(&mut self, id: u64) {
        let Some(node) = self.nodes.remove(&id) else { return };
        if let Some(p) = node.parent.and_then(|p| self.nodes.get_mut(&p)) {
            p.children.retain(|&c| c != id);
        }
        let mut stack = node.children;
        while let Some(c) = stack.pop() {
            if let Some(n) = self.nodes.remove(&c) {
                stack.extend(n.children);
            }
        }
    }

    /// An rrweb mutation's `data`: removals, additions (`{parentId, node}`) and attribute changes
    /// (`{id, attributes}`), in rrweb's order of applying them.
    fn mutate(&mut self, data: &Object) {
        let list = |name: &str| data.get(name).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_object);
        for r in list("removes") {
            if let Some(id) = r.get("id").and_then(Value::as_u64) {
                self.remove(id);
            }
        }
        for a in list("adds") {
            if let (Some(parent), Some(node)) = (a.get("parentId").and_then(Value::as_u64), a.get("node")) {
                self.add(Some(parent), node);
            }
        }
        for a in list("attributes") {
            let (Some(id), Some(attrs)) = (a.get("id").and_then(Value::as_u64), a.get("attributes").and_then(Value::as_object)) else {
                continue;
            };
            let Some(n) = self.nodes.get_mut(&id) else { continue };
            if let Some(v) = attribute(attrs, "data-siq-section") {
                n.ours = v;
            }
            if let Some(v) = attribute(attrs, "id") {
                n.id = v;
            }
            if let Some(v) = attribute(attrs, "role") {
                n.landmark_role = landmark_role(v.as_deref());
            }
        }
    }

    /// The section's name of node `id`, as the SDK's loader names it: the nearest
    /// `data-siq-section` around it, else the nearest landmark's id, else none.
    fn section(&self, id: u64) -> Option<&str> {
        let (mut at, mut landmark) = (Some(id), None);
        for _ in 0..MAX_SECTION_DEPTH {
            let Some(n) = at.and_then(|a| self.nodes.get(&a)) else { break };
            if let Some(ours) = &n.ours {
                return Some(ours);
            }
            landmark = landmark.or(n.landmark_id());
            at = n.parent;
        }
        landmark
    }
}

/// What reading an rrweb recording keeps between events.
struct RrwebReader {
    /// The first event's `timestamp`.
    first_ts: Option<f64>,
    samples: Vec<RrwebSample>,
    /// Whether any DOM mutation was recorded.
    mutations: bool,
    dom: Dom,
    /// Section names met, "" (none) first (at most [`MAX_SECTIONS`] more). Interned here, and
    /// again per session by the replay, so that a sample holds an index, not a name, while the
    /// recording's samples wait for the time sort.
    names: Vec<String>,
}

impl RrwebReader {
    fn new() -> RrwebReader {
        RrwebReader { first_ts: None, samples: Vec::new(), mutations: false, dom: Dom::default(), names: vec![String::new()] }
    }

    /// The index in [`RrwebReader::names`] of the section of node `data[id]` (0: none).
    fn section_of(&mut self, data: &Object) -> u16 {
        let Some(name) = data.get("id").and_then(Value::as_u64).and_then(|id| self.dom.section(id)) else { return 0 };
        match self.names.iter().position(|n| n == name) {
            Some(i) => i as u16,
            None if self.names.len() <= MAX_SECTIONS => {
                self.names.push(name.to_string());
                (self.names.len() - 1) as u16
            }
            None => 0,
        }
    }
}

type Object = serde_json::Map<String, Value>;

/// `obj[name]`; errors name the field by its path (`path` is its parent's, e.g. `data.`).
fn field<'a>(obj: &'a Object, path: &str, name: &str) -> Result<&'a Value, String> {
    obj.get(name).ok_or_else(|| format!("missing {path}{name}"))
}

fn object<'a>(obj: &'a Object, path: &str, name: &str) -> Result<&'a Object, String> {
    field(obj, path, name)?.as_object().ok_or_else(|| format!("{path}{name} is not an object"))
}

fn uint(obj: &Object, path: &str, name: &str) -> Result<u64, String> {
    field(obj, path, name)?.as_u64().ok_or_else(|| format!("{path}{name} is not a non-negative integer"))
}

fn number(obj: &Object, path: &str, name: &str) -> Result<f64, String> {
    field(obj, path, name)?.as_f64().filter(|v| v.is_finite()).ok_or_else(|| format!("{path}{name} is not a number"))
}

fn coord(obj: &Object, path: &str, name: &str) -> Result<i16, String> {
    let v = number(obj, path, name)?;
    if v < i16::MIN as f64 || v > i16::MAX as f64 {
        return Err(format!("{path}{name} {v} is outside {}..={}", i16::MIN, i16::MAX));
    }
    Ok(v as i16)
}

impl RrwebReader {
    /// Reads one rrweb event; returns whether it mapped to any sample.
    fn read(&mut self, index: u64, ev: &Value) -> Result<bool, String> {
        let ev = ev.as_object().ok_or("not an object")?;
        let ty = uint(ev, "", "type")?;
        let ts = number(ev, "", "timestamp")?;
        self.first_ts.get_or_insert(ts);
        if ty == RRWEB_FULL_SNAPSHOT {
            // Only where the sections are: maps to no sample.
            if let Some(node) = ev.get("data").and_then(Value::as_object).and_then(|d| d.get("node")) {
                self.dom.snapshot(node);
            }
            return Ok(false);
        }
        if ty != RRWEB_INCREMENTAL_SNAPSHOT {
            return Ok(false);
        }
        let data = object(ev, "", "data")?;
        let sample = |abs_ms: f64, kind: Kind, x: i16, y: i16, section: u16| RrwebSample { abs_ms, index, kind, x, y, section };
        match uint(data, "data.", "source")? {
            rrweb_source::MOUSE_MOVE | rrweb_source::TOUCH_MOVE => {
                let positions = field(data, "data.", "positions")?.as_array().ok_or("data.positions is not an array")?;
                // Validate all positions before taking any, so a bad event adds nothing.
                let mut moves = Vec::with_capacity(positions.len());
                for (i, p) in positions.iter().enumerate() {
                    let path = format!("data.positions[{i}].");
                    let p = p.as_object().ok_or_else(|| format!("data.positions[{i}] is not an object"))?;
                    let offset = number(p, &path, "timeOffset")?;
                    moves.push((ts + offset, coord(p, &path, "x")?, coord(p, &path, "y")?, self.section_of(p)));
                }
                let any = !moves.is_empty();
                for (t, x, y, section) in moves {
                    self.samples.push(sample(t, Kind::Move, x, y, section));
                }
                Ok(any)
            }
            rrweb_source::MOUSE_INTERACTION => {
                let kind = match uint(data, "data.", "type")? {
                    rrweb_interaction::MOUSE_UP => Kind::Up,
                    rrweb_interaction::MOUSE_DOWN => Kind::Down,
                    rrweb_interaction::CLICK => Kind::Click,
                    _ => return Ok(false),
                };
                let (x, y) = (coord(data, "data.", "x")?, coord(data, "data.", "y")?);
                // As the loader does: a press and a click carry their target's section, a release none.
                let section = if kind == Kind::Up { 0 } else { self.section_of(data) };
                self.samples.push(sample(ts, kind, x, y, section));
                Ok(true)
            }
            // The page visibly changed, or a value did: what the SDK's loader reports as a response
            // (the detectors attribute it to a click at most 300 ms before it).
            source @ (rrweb_source::MUTATION | rrweb_source::INPUT) => {
                if source == rrweb_source::MUTATION {
                    self.mutations = true;
                    self.dom.mutate(data);
                }
                self.samples.push(sample(ts, Kind::Response, 0, 0, 0));
                Ok(true)
            }
            rrweb_source::SCROLL => {
                // Scroll offsets of long pages pass i16::MAX: clamped, as the SDK does (sdk-wasm `sample`).
                let y = number(data, "data.", "y")?;
                self.samples.push(sample(ts, Kind::Scroll, 0, y.clamp(i16::MIN as f64, i16::MAX as f64) as i16, 0));
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// Streams the elements of a top-level JSON array to a callback, one `Value` at a time, so a
/// recording's large DOM snapshots are never all in memory at once.
struct EachElement<F>(F);

impl<'de, F: FnMut(Value)> Visitor<'de> for EachElement<F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of rrweb events")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            (self.0)(v);
        }
        Ok(())
    }
}

impl<'de, F: FnMut(Value)> DeserializeSeed<'de> for EachElement<F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

/// Replays an rrweb event array as the single session `session`, writing detections as JSON
/// lines to `out`. The array is streamed; the mapped samples (24 bytes each) are collected,
/// with the sections of the page's DOM as the snapshots and mutations describe it,
/// stably sorted by time (rrweb flushes mouse moves in batches whose positions precede the
/// clicks recorded meanwhile) and then replayed. Times are ms since the first event (or since the
/// earliest position, if a batched move precedes it).
pub fn replay_rrweb(input: impl Read, session: &str, out: &mut impl Write, params: Params) -> Result<Summary, ReplayError> {
    let mut reader = RrwebReader::new();
    let mut errors = Vec::new();
    let (mut events, mut ignored) = (0u64, 0u64);
    let mut de = serde_json::Deserializer::from_reader(input);
    EachElement(|ev: Value| {
        let index = events;
        events += 1;
        match reader.read(index, &ev) {
            Ok(true) => {}
            Ok(false) => ignored += 1,
            Err(message) => errors.push(RowError { at: Location::Event(index), message }),
        }
    })
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(|e| match e.classify() {
        serde_json::error::Category::Io => ReplayError::Io(e.into()),
        _ => ReplayError::NotRrweb(e.to_string()),
    })?;

    let RrwebReader { first_ts, mut samples, mutations, names, .. } = reader;
    samples.sort_by(|a, b| a.abs_ms.total_cmp(&b.abs_ms));
    let origin = samples.first().map_or(0.0, |s| s.abs_ms).min(first_ts.unwrap_or(0.0));
    // A recording with DOM mutations carries the page's answers; one without any (a static page,
    // or a recorder that drops them) cannot tell a dead click from an answered one.
    let params = Params { trace: TraceParams { answers: mutations && params.trace.answers, ..params.trace }, ..params };
    let mut replay = Replay::new(Format::Rrweb, out, params);
    replay.summary.events = events;
    replay.summary.ignored = ignored;
    replay.summary.errors = errors;
    for s in samples {
        let t = (s.abs_ms - origin).floor();
        if t > u32::MAX as f64 {
            replay.refuse(Location::Event(s.index), format!("time {t} ms after the first event is past {} ms", u32::MAX));
            continue;
        }
        let sample = Sample { t_ms: t as u32, x: s.x, y: s.y, kind: s.kind, section: 0 };
        let target = names[usize::from(s.section)].clone();
        replay.push(Location::Event(s.index), Row { session: session.to_string(), sample, target })?;
    }
    let mut summary = replay.finish()?;
    // Sorted by time, errors from late samples interleave; report them in file order.
    summary.errors.sort_by_key(|e| match e.at {
        Location::Line(n) | Location::Event(n) => n,
    });
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(csv: &str) -> (String, Summary) {
        let mut out = Vec::new();
        let s = replay_csv(csv.as_bytes(), &mut out, Params::default()).unwrap();
        (String::from_utf8(out).unwrap(), s)
    }

    fn run_rrweb(json: &str) -> Result<(String, Summary), ReplayError> {
        let mut out = Vec::new();
        let s = replay_rrweb(json.as_bytes(), "rec", &mut out, Params::default())?;
        Ok((String::from_utf8(out).unwrap(), s))
    }

    fn lines(out: &str) -> Vec<serde_json::Value> {
        out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn at_lines(s: &Summary) -> Vec<u64> {
        s.errors
            .iter()
            .map(|e| match e.at {
                Location::Line(n) => n,
                Location::Event(_) => panic!("{e:?}"),
            })
            .collect()
    }

    #[test]
    fn a_rage_burst_prints_json_lines_with_its_section() {
        let mut csv = String::from("session,t_ms,kind,x,y,target\n");
        for i in 0..5 {
            csv += &format!("s1,{},click,400,300,checkout\n", 1000 + i * 150);
        }
        csv += "s2,1000,click,10,10,\n";
        let (out, s) = run(&csv);
        assert_eq!(s.rows, 6);
        assert!(s.errors.is_empty());
        let lines = lines(&out);
        assert!(!lines.is_empty());
        for l in &lines {
            assert_eq!(l["session"], "s1");
            assert_eq!(l["emotion"], "rage");
            assert_eq!(l["section"], "checkout");
        }
        assert!(lines.last().unwrap()["confidence"].as_f64().unwrap() >= 0.85);
    }

    #[test]
    fn bad_rows_are_reported_by_line_and_good_rows_still_count() {
        let csv = "session,t_ms,kind,x,y,target\ns,1,move,1,1,\ns,x,move,1,1,\ns,2,hover,1,1,\ns,3,move,99999,1,\ns,4,move,1\n";
        let (_, s) = run(csv);
        assert_eq!(s.rows, 1);
        assert_eq!(at_lines(&s), vec![3, 4, 5, 6]);
        assert!(s.errors[1].message.contains("hover"));
    }

    #[test]
    fn a_wrong_header_is_refused() {
        let (_, s) = run("a,b,c\n1,2,3\n");
        assert_eq!(s.errors.len(), 1);
        assert_eq!(s.errors[0].at, Location::Line(1));
    }

    #[test]
    fn context_rows_are_counted_and_fed_to_the_detector() {
        let csv = "session,t_ms,kind,x,y,target\n\
                   s,100,click,400,300,checkout\n\
                   s,180,response,,,checkout\n\
                   s,200,click,400,300,checkout\n\
                   s,250,leave,,,\n\
                   s,300,hidden,,,\n\
                   s,600,visible,,,\n\
                   s,650,click,400,300,checkout\n";
        let (out, s) = run(csv);
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        assert_eq!(s.rows, 7);
        for (k, n) in [(Kind::Click, 3), (Kind::Response, 1), (Kind::Leave, 1), (Kind::Hidden, 1), (Kind::Visible, 1)] {
            assert_eq!(s.by_kind.get(k), n, "{k:?}");
        }
        assert_eq!(s.by_kind.get(Kind::Move), 0);
        // The page answered the burst's first click: the three clicks are not rage. The tab
        // hidden while the visitor was in checkout is abandonment (below the bar).
        let emotions = |out: &str| {
            lines(out).iter().map(|l| (l["emotion"].as_str().unwrap().to_string(), l["t_ms"].as_u64().unwrap())).collect::<Vec<_>>()
        };
        assert_eq!(emotions(&out), [("abandonment".to_string(), 300)], "{out}");
        assert_eq!(lines(&out)[0]["section"], "checkout");
        assert_eq!(
            s.to_string(),
            "7 rows, 1 detections, 0 bad rows; by kind: move 0, down 0, up 0, click 3, scroll 0, response 1, leave 1, hidden 1, visible 1, quiet 0; answers: recorded"
        );
        // Without the response the same clicks make a rage burst.
        let (out, s) = run(&csv.replace("s,180,response,,,checkout\n", ""));
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        assert_eq!(emotions(&out), [("abandonment".to_string(), 300), ("rage".to_string(), 650)], "{out}");
    }

    #[test]
    fn a_stepper_answered_within_the_window_is_not_rage_and_a_late_answer_does_not_count() {
        use shared_physics::detect::RESPONSE_WINDOW_MS;
        let burst = |answer_after: u32| {
            let mut csv = String::from("session,t_ms,kind,x,y,target\n");
            for i in 0..5u32 {
                let t = 1000 + i * 1500;
                csv += &format!("s,{t},click,400,300,cart\n");
                if i < 4 {
                    csv += &format!("s,{},response,,,\n", t + answer_after);
                }
            }
            run(&csv)
        };
        let (out, s) = burst(15);
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        assert_eq!(s.detections, 0, "{out}");
        let (out, s) = burst(RESPONSE_WINDOW_MS + 100);
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        assert!(s.detections > 0, "answers later than the window do not count: {out}");
    }

    #[test]
    fn the_parser_returns_pointer_and_context_rows() {
        let rec = csv::StringRecord::from(vec!["s", "12.7", "response", "", " ", "pricing"]);
        assert_eq!(
            parse_csv_row(&rec),
            Ok(Row {
                session: "s".into(),
                sample: Sample { t_ms: 12, x: 0, y: 0, kind: Kind::Response, section: 0 },
                target: "pricing".into()
            })
        );
        let rec = csv::StringRecord::from(vec!["s", "5", "scroll", "0", "1200", ""]);
        let row = parse_csv_row(&rec).unwrap();
        assert_eq!(row.sample.kind, Kind::Scroll);
        assert_eq!(
            row,
            Row { session: "s".into(), sample: Sample { t_ms: 5, x: 0, y: 1200, kind: Kind::Scroll, section: 0 }, target: "".into() }
        );
    }

    #[test]
    fn coordinates_are_required_on_pointer_rows_and_forbidden_on_context_rows() {
        let csv = "session,t_ms,kind,x,y,target\n\
                   s,1,move,,5,\n\
                   s,2,click,5,,\n\
                   s,3,response,1,4,\n\
                   s,4,hidden,,0,\n\
                   s,5,leave,,,\n\
                   s,6,visible,x,y,\n";
        let (_, s) = run(csv);
        assert_eq!(s.rows, 1);
        assert_eq!(s.by_kind.get(Kind::Leave), 1);
        assert_eq!(at_lines(&s), vec![2, 3, 4, 5, 7]);
        assert!(s.errors[0].message.contains("x is required for kind move"), "{}", s.errors[0].message);
        assert!(s.errors[1].message.contains("y is required for kind click"), "{}", s.errors[1].message);
        assert!(s.errors[2].message.contains("y of a response must be empty or 1-3"), "{}", s.errors[2].message);
        assert!(s.errors[3].message.contains("must be empty for kind hidden"), "{}", s.errors[3].message);
        // A response may carry the answer's signature in x (the SDK's hash of what changed).
        let rec = csv::StringRecord::from(vec!["s", "3", "response", "17", "", ""]);
        assert_eq!(parse_csv_row(&rec).map(|r| (r.sample.x, r.sample.y)), Ok((17, 0)));
        // And 1 in y when it was the press's own answer.
        let rec = csv::StringRecord::from(vec!["s", "3", "response", "17", "1", ""]);
        assert_eq!(parse_csv_row(&rec).map(|r| (r.sample.x, r.sample.y)), Ok((17, OWN_ANSWER)));
        let rec = csv::StringRecord::from(vec!["s", "3", "response", "", "1", ""]);
        assert!(parse_csv_row(&rec).is_err());
        // A leave may say where the pointer left (the mouseout's own coordinates), both or none.
        let rec = csv::StringRecord::from(vec!["s", "3", "leave", "512", "-40", ""]);
        assert_eq!(parse_csv_row(&rec).map(|r| (r.sample.x, r.sample.y)), Ok((512, -40)));
        let rec = csv::StringRecord::from(vec!["s", "3", "leave", "512", "", ""]);
        assert!(parse_csv_row(&rec).is_err_and(|e| e.contains("both be given")));
    }

    #[test]
    fn a_row_earlier_than_its_session_is_refused_and_other_sessions_are_independent() {
        // The detector's ring and evidence window assume time order.
        let csv = "session,t_ms,kind,x,y,target\na,100,click,1,1,\na,50,click,1,1,\nb,10,click,1,1,\na,200,click,1,1,\na,200,response,,,\n";
        let (_, s) = run(csv);
        assert_eq!(at_lines(&s), vec![3]);
        assert!(s.errors[0].message.contains("earlier"), "{}", s.errors[0].message);
        assert_eq!(s.rows, 4);
    }

    #[test]
    fn format_follows_the_extension_unless_forced() {
        use std::path::Path;
        assert_eq!(Format::for_path(Path::new("a/rec.json")), Format::Rrweb);
        assert_eq!(Format::for_path(Path::new("rec.JSON")), Format::Rrweb);
        assert_eq!(Format::for_path(Path::new("rec.csv")), Format::Csv);
        assert_eq!(Format::for_path(Path::new("rec")), Format::Csv);
        assert_eq!(Format::parse("rrweb"), Some(Format::Rrweb));
        assert_eq!(Format::parse("csv"), Some(Format::Csv));
        assert_eq!(Format::parse("json"), None);
    }

    fn click(ts: u64, x: i32, y: i32) -> String {
        format!(r#"{{"type":3,"timestamp":{ts},"data":{{"source":2,"type":2,"id":7,"x":{x},"y":{y}}}}}"#)
    }

    #[test]
    fn rrweb_clicks_and_moves_replay_as_one_session() {
        let mut events = vec![
            r#"{"type":4,"timestamp":1700000000000,"data":{"href":"https://shop.example/","width":1280,"height":800}}"#.to_string(),
            // A batched move: its positions precede the event (negative timeOffset).
            r#"{"type":3,"timestamp":1700000001000,"data":{"source":1,"positions":[{"x":380,"y":290,"id":7,"timeOffset":-100},{"x":398,"y":299,"id":7,"timeOffset":-50}]}}"#.to_string(),
        ];
        for i in 0..5 {
            events.push(click(1_700_000_001_000 + i * 150, 400, 300));
        }
        let (out, s) = run_rrweb(&format!("[{}]", events.join(",\n"))).unwrap();
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        assert_eq!((s.events, s.ignored, s.rows), (7, 1, 7));
        assert_eq!((s.by_kind.get(Kind::Move), s.by_kind.get(Kind::Click)), (2, 5));
        let lines = lines(&out);
        assert!(!lines.is_empty());
        let last = lines.last().unwrap();
        assert_eq!(last["session"], "rec");
        assert_eq!(last["emotion"], "rage");
        assert_eq!(last["section"], "");
        // ms since the first event; the burst is decided after the recording's end (the loader's
        // quiet row 1 s after the last click), at its fifth click, 1000 + 4·150 ms after the
        // meta event; without answers it is capped at 0.80.
        assert_eq!(last["t_ms"], 1600);
        // No mutation event: the recording carries no answers, so the burst is recorded but not
        // claimed (it cannot be known dead), and the summary says so.
        assert_eq!(last["confidence"].as_f64().unwrap(), 0.8);
        assert_eq!(s.answers, Answers::None);
    }

    #[test]
    fn rrweb_moves_batched_after_clicks_are_replayed_in_time_order() {
        // The move batch is emitted after the clicks but its positions are earlier.
        let events = [
            click(10_000, 400, 300),
            click(10_150, 400, 300),
            click(10_300, 400, 300),
            r#"{"type":3,"timestamp":10400,"data":{"source":6,"positions":[{"x":1,"y":2,"id":1,"timeOffset":-500}]}}"#.into(),
        ];
        let (out, s) = run_rrweb(&format!("[{}]", events.join(","))).unwrap();
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        assert_eq!(s.rows, 4);
        // The touch move at 9900 becomes the time origin.
        assert_eq!(lines(&out).last().unwrap()["t_ms"], 400);
    }

    #[test]
    fn rrweb_interactions_map_to_down_up_click_scroll_inputs_to_responses_and_others_are_ignored() {
        let events = r#"[
            {"type":2,"timestamp":0,"data":{"node":{"type":0,"childNodes":[],"id":1},"initialOffset":{"top":0,"left":0}}},
            {"type":3,"timestamp":10,"data":{"source":2,"type":1,"id":5,"x":10,"y":20}},
            {"type":3,"timestamp":20,"data":{"source":2,"type":0,"id":5,"x":10,"y":20}},
            {"type":3,"timestamp":21,"data":{"source":2,"type":2,"id":5,"x":10,"y":20}},
            {"type":3,"timestamp":30,"data":{"source":2,"type":5,"id":5}},
            {"type":3,"timestamp":40,"data":{"source":3,"id":1,"x":0,"y":90000}},
            {"type":3,"timestamp":50,"data":{"source":5,"id":9,"text":"hi","isChecked":false}},
            {"type":5,"timestamp":60,"data":{"tag":"x","payload":{}}}
        ]"#;
        let (out, s) = run_rrweb(events).unwrap();
        assert!(out.is_empty());
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        assert_eq!((s.events, s.ignored, s.rows), (8, 3, 5));
        for k in [Kind::Down, Kind::Up, Kind::Click, Kind::Scroll, Kind::Response] {
            assert_eq!(s.by_kind.get(k), 1, "{k:?}");
        }
        assert_eq!(
            s.to_string(),
            "8 events (3 ignored), 5 rows, 0 detections, 0 bad events; by kind: \
             move 0, down 1, up 1, click 1, scroll 1, response 1, leave 0, hidden 0, visible 0, quiet 0; \
             answers: none (rage not claimed, capped at 0.80; frustration not looked for)",
            "an input event alone does not show that the recorder captured the page's DOM changes"
        );
    }

    #[test]
    fn rrweb_mutations_answer_clicks_so_a_working_stepper_is_not_rage() {
        let mutation = |ts: u64| {
            format!(
                r#"{{"type":3,"timestamp":{ts},"data":{{"source":0,"texts":[{{"id":9,"value":"{ts}"}}],"attributes":[],"removes":[],"adds":[]}}}}"#
            )
        };
        let burst = |answered: bool| {
            // The page changed once before the burst: the recorder captures mutations.
            let mut events = vec![mutation(100)];
            for i in 0..6u64 {
                let t = 1000 + i * 150;
                events.push(click(t, 400, 300));
                if answered {
                    events.push(mutation(t + 20));
                }
            }
            run_rrweb(&format!("[{}]", events.join(","))).unwrap()
        };
        let (out, s) = burst(true);
        assert_eq!(s.by_kind.get(Kind::Response), 7);
        assert!(out.is_empty(), "a stepper that answers every click: {out}");
        let (out, _) = burst(false);
        assert!(lines(&out).iter().any(|l| l["emotion"] == "rage" && l["confidence"].as_f64().unwrap() >= 0.85), "{out}");
    }

    /// A serialized element as rrweb records it.
    fn element(id: u64, tag: &str, attrs: &str, children: &[String]) -> String {
        format!(r#"{{"type":2,"id":{id},"tagName":"{tag}","attributes":{{{attrs}}},"childNodes":[{}]}}"#, children.join(","))
    }

    #[test]
    fn rrweb_sections_are_named_from_the_recorded_dom_as_the_loader_names_them() {
        // <body> <div data-siq-section=pricing><section id=inner><button 5> </section></div>
        //        <form id=checkout><input id=email 7></form>  <main><button 9></main> </body>
        let body = element(
            2,
            "body",
            "",
            &[
                element(
                    3,
                    "div",
                    r#""data-siq-section":"pricing""#,
                    &[element(4, "section", r#""id":"inner""#, &[element(5, "button", "", &[])])],
                ),
                element(6, "FORM", r#""id":"checkout""#, &[element(7, "input", r#""id":"email","type":"text""#, &[])]),
                element(8, "main", "", &[element(9, "button", "", &[])]),
            ],
        );
        let root = serde_json::from_str::<Value>(&format!(r#"{{"type":0,"id":1,"childNodes":[{body}]}}"#)).unwrap();
        let mut dom = Dom::default();
        dom.snapshot(&root);
        assert_eq!(dom.section(5), Some("pricing"), "ours wins over a landmark inside it");
        assert_eq!(dom.section(7), Some("checkout"), "a landmark's id, never a field's");
        assert_eq!(dom.section(9), None, "a landmark without an id names nothing");
        assert_eq!(dom.section(99), None, "a node the recording never described");

        // Then the page adds <section id=plans><button 11></section>, marks <main> as ours and
        // removes the form.
        let plans = element(10, "section", r#""id":"plans""#, &[element(11, "button", "", &[])]);
        let mutation = format!(
            r#"{{"removes":[{{"parentId":2,"id":6}}],"adds":[{{"parentId":2,"nextId":null,"node":{plans}}}],"attributes":[{{"id":8,"attributes":{{"data-siq-section":"cart","class":"x"}}}}],"texts":[]}}"#
        );
        dom.mutate(serde_json::from_str::<Value>(&mutation).unwrap().as_object().unwrap());
        assert_eq!((dom.section(11), dom.section(9)), (Some("plans"), Some("cart")));
        assert_eq!((dom.section(7), dom.nodes.len()), (None, 9), "the form went, and the field inside it (9 - 2 + 2 nodes)");
        let unmark = r#"{"attributes":[{"id":8,"attributes":{"data-siq-section":null}},{"id":10,"attributes":{"id":"tiers"}}]}"#;
        dom.mutate(serde_json::from_str::<Value>(unmark).unwrap().as_object().unwrap());
        assert_eq!((dom.section(9), dom.section(11)), (None, Some("tiers")));

        // A <div id=upgrade> is no landmark until it takes the role of a dialog; a button role
        // makes none.
        let modal = element(20, "div", r#""id":"upgrade""#, &[element(21, "button", "", &[])]);
        let add = format!(r#"{{"adds":[{{"parentId":2,"node":{modal}}}]}}"#);
        dom.mutate(serde_json::from_str::<Value>(&add).unwrap().as_object().unwrap());
        assert_eq!(dom.section(21), None);
        for (role, want) in [
            (r#""dialog""#, Some("upgrade")),
            (r#""button""#, None),
            (r#""region""#, None),
            (r#""dialog""#, Some("upgrade")),
            ("null", None),
        ] {
            let change = format!(r#"{{"attributes":[{{"id":20,"attributes":{{"role":{role}}}}}]}}"#);
            dom.mutate(serde_json::from_str::<Value>(&change).unwrap().as_object().unwrap());
            assert_eq!(dom.section(21), want, "role {role}");
        }
    }

    #[test]
    fn the_landmarks_are_the_ones_the_sdk_loader_looks_up() {
        // The loader (sdk-wasm/js/loader.js) names sections in the page; the replay must find the
        // same landmarks in a recording of it.
        let tags = LANDMARKS.iter().map(|t| format!("{t}[id]"));
        let roles = LANDMARK_ROLES.iter().map(|r| format!("[role={r}][id]"));
        let selector = format!("closest?.('{}')", tags.chain(roles).collect::<Vec<_>>().join(","));
        assert!(include_str!("../../../sdk-wasm/js/loader.js").contains(&selector), "loader.js lacks {selector}");
    }

    #[test]
    fn an_rrweb_rage_burst_in_a_landmark_checkout_prints_its_section() {
        let body = element(2, "body", "", &[element(6, "form", r#""id":"checkout""#, &[element(7, "button", "", &[])])]);
        let mut events = vec![
            format!(
                r#"{{"type":2,"timestamp":0,"data":{{"node":{{"type":0,"id":1,"childNodes":[{body}]}},"initialOffset":{{"top":0,"left":0}}}}}}"#
            ),
            // The recorder captures mutations (the page changed once, long before the burst).
            r#"{"type":3,"timestamp":100,"data":{"source":0,"texts":[{"id":2,"value":"x"}],"attributes":[],"removes":[],"adds":[]}}"#
                .into(),
            r#"{"type":3,"timestamp":900,"data":{"source":1,"positions":[{"x":380,"y":290,"id":7,"timeOffset":-100}]}}"#.into(),
        ];
        for i in 0..5 {
            events.push(click(1000 + i * 150, 400, 300));
        }
        let (out, s) = run_rrweb(&format!("[{}]", events.join(","))).unwrap();
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        let last = lines(&out).pop().expect("a detection");
        assert_eq!((last["emotion"].as_str(), last["section"].as_str()), (Some("rage"), Some("checkout")), "{out}");
        assert!(last["confidence"].as_f64().unwrap() >= 0.85, "{out}");
    }

    #[test]
    fn malformed_rrweb_events_are_reported_by_index() {
        let events = r#"[
            {"type":3,"timestamp":0,"data":{"source":2,"type":2,"id":1,"x":1,"y":1}},
            42,
            {"type":3,"data":{"source":2,"type":2,"id":1,"x":1,"y":1}},
            {"type":3,"timestamp":5,"data":{"source":1,"positions":[{"x":1,"y":1,"id":1,"timeOffset":0},{"x":1,"id":1,"timeOffset":0}]}},
            {"type":3,"timestamp":6,"data":{"source":2,"type":2,"id":1,"y":1}},
            {"type":3,"timestamp":7,"data":{"source":3,"id":1,"x":0}},
            {"type":"3","timestamp":8,"data":{}},
            {"type":3,"timestamp":9},
            {"type":3,"timestamp":10,"data":{"source":1,"positions":[{"x":70000,"y":1,"id":1,"timeOffset":0}]}},
            {"type":3,"timestamp":11,"data":{"source":2,"type":2,"id":1,"x":2,"y":2}}
        ]"#;
        let (_, s) = run_rrweb(events).unwrap();
        let at: Vec<Location> = s.errors.iter().map(|e| e.at).collect();
        assert_eq!(at, [1, 2, 3, 4, 5, 6, 7, 8].map(Location::Event));
        assert_eq!(s.events, 10);
        assert_eq!(s.rows, 2, "a partly bad move event adds none of its positions");
        let messages: Vec<&str> = s.errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "not an object",
                "missing timestamp",
                "missing data.positions[1].y",
                "missing data.x",
                "missing data.y",
                "type is not a non-negative integer",
                "missing data",
                "data.positions[0].x 70000 is outside -32768..=32767",
            ]
        );
    }

    #[test]
    fn an_rrweb_file_that_is_not_an_array_is_refused() {
        for bad in [r#"{"type":3}"#, "[{\"type\":3,", "", "[] []"] {
            match run_rrweb(bad) {
                Err(ReplayError::NotRrweb(m)) => assert!(!m.is_empty()),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let (out, s) = run_rrweb("[]").unwrap();
        assert!(out.is_empty());
        assert_eq!(s.events, 0);
    }
}
