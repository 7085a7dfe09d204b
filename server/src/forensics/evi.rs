//! The emotional volatility index (EVI) and the daily emotion weather.
//!
//! **EVI** of a tenant over a period: the confidence-weighted count of confirmed struggles
//! (every emotion but `engaged`) per 100 active session-minutes,
//!
//! ```text
//! EVI = 100 × Σ confidence(d) / M
//! ```
//!
//! where the sum runs over the struggles confirmed in the period and `M` is the active
//! session-minutes (minutes in which the page sent physics) of the sessions that started in
//! it. 0 is a calm product; 10 is one sure struggle every ten active minutes. Its 95% interval
//! treats the number of struggles as a Poisson count (the exact Garwood interval) and scales
//! the index alike. With no active minute there is no index.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{poisson, Figure, DAY_MS};
use crate::store::DetectionPoint;

/// One hour, ms: the EVI chart's bucket.
pub const HOUR_MS: i64 = 3_600_000;
/// Weather words by EVI (labels on the index, not measurements): below the first, `calm`;
/// below the second, `unsettled`; else `stormy`.
pub const WEATHER_BANDS: (f64, f64) = (5.0, 20.0);

fn is_struggle(emotion: &str) -> bool {
    emotion != "engaged"
}

/// The EVI of `points` over `minutes` active session-minutes.
pub fn evi(points: &[&DetectionPoint], minutes: i64) -> Figure {
    if minutes <= 0 {
        return Figure::too_little("no active session-minute in this period");
    }
    let struggles: Vec<f64> = points.iter().filter(|p| is_struggle(&p.emotion)).map(|p| p.confidence).collect();
    let n = struggles.len() as u64;
    let weighted: f64 = struggles.iter().sum();
    let per = 100.0 / minutes as f64;
    let (lo, hi) = poisson(n);
    // The mean confidence carries the count's interval over to the weighted sum (1 with none).
    let mean = if n == 0 { 1.0 } else { weighted / n as f64 };
    Figure::estimate(weighted * per, lo * mean * per, hi * mean * per)
}

/// One bucket of the EVI chart.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bucket {
    /// Start of the bucket, ms.
    pub start_ms: i64,
    /// Struggles confirmed in it.
    pub struggles: u64,
    /// Active session-minutes of the sessions started in it.
    pub minutes: i64,
    /// The EVI with its interval.
    pub evi: Figure,
}

/// The EVI per `bucket_ms` from `since_ms` up to `now_ms`, oldest first.
pub fn series(points: &[DetectionPoint], sessions: &[(i64, i64)], since_ms: i64, now_ms: i64, bucket_ms: i64) -> Vec<Bucket> {
    let start = since_ms - since_ms.rem_euclid(bucket_ms);
    let n = ((now_ms - start) / bucket_ms + 1).max(0) as usize;
    let mut minutes = vec![0i64; n];
    let mut pts: Vec<Vec<&DetectionPoint>> = vec![Vec::new(); n];
    let slot = |t: i64| -> Option<usize> { (t >= start).then(|| ((t - start) / bucket_ms) as usize).filter(|&i| i < n) };
    for &(started, m) in sessions {
        if let Some(i) = slot(started) {
            minutes[i] += m;
        }
    }
    for p in points {
        if let Some(i) = slot(p.created_ms) {
            pts[i].push(p);
        }
    }
    (0..n)
        .map(|i| Bucket {
            start_ms: start + i as i64 * bucket_ms,
            struggles: pts[i].iter().filter(|p| is_struggle(&p.emotion)).count() as u64,
            minutes: minutes[i],
            evi: evi(&pts[i], minutes[i]),
        })
        .collect()
}

/// The daily emotion weather of one UTC day.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Weather {
    /// The day, `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Its EVI with the interval.
    pub evi: Figure,
    /// `calm`, `unsettled` or `stormy` by [`WEATHER_BANDS`] (none without an index).
    pub sky: Option<&'static str>,
    /// The seven days before, together.
    pub week_before: Figure,
    /// `rising` when the day's interval lies wholly above the week's, `falling` below,
    /// else `steady`; none without both indices.
    pub trend: Option<&'static str>,
    /// Struggles per emotion that day.
    pub emotions: BTreeMap<String, u64>,
    /// The sections with the most confidence-weighted struggle that day, most first (at most 5).
    pub sections: Vec<(String, f64)>,
    /// Active session-minutes that day.
    pub minutes: i64,
    /// One sentence that says it.
    pub summary: String,
}

/// The weather of the UTC day starting at `day_start_ms`, against the seven days before it.
pub fn weather(points: &[DetectionPoint], sessions: &[(i64, i64)], day_start_ms: i64) -> Weather {
    let within = |a: i64, b: i64| move |t: i64| t >= a && t < b;
    let today = within(day_start_ms, day_start_ms + DAY_MS);
    let week = within(day_start_ms - 7 * DAY_MS, day_start_ms);
    let day_points: Vec<&DetectionPoint> = points.iter().filter(|p| today(p.created_ms)).collect();
    let week_points: Vec<&DetectionPoint> = points.iter().filter(|p| week(p.created_ms)).collect();
    let minutes: i64 = sessions.iter().filter(|s| today(s.0)).map(|s| s.1).sum();
    let week_minutes: i64 = sessions.iter().filter(|s| week(s.0)).map(|s| s.1).sum();
    let evi_today = evi(&day_points, minutes);
    let week_before = evi(&week_points, week_minutes);
    let sky = evi_today.parts().map(|(v, _, _)| {
        if v < WEATHER_BANDS.0 {
            "calm"
        } else if v < WEATHER_BANDS.1 {
            "unsettled"
        } else {
            "stormy"
        }
    });
    let trend = match (evi_today.parts(), week_before.parts()) {
        (Some((_, l, h)), Some((_, wl, wh))) => Some(if l > wh {
            "rising"
        } else if h < wl {
            "falling"
        } else {
            "steady"
        }),
        _ => None,
    };
    let mut emotions = BTreeMap::new();
    let mut sections: BTreeMap<String, f64> = BTreeMap::new();
    for p in day_points.iter().filter(|p| is_struggle(&p.emotion)) {
        *emotions.entry(p.emotion.clone()).or_insert(0) += 1;
        let name = if p.section.is_empty() { "(no section)".to_string() } else { p.section.clone() };
        *sections.entry(name).or_insert(0.0) += p.confidence;
    }
    let mut sections: Vec<(String, f64)> = sections.into_iter().map(|(s, w)| (s, (w * 100.0).round() / 100.0)).collect();
    sections.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    sections.truncate(5);
    let (y, m, d) = crate::records::format::civil_from_days(day_start_ms.div_euclid(DAY_MS));
    let day = format!("{y:04}-{m:02}-{d:02}");
    let summary = match (&evi_today, sky) {
        (Figure::Estimate { value, low, high }, Some(sky)) => {
            let worst = emotions.iter().max_by_key(|e| e.1).map(|(e, n)| format!("; most often {e} ({n})")).unwrap_or_default();
            let place = sections.first().map(|s| format!(", mostly in {}", s.0)).unwrap_or_default();
            let trend = trend.map(|t| format!(", {t} against the week before")).unwrap_or_default();
            format!("{day}: {sky}. EVI {value:.1} (95% {low:.1}–{high:.1}) over {minutes} active minutes{worst}{place}{trend}.")
        }
        _ => format!("{day}: no active session-minute, no weather."),
    };
    Weather { day, evi: evi_today, sky, week_before, trend, emotions, sections, minutes, summary }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(emotion: &str, section: &str, confidence: f64, at: i64) -> DetectionPoint {
        DetectionPoint { emotion: emotion.into(), section: section.into(), confidence, created_ms: at }
    }

    #[test]
    fn evi_is_weighted_struggles_per_hundred_active_minutes_with_a_poisson_interval() {
        let pts = [p("rage", "checkout", 0.9, 0), p("confusion", "pricing", 0.7, 1), p("engaged", "", 0.99, 2)];
        let refs: Vec<&DetectionPoint> = pts.iter().collect();
        let (v, l, h) = evi(&refs, 40).parts().unwrap();
        assert!((v - 100.0 * 1.6 / 40.0).abs() < 1e-12, "engaged is not a struggle: {v}");
        let (pl, ph) = poisson(2);
        assert!((l - pl * 0.8 * 2.5).abs() < 1e-9 && (h - ph * 0.8 * 2.5).abs() < 1e-9);
        assert!(matches!(evi(&refs, 0), Figure::TooLittleData { .. }));
        let (v, l, h) = evi(&[], 100).parts().unwrap();
        assert!(v == 0.0 && l == 0.0 && (h - 3.6889).abs() < 1e-3, "a calm period still has an upper bound: {h}");
    }

    #[test]
    fn series_buckets_by_hour_and_weather_reads_the_day() {
        let day = 20_000 * DAY_MS;
        let pts = [p("rage", "checkout", 1.0, day + 10), p("rage", "checkout", 1.0, day + HOUR_MS + 5), p("rage", "x", 1.0, day - DAY_MS)];
        let sessions = [(day, 30), (day + HOUR_MS, 10), (day - DAY_MS, 1000)];
        let s = series(&pts, &sessions, day, day + HOUR_MS + 1, HOUR_MS);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].struggles, s[0].minutes, s[1].struggles, s[1].minutes), (1, 30, 1, 10));
        let w = weather(&pts, &sessions, day);
        assert_eq!(w.day, "2024-10-04");
        // EVI 5.0 (95% 0.61–18.1) against the week's 0.1 (0.003–0.56): above its interval.
        assert_eq!((w.minutes, w.sky, w.trend), (40, Some("unsettled"), Some("rising")));
        assert_eq!(w.sections, vec![("checkout".to_string(), 2.0)]);
        assert!(
            w.summary.starts_with("2024-10-04: unsettled. EVI 5.0 (95% 0.6–18.1) over 40 active minutes; most often rage (2)"),
            "{}",
            w.summary
        );
    }
}
