//! Tenant-tunable detector thresholds. A tenant stores only what it changes (JSON, every field
//! optional); the confirm step recomputes each detection with the tenant's effective
//! [`Params`]: the documented defaults with the tenant's values on top.

use serde::{Deserialize, Serialize};
use shared_physics::detect::{Params, RageParams};
use shared_physics::emotions::TraceParams;

/// What a tenant may set, and the range each value must lie in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Fewest clicks that make a rage burst (3..=20).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 3, maximum = 20)]
    pub rage_min_clicks: Option<u8>,
    /// Largest gap between a burst's clicks, ms (100..=2000).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 100, maximum = 2000)]
    pub rage_max_ici_ms: Option<u32>,
    /// Largest distance of a burst click from the first one, px (4..=400).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 4.0, maximum = 400.0)]
    pub rage_radius_px: Option<f32>,
    /// The whole burst lies within this, ms (500..=2500; the evidence window holds it and the
    /// answer window after it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 500, maximum = 2500)]
    pub rage_window_ms: Option<u32>,
    /// Fewest dead-click episodes for frustration (1..=20).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 20)]
    pub frustration_min_dead_clicks: Option<u8>,
    /// Fewest scroll reversals for confusion (1..=20).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 20)]
    pub confusion_min_scroll_reversals: Option<u8>,
    /// Fewest pointer reversals for thrashing (2..=50).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 2, maximum = 50)]
    pub confusion_min_thrash_reversals: Option<u8>,
    /// Fewest swings between options for hesitation (1..=20).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 20)]
    pub hesitation_min_swings: Option<u8>,
    /// Shortest steady reading for engaged, ms (1000..=12000).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1000, maximum = 12000)]
    pub engaged_min_reading_ms: Option<u32>,
}

/// A value outside its range.
#[derive(Clone, Debug, PartialEq)]
pub struct Invalid {
    /// The field.
    pub field: &'static str,
    /// What it must be.
    pub expected: String,
}

fn check<T: PartialOrd + Copy + std::fmt::Display>(field: &'static str, v: Option<T>, lo: T, hi: T) -> Result<(), Invalid> {
    match v {
        Some(v) if !(lo <= v && v <= hi) => Err(Invalid { field, expected: format!("between {lo} and {hi}") }),
        _ => Ok(()),
    }
}

impl Thresholds {
    /// Parses a stored value (`{}` or empty: nothing set). A stored value that no longer parses
    /// counts as nothing set (the defaults apply).
    pub fn parse(stored: &str) -> Thresholds {
        if stored.trim().is_empty() {
            return Thresholds::default();
        }
        serde_json::from_str(stored).unwrap_or_default()
    }

    /// Checks every set value against its range.
    pub fn validate(&self) -> Result<(), Invalid> {
        check("rage_min_clicks", self.rage_min_clicks, 3, 20)?;
        check("rage_max_ici_ms", self.rage_max_ici_ms, 100, 2000)?;
        check("rage_radius_px", self.rage_radius_px, 4.0, 400.0)?;
        check("rage_window_ms", self.rage_window_ms, 500, shared_physics::detect::MAX_RAGE_WINDOW_MS)?;
        check("frustration_min_dead_clicks", self.frustration_min_dead_clicks, 1, 20)?;
        check("confusion_min_scroll_reversals", self.confusion_min_scroll_reversals, 1, 20)?;
        check("confusion_min_thrash_reversals", self.confusion_min_thrash_reversals, 2, 50)?;
        check("hesitation_min_swings", self.hesitation_min_swings, 1, 20)?;
        check("engaged_min_reading_ms", self.engaged_min_reading_ms, 1000, shared_physics::trace::TRACE_WINDOW_MS)?;
        Ok(())
    }

    /// The effective parameters: the defaults with these values on top.
    pub fn params(&self) -> Params {
        let (r, t) = (RageParams::DEFAULT, TraceParams::DEFAULT);
        Params {
            rage: RageParams {
                min_clicks: self.rage_min_clicks.unwrap_or(r.min_clicks),
                max_ici_ms: self.rage_max_ici_ms.unwrap_or(r.max_ici_ms),
                radius_px: self.rage_radius_px.unwrap_or(r.radius_px),
                window_ms: self.rage_window_ms.unwrap_or(r.window_ms),
            },
            trace: TraceParams {
                min_dead_clicks: self.frustration_min_dead_clicks.unwrap_or(t.min_dead_clicks),
                min_scroll_reversals: self.confusion_min_scroll_reversals.unwrap_or(t.min_scroll_reversals),
                min_thrash_reversals: self.confusion_min_thrash_reversals.unwrap_or(t.min_thrash_reversals),
                min_swings: self.hesitation_min_swings.unwrap_or(t.min_swings),
                min_reading_ms: self.engaged_min_reading_ms.unwrap_or(t.min_reading_ms),
                ..t
            },
        }
    }

    /// Every value in effect, as the API shows it.
    pub fn effective(&self) -> Thresholds {
        let p = self.params();
        Thresholds {
            rage_min_clicks: Some(p.rage.min_clicks),
            rage_max_ici_ms: Some(p.rage.max_ici_ms),
            rage_radius_px: Some(p.rage.radius_px),
            rage_window_ms: Some(p.rage.window_ms),
            frustration_min_dead_clicks: Some(p.trace.min_dead_clicks),
            confusion_min_scroll_reversals: Some(p.trace.min_scroll_reversals),
            confusion_min_thrash_reversals: Some(p.trace.min_thrash_reversals),
            hesitation_min_swings: Some(p.trace.min_swings),
            engaged_min_reading_ms: Some(p.trace.min_reading_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_set_is_the_defaults_and_set_values_win() {
        assert_eq!(Thresholds::parse("{}").params(), Params::DEFAULT);
        assert_eq!(Thresholds::parse("").params(), Params::DEFAULT);
        let t = Thresholds::parse(r#"{"rage_min_clicks": 6, "hesitation_min_swings": 5}"#);
        let p = t.params();
        assert_eq!((p.rage.min_clicks, p.trace.min_swings, p.rage.max_ici_ms), (6, 5, RageParams::DEFAULT.max_ici_ms));
        assert_eq!(t.effective().rage_max_ici_ms, Some(RageParams::DEFAULT.max_ici_ms));
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        let bad = Thresholds { rage_min_clicks: Some(2), ..Default::default() };
        assert_eq!(bad.validate().unwrap_err().field, "rage_min_clicks");
        let bad = Thresholds { rage_radius_px: Some(f32::NAN), ..Default::default() };
        assert_eq!(bad.validate().unwrap_err().field, "rage_radius_px");
        assert!(Thresholds { confusion_min_thrash_reversals: Some(8), ..Default::default() }.validate().is_ok());
        assert!(serde_json::from_str::<Thresholds>(r#"{"rage_clicks": 4}"#).is_err(), "unknown fields are refused");
    }
}
