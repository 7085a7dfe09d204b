//! What the widget shows, computed from the answer of `GET /v1/me` and nothing else.
//!
//! This module is plain Rust (no browser calls), so every figure the customer sees is unit
//! tested natively: the top reasons (which factors help the score, which hold it back), the
//! milestones reached and which of them are new since the customer last looked, and the "your
//! year with us" reflection over the daily strength history. Nothing here is estimated or
//! invented: a figure that the data cannot support is left out.
//!
//! Numbers are shown as whole points, formatted by [`int`] and [`signed`] without `core::fmt`'s
//! float formatting (which would add kilobytes to the module).

/// The longest text taken from the server (a name, a reason), in characters; longer text is cut
/// and ends with `…`.
pub const MAX_TEXT_CHARS: usize = 160;
/// At most this many factors are read from the answer; the server sends five.
pub const MAX_FACTORS: usize = 16;
/// At most this many history snapshots are read from the answer (a year and a day of them).
pub const MAX_HISTORY: usize = 366;
/// How many factors are listed under "what helps".
pub const TOP_HELPS: usize = 3;
/// How many factors are listed under "what holds it back".
pub const TOP_HOLDS_BACK: usize = 2;
/// The window of the "your year with us" reflection, in days, ending on the latest snapshot.
pub const YEAR_DAYS: i64 = 365;
/// A factor that earned at least this share of its maximum helps the score (the server's rule,
/// `strength::Factor::helps`).
pub const HELPS_FILL: f64 = 0.5;

/// One additive part of the identity strength, as the server explains it.
#[derive(Clone, Debug, PartialEq)]
pub struct Factor {
    /// `tenure`, `engagement`, `satisfaction`, `loyalty` or `value`.
    pub name: String,
    /// Points earned, `0..=max`.
    pub contribution: f64,
    /// The factor's maximum points (positive).
    pub max: f64,
    /// What the factor read, as a short sentence written by the server.
    pub reason: String,
}

impl Factor {
    /// The share of its maximum the factor earned, `0..=1`.
    pub fn fill(&self) -> f64 {
        (self.contribution / self.max).clamp(0.0, 1.0)
    }

    /// Whether the factor helps the score (it earned at least [`HELPS_FILL`] of its points).
    pub fn helps(&self) -> bool {
        self.fill() >= HELPS_FILL
    }

    /// The points the factor could still earn.
    pub fn missing(&self) -> f64 {
        (self.max - self.contribution).max(0.0)
    }

    /// How the factor is named to the customer.
    pub fn label(&self) -> &str {
        match self.name.as_str() {
            "tenure" => "Time with us",
            "engagement" => "Visits",
            "satisfaction" => "Experience",
            "loyalty" => "Coming back",
            "value" => "Purchases",
            other => other,
        }
    }
}

/// The strength on one day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snapshot {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    /// The score that day, `0..=100`.
    pub score: f64,
}

/// The state a customer shares with one tap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Busy: no in-page interruptions, please.
    Busy,
    /// Stuck: could use help.
    Stuck,
    /// Just looking around.
    Exploring,
    /// Frustrated.
    Frustrated,
}

impl Context {
    /// Every state, in the order of the buttons.
    pub const ALL: [Context; 4] = [Context::Busy, Context::Stuck, Context::Exploring, Context::Frustrated];

    /// The wire name (`POST /v1/me/context {state}`).
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Busy => "busy",
            Context::Stuck => "stuck",
            Context::Exploring => "exploring",
            Context::Frustrated => "frustrated",
        }
    }

    /// The button's text.
    pub fn label(self) -> &'static str {
        match self {
            Context::Busy => "I'm busy",
            Context::Stuck => "I'm stuck",
            Context::Exploring => "Just exploring",
            Context::Frustrated => "I'm frustrated",
        }
    }

    /// The state named `s` on the wire, if any.
    pub fn parse(s: &str) -> Option<Context> {
        Context::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// The customer's own view, as read from `GET /v1/me`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Me {
    /// The customer's id (the visitor token's `sub`).
    pub sub: Option<String>,
    /// The name in the visitor token, if any.
    pub name: Option<String>,
    /// The identity strength, `0..=100`; `None` for a customer not scored yet.
    pub strength: Option<f64>,
    /// The strength's factors.
    pub factors: Vec<Factor>,
    /// Daily strength snapshots, in any order.
    pub history: Vec<Snapshot>,
    /// The state the customer shared, if it has not expired.
    pub context: Option<Context>,
}

/// Why the score is what it is: the factors that help most and those that hold it back most.
#[derive(Debug, PartialEq)]
pub struct Reasons<'a> {
    /// Helping factors, most points first, at most [`TOP_HELPS`].
    pub helps: Vec<&'a Factor>,
    /// Factors below half their points, most points missing first, at most [`TOP_HOLDS_BACK`].
    pub holds_back: Vec<&'a Factor>,
}

/// The `n` factors with the largest `key`, largest first; ties keep the server's order. An
/// insertion sort: a handful of factors, and far less code in the module than `sort_by`.
fn top<'a>(factors: impl Iterator<Item = &'a Factor>, key: fn(&Factor) -> f64, n: usize) -> Vec<&'a Factor> {
    let mut out: Vec<&Factor> = Vec::new();
    for f in factors {
        let at = out.iter().position(|g| key(f) > key(g)).unwrap_or(out.len());
        out.insert(at, f);
    }
    out.truncate(n);
    out
}

/// The top reasons of a score.
pub fn reasons(factors: &[Factor]) -> Reasons<'_> {
    Reasons {
        helps: top(factors.iter().filter(|f| f.helps()), |f| f.contribution, TOP_HELPS),
        holds_back: top(factors.iter().filter(|f| !f.helps()), Factor::missing, TOP_HOLDS_BACK),
    }
}

/// "Your year with us": the history of the last [`YEAR_DAYS`] days up to the latest snapshot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Year {
    /// Days from the first snapshot in the window to the latest, both counted.
    pub days: i64,
    /// The best score in the window.
    pub best: f64,
    /// The day of the best score (the latest such day on a tie).
    pub best_day: i64,
    /// The latest score minus the first in the window.
    pub change: f64,
    /// How many snapshots the window holds.
    pub snapshots: usize,
}

/// The reflection over `history` (any order); `None` without a snapshot.
pub fn year(history: &[Snapshot]) -> Option<Year> {
    let latest = history.iter().max_by_key(|s| s.day)?;
    let window: Vec<&Snapshot> = history.iter().filter(|s| s.day > latest.day - YEAR_DAYS).collect();
    let first = window.iter().min_by_key(|s| s.day)?;
    let best = window.iter().fold(*first, |b, s| if s.score > b.score || (s.score == b.score && s.day > b.day) { s } else { b });
    Some(Year {
        days: latest.day - first.day + 1,
        best: best.score,
        best_day: best.day,
        change: latest.score - first.score,
        snapshots: window.len(),
    })
}

/// Something worth celebrating. The list, and what reaches each, is in `docs/widget.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Milestone {
    /// 30 days of strength history.
    Days30,
    /// 100 days of strength history.
    Days100,
    /// A full year of strength history.
    Days365,
    /// A first purchase: the value factor earned points (lifetime value above zero).
    FirstPurchase,
    /// Strength 50 or more.
    Strength50,
    /// Strength 70 or more.
    Strength70,
    /// Strength 90 or more.
    Strength90,
}

impl Milestone {
    /// Every milestone, in the order shown.
    pub const ALL: [Milestone; 7] = [
        Milestone::Days30,
        Milestone::Days100,
        Milestone::Days365,
        Milestone::FirstPurchase,
        Milestone::Strength50,
        Milestone::Strength70,
        Milestone::Strength90,
    ];

    /// A stable id (stored in the browser to tell what is new).
    pub fn id(self) -> &'static str {
        match self {
            Milestone::Days30 => "d30",
            Milestone::Days100 => "d100",
            Milestone::Days365 => "d365",
            Milestone::FirstPurchase => "buy1",
            Milestone::Strength50 => "s50",
            Milestone::Strength70 => "s70",
            Milestone::Strength90 => "s90",
        }
    }

    /// The text shown.
    pub fn label(self) -> &'static str {
        match self {
            Milestone::Days30 => "30 days with us",
            Milestone::Days100 => "100 days with us",
            Milestone::Days365 => "A year with us",
            Milestone::FirstPurchase => "First purchase",
            Milestone::Strength50 => "Strength 50",
            Milestone::Strength70 => "Strength 70",
            Milestone::Strength90 => "Strength 90",
        }
    }

    /// Whether `me` (with its reflection `year`) has reached it. Strength counts as shown, as
    /// whole points (69.6 shows as 70 and reaches 70).
    pub fn reached(self, me: &Me, year: Option<&Year>) -> bool {
        let days = year.map_or(0, |y| y.days);
        let strength = me.strength.map_or(0, rounded);
        match self {
            Milestone::Days30 => days >= 30,
            Milestone::Days100 => days >= 100,
            Milestone::Days365 => days >= 365,
            Milestone::FirstPurchase => me.factors.iter().any(|f| f.name == "value" && f.contribution > 0.0),
            Milestone::Strength50 => strength >= 50,
            Milestone::Strength70 => strength >= 70,
            Milestone::Strength90 => strength >= 90,
        }
    }
}

/// The milestones `me` has reached, in [`Milestone::ALL`] order.
pub fn milestones(me: &Me, year: Option<&Year>) -> Vec<Milestone> {
    Milestone::ALL.into_iter().filter(|m| m.reached(me, year)).collect()
}

/// The reached milestones as stored: their ids joined by `,`.
pub fn encode(reached: &[Milestone]) -> String {
    let mut s = String::new();
    for m in reached {
        if !s.is_empty() {
            s.push(',');
        }
        s.push_str(m.id());
    }
    s
}

/// The milestones of `reached` that `seen` (an [`encode`]d list from last time) lacks. With no
/// record of last time (`None`) nothing is new: the first look records, it does not celebrate.
pub fn new_since(reached: &[Milestone], seen: Option<&str>) -> Vec<Milestone> {
    let Some(seen) = seen else { return Vec::new() };
    reached.iter().copied().filter(|m| !seen.split(',').any(|id| id == m.id())).collect()
}

/// The browser storage key under which a customer's seen milestones are kept: a hash of the
/// site key and the customer id, so the raw id is not written to the host's storage.
pub fn storage_key(site_key: &str, sub: &str) -> String {
    // FNV-1a, 64 bits: stable across builds and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in site_key.bytes().chain([0]).chain(sub.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut key = String::from("siq-widget-m-");
    for shift in (0..16).rev() {
        key.push(char::from(b"0123456789abcdef"[((h >> (shift * 4)) & 15) as usize]));
    }
    key
}

/// `x` rounded to whole points (NaN reads as 0).
pub fn rounded(x: f64) -> i64 {
    if x.is_nan() {
        0
    } else {
        x.round() as i64
    }
}

/// An integer in decimal, with a `-` when negative.
pub fn int(n: i64) -> String {
    let mut digits = [0u8; 20];
    let mut len = 0;
    let mut u = n.unsigned_abs();
    loop {
        digits[len] = b'0' + (u % 10) as u8;
        len += 1;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    let mut s = String::with_capacity(len + 1);
    if n < 0 {
        s.push('-');
    }
    s.extend(digits[..len].iter().rev().map(|&d| char::from(d)));
    s
}

/// A change in whole points, signed: `+12`, `-3`, `0`.
pub fn signed(x: f64) -> String {
    let n = rounded(x);
    if n > 0 {
        let mut s = String::from("+");
        s.push_str(&int(n));
        s
    } else {
        int(n)
    }
}

/// `s` cut to at most `max` characters, ending with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some(_) => {
            let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
            out.push('…');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factor(name: &str, contribution: f64, max: f64) -> Factor {
        Factor { name: name.into(), contribution, max, reason: format!("{name} reason") }
    }

    fn five(tenure: f64, engagement: f64, satisfaction: f64, loyalty: f64, value: f64) -> Vec<Factor> {
        vec![
            factor("tenure", tenure, 20.0),
            factor("engagement", engagement, 25.0),
            factor("satisfaction", satisfaction, 20.0),
            factor("loyalty", loyalty, 20.0),
            factor("value", value, 15.0),
        ]
    }

    fn names(fs: &[&Factor]) -> Vec<String> {
        fs.iter().map(|f| f.name.clone()).collect()
    }

    #[test]
    fn reasons_split_at_half_and_rank_by_points_earned_and_missing() {
        // tenure 18/20 helps, engagement 12.5/25 helps (exactly half), satisfaction 15/20
        // helps; loyalty 2/20 misses 18, value 7/15 misses 8.
        let fs = five(18.0, 12.5, 15.0, 2.0, 7.0);
        let r = reasons(&fs);
        assert_eq!(names(&r.helps), ["tenure", "satisfaction", "engagement"]);
        assert_eq!(names(&r.holds_back), ["loyalty", "value"]);
    }

    #[test]
    fn reasons_keep_only_the_top_and_may_be_empty() {
        let all_good = five(20.0, 25.0, 20.0, 20.0, 15.0);
        let r = reasons(&all_good);
        assert_eq!(r.helps.len(), TOP_HELPS);
        assert_eq!(names(&r.helps), ["engagement", "tenure", "satisfaction"]); // ties keep server order
        assert!(r.holds_back.is_empty());
        let all_bad = five(0.0, 1.0, 0.0, 0.0, 0.0);
        let r = reasons(&all_bad);
        assert!(r.helps.is_empty());
        assert_eq!(names(&r.holds_back), ["engagement", "tenure"]);
        assert_eq!(reasons(&[]), Reasons { helps: vec![], holds_back: vec![] });
    }

    #[test]
    fn a_factor_over_its_maximum_or_with_a_zero_maximum_reads_as_bounded() {
        assert_eq!(factor("x", 30.0, 20.0).fill(), 1.0);
        assert_eq!(factor("x", -1.0, 20.0).fill(), 0.0);
        assert_eq!(factor("x", -1.0, 20.0).missing(), 21.0);
        assert_eq!(factor("x", 25.0, 20.0).missing(), 0.0);
        assert_eq!(factor("tenure", 1.0, 2.0).label(), "Time with us");
        assert_eq!(factor("mystery", 1.0, 2.0).label(), "mystery");
    }

    fn snap(day: i64, score: f64) -> Snapshot {
        Snapshot { day, score }
    }

    #[test]
    fn the_year_is_measured_from_the_history_in_any_order() {
        // Newest first, as the server sends it.
        let h = [snap(20_100, 64.0), snap(20_050, 81.0), snap(20_000, 52.0)];
        let y = year(&h).unwrap();
        assert_eq!(y, Year { days: 101, best: 81.0, best_day: 20_050, change: 12.0, snapshots: 3 });
        assert_eq!(year(&[]), None);
        let one = year(&[snap(5, 40.0)]).unwrap();
        assert_eq!((one.days, one.change, one.best_day), (1, 0.0, 5));
    }

    #[test]
    fn the_year_ignores_snapshots_older_than_a_year_and_prefers_the_latest_best() {
        let h = [snap(1_000, 99.0), snap(1_000 + YEAR_DAYS - 1, 70.0), snap(1_000 + YEAR_DAYS, 60.0), snap(1_000 + YEAR_DAYS + 10, 70.0)];
        let y = year(&h).unwrap();
        // The latest is day 1375; the window is days 1011..=1375, so day 1000 is outside and
        // the window starts on day 1364.
        assert_eq!(y.snapshots, 3);
        assert_eq!(y.days, 1_375 - 1_364 + 1);
        assert_eq!(y.best, 70.0);
        assert_eq!(y.best_day, 1_000 + YEAR_DAYS + 10);
        assert_eq!(y.change, 0.0);
        // Exactly YEAR_DAYS days: the window's first day is latest - 364.
        let edge = [snap(0, 10.0), snap(1, 20.0), snap(YEAR_DAYS, 30.0)];
        let y = year(&edge).unwrap();
        assert_eq!((y.snapshots, y.days, y.change), (2, YEAR_DAYS, 10.0));
    }

    fn me(strength: f64, value: f64, days: i64) -> (Me, Option<Year>) {
        let m = Me {
            strength: Some(strength),
            factors: five(10.0, 10.0, 10.0, 0.0, value),
            history: if days > 0 { vec![snap(100, 40.0), snap(100 + days - 1, strength)] } else { vec![] },
            ..Me::default()
        };
        let y = year(&m.history);
        (m, y)
    }

    #[test]
    fn milestones_follow_the_data_at_their_thresholds() {
        let (m, y) = me(49.4, 0.0, 29);
        assert_eq!(milestones(&m, y.as_ref()), []);
        let (m, y) = me(49.5, 0.1, 30);
        assert_eq!(milestones(&m, y.as_ref()), [Milestone::Days30, Milestone::FirstPurchase, Milestone::Strength50]);
        let (m, y) = me(69.6, 0.0, 100);
        assert_eq!(milestones(&m, y.as_ref()), [Milestone::Days30, Milestone::Days100, Milestone::Strength50, Milestone::Strength70]);
        let (m, y) = me(90.0, 3.0, 365);
        assert_eq!(milestones(&m, y.as_ref()), Milestone::ALL);
        let unscored = Me::default();
        assert_eq!(milestones(&unscored, None), []);
    }

    #[test]
    fn only_milestones_missing_from_last_time_are_new_and_a_first_look_celebrates_nothing() {
        let reached = [Milestone::Days30, Milestone::Strength50, Milestone::Strength70];
        assert_eq!(encode(&reached), "d30,s50,s70");
        assert_eq!(new_since(&reached, Some("d30,s50")), [Milestone::Strength70]);
        assert_eq!(new_since(&reached, Some("d30,s50,s70")), []);
        // "s7" is not "s70": ids are compared whole.
        assert_eq!(new_since(&reached, Some("d30,s50,s7")), [Milestone::Strength70]);
        assert_eq!(new_since(&reached, Some("")), reached);
        assert_eq!(new_since(&reached, None), []);
        let ids: Vec<&str> = Milestone::ALL.iter().map(|m| m.id()).collect();
        for (i, id) in ids.iter().enumerate() {
            assert!(!id.contains(',') && !ids[..i].contains(id), "{id}");
        }
    }

    #[test]
    fn the_storage_key_is_stable_and_does_not_hold_the_id() {
        let k = storage_key("pk_test", "alice@example.com");
        assert_eq!(k, storage_key("pk_test", "alice@example.com"));
        assert!(k.starts_with("siq-widget-m-") && k.len() == 13 + 16, "{k}");
        assert!(!k.contains("alice"));
        assert_ne!(k, storage_key("pk_test", "bob@example.com"));
        // The separator keeps ("pk_a", "b…") and ("pk_ab", "…") apart.
        assert_ne!(storage_key("pk_a", "bc"), storage_key("pk_ab", "c"));
        // FNV-1a 64 of the empty input is its offset basis; of "\0" it is known.
        assert_eq!(storage_key("", ""), "siq-widget-m-af63bd4c8601b7df");
    }

    #[test]
    fn numbers_are_whole_points_without_float_formatting() {
        assert_eq!(int(0), "0");
        assert_eq!(int(72), "72");
        assert_eq!(int(-305), "-305");
        assert_eq!(int(i64::MIN), "-9223372036854775808");
        assert_eq!(rounded(69.5), 70);
        assert_eq!(rounded(-0.4), 0);
        assert_eq!(rounded(f64::NAN), 0);
        assert_eq!(signed(11.6), "+12");
        assert_eq!(signed(-3.2), "-3");
        assert_eq!(signed(0.4), "0");
    }

    #[test]
    fn long_text_is_clipped_by_characters_not_bytes() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("exactly10!", 10), "exactly10!");
        assert_eq!(clip("eleven chars", 10), "eleven ch…");
        assert_eq!(clip("ééééé", 3), "éé…");
        assert_eq!(clip(&"x".repeat(1000), MAX_TEXT_CHARS).chars().count(), MAX_TEXT_CHARS);
    }

    #[test]
    fn contexts_round_trip_their_wire_names() {
        for c in Context::ALL {
            assert_eq!(Context::parse(c.as_str()), Some(c));
        }
        assert_eq!(Context::parse("angry"), None);
        assert_eq!(Context::parse("Busy"), None);
    }
}
