//! `sentientiq detect --input FILE.csv`: replays an event-stream CSV through the same
//! streaming detector the SDK runs ([`shared_physics::detect::Detector`]) and prints one JSON
//! line per detection it would have sent.
//!
//! Format (header required): `session,t_ms,kind,x,y,target` where `kind` is
//! `move|down|up|click|scroll`, `t_ms` milliseconds since the page started, `x`/`y` viewport
//! CSS px (for `scroll`, `y` is the scroll offset) and `target` the section name (may be empty).
//! A bad row is reported with its line number and skipped; the command then exits non-zero.

use std::collections::HashMap;
use std::io::{Read, Write};

use shared_physics::detect::{Detector, RageParams};
use shared_physics::{Kind, Sample};

/// A row that could not be used.
#[derive(Debug, PartialEq)]
pub struct RowError {
    /// 1-based line number in the file.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// What a replay saw.
#[derive(Debug, Default, PartialEq)]
pub struct Summary {
    /// Rows used.
    pub rows: u64,
    /// Detections printed.
    pub detections: u64,
    /// Rows refused.
    pub errors: Vec<RowError>,
}

#[derive(Default)]
struct SessionReplay {
    detector: Detector,
    sections: HashMap<String, u8>,
    names: Vec<String>,
}

impl SessionReplay {
    fn section_id(&mut self, name: &str) -> u8 {
        if name.is_empty() {
            return 0;
        }
        if let Some(&id) = self.sections.get(name) {
            return id;
        }
        if self.names.len() >= 255 {
            return 0;
        }
        self.names.push(name.to_string());
        let id = self.names.len() as u8;
        self.sections.insert(name.to_string(), id);
        id
    }
}

fn parse_kind(s: &str) -> Option<Kind> {
    Some(match s {
        "move" => Kind::Move,
        "down" => Kind::Down,
        "up" => Kind::Up,
        "click" => Kind::Click,
        "scroll" => Kind::Scroll,
        _ => return None,
    })
}

fn parse_num(field: &str, s: &str, lo: f64, hi: f64) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("{field} {s:?} is not a number"))?;
    if !v.is_finite() || v < lo || v > hi {
        return Err(format!("{field} {v} is outside {lo}..={hi}"));
    }
    Ok(v)
}

/// Replays `input`, writing detections as JSON lines to `out`.
pub fn replay_csv(input: impl Read, out: &mut impl Write, params: RageParams) -> std::io::Result<Summary> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(input);
    let mut summary = Summary::default();
    let expected = ["session", "t_ms", "kind", "x", "y", "target"];
    match rdr.headers() {
        Ok(h) if h.iter().map(str::trim).eq(expected) => {}
        Ok(h) => {
            summary.errors.push(RowError {
                line: 1,
                message: format!("header must be {:?}, found {:?}", expected.join(","), h.iter().collect::<Vec<_>>().join(",")),
            });
            return Ok(summary);
        }
        Err(e) => {
            summary.errors.push(RowError { line: 1, message: e.to_string() });
            return Ok(summary);
        }
    }
    let mut sessions: HashMap<String, SessionReplay> = HashMap::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                summary.errors.push(RowError { line, message: e.to_string() });
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        let row = (|| -> Result<(String, Sample, String), String> {
            if rec.len() != 6 {
                return Err(format!("expected 6 fields, found {}", rec.len()));
            }
            let session = rec[0].trim();
            if session.is_empty() {
                return Err("session is empty".into());
            }
            let t = parse_num("t_ms", &rec[1], 0.0, u32::MAX as f64)?;
            let kind = parse_kind(rec[2].trim()).ok_or_else(|| format!("kind {:?} is not one of move|down|up|click|scroll", &rec[2]))?;
            let x = parse_num("x", &rec[3], i16::MIN as f64, i16::MAX as f64)?;
            let y = parse_num("y", &rec[4], i16::MIN as f64, i16::MAX as f64)?;
            let s = Sample { t_ms: t as u32, x: x as i16, y: y as i16, kind, section: 0 };
            Ok((session.to_string(), s, rec[5].trim().to_string()))
        })();
        let (session, mut sample, target) = match row {
            Ok(r) => r,
            Err(message) => {
                summary.errors.push(RowError { line, message });
                continue;
            }
        };
        summary.rows += 1;
        let sr = sessions.entry(session.clone()).or_insert_with(|| SessionReplay { detector: Detector::new(params), ..Default::default() });
        sample.section = sr.section_id(&target);
        if let Some(d) = sr.detector.push(sample) {
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
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(csv: &str) -> (String, Summary) {
        let mut out = Vec::new();
        let s = replay_csv(csv.as_bytes(), &mut out, RageParams::default()).unwrap();
        (String::from_utf8(out).unwrap(), s)
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
        let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
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
        let lines: Vec<u64> = s.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6]);
        assert!(s.errors[1].message.contains("hover"));
    }

    #[test]
    fn a_wrong_header_is_refused() {
        let (_, s) = run("a,b,c\n1,2,3\n");
        assert_eq!(s.errors.len(), 1);
        assert_eq!(s.errors[0].line, 1);
    }
}
