//! Money and time as the server writes them for people and for machines, in one place so every
//! surface says the same thing:
//!
//! * [`money`]: an amount in cents as a person reads it, `$15,000`, `$15,000.50`, `-$1,234`. The
//!   text of escalation messages (SMS, WhatsApp, Slack, email, PagerDuty summaries), the openers
//!   of conversation cards, the reasons of identity strength (the widget and the dashboard's
//!   customer view) and any other amount the dashboard is sent as text.
//! * [`iso8601_ms`]: a time in milliseconds since the Unix epoch as ISO 8601 UTC with
//!   milliseconds, `2023-08-24T05:01:45.042Z`, the timestamps providers and webhook receivers
//!   read (PagerDuty's `timestamp`, the webhook envelope's `timestamp`).
//!
//! Both are total: every `i64` has an output and none panics (no overflow at `i64::MIN` or
//! `i64::MAX`). Amounts carry a dollar sign whatever the tenant's currency; no currency
//! conversion or locale is applied.

use std::fmt::Write as _;

/// Cents as a person reads the amount: a dollar sign, thousands separated by commas, the cents
/// only when there are some (always two digits), a leading minus for negative amounts:
/// `$15,000` (1 500 000), `$15,000.50` (1 500 050), `$0.05` (5), `-$1,234` (−123 400).
/// Exact for every `i64`, `i64::MIN` included.
pub fn money(cents: i64) -> String {
    let abs = cents.unsigned_abs();
    let (dollars, rest) = (abs / 100, abs % 100);
    let digits = dollars.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 5);
    if cents < 0 {
        out.push('-');
    }
    out.push('$');
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    if rest != 0 {
        // Writing to a `String` cannot fail.
        let _ = write!(out, ".{rest:02}");
    }
    out
}

/// `2026-11-23T06:55:18.123Z` from milliseconds since the Unix epoch (UTC, ISO 8601). Times
/// before 1970 floor to the millisecond before (`-1` is `1969-12-31T23:59:59.999Z`); years
/// beyond 9999 or before 1 are written with as many digits as they need.
pub fn iso8601_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let tod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", tod / 3600, tod % 3600 / 60, tod % 60)
}

/// The proleptic Gregorian `(year, month 1..=12, day 1..=31)` of a day counted from 1970-01-01
/// (Howard Hinnant's `civil_from_days`), for every `i64` day a time in ms can reach.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    #[test]
    fn money_groups_thousands_and_shows_cents_only_when_there_are_some() {
        assert_eq!(money(1_500_000), "$15,000");
        assert_eq!(money(1_500_050), "$15,000.50");
        assert_eq!(money(1_500_001), "$15,000.01");
        assert_eq!(money(-123_400), "-$1,234");
        assert_eq!(money(-150), "-$1.50");
        assert_eq!(money(0), "$0");
        assert_eq!(money(5), "$0.05");
        assert_eq!(money(100), "$1");
        assert_eq!(money(99_999_900), "$999,999");
        assert_eq!(money(100_000_000), "$1,000,000");
        assert_eq!(money(123_456_789), "$1,234,567.89");
    }

    /// What `escalation::dollars` wrote for whole dollars is unchanged; what it dropped (the
    /// cents: 99 cents read `$0`) is now shown.
    #[test]
    fn money_says_what_the_sms_said() {
        assert_eq!(money(10_000_000), "$100,000");
        assert_eq!(money(12_345_678_900), "$123,456,789");
        assert_eq!(money(99), "$0.99");
    }

    #[test]
    fn money_is_exact_at_the_ends_of_i64() {
        assert_eq!(money(i64::MAX), "$92,233,720,368,547,758.07");
        assert_eq!(money(i64::MIN), "-$92,233,720,368,547,758.08");
        assert_eq!(money(i64::MIN + 1), "-$92,233,720,368,547,758.07");
    }

    /// The cents `text` says, if it is exactly in [`money`]'s format (sign, `$`, the first group
    /// of 1 to 3 digits without a leading zero, `,ddd` groups, `.dd` other than `.00`).
    fn parse(text: &str) -> Option<i64> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text),
        };
        let rest = rest.strip_prefix('$')?;
        let (whole, cents) = match rest.split_once('.') {
            Some((w, c)) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_digit()) && c != "00" => (w, c.parse::<i128>().ok()?),
            Some(_) => return None,
            None => (rest, 0),
        };
        let mut groups = whole.split(',');
        let first = groups.next()?;
        let first_ok = (1..=3).contains(&first.len()) && (first == "0" || !first.starts_with('0'));
        if !first_ok || !first.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut dollars: i128 = first.parse().ok()?;
        for g in groups {
            if g.len() != 3 || !g.bytes().all(|b| b.is_ascii_digit()) || dollars == 0 {
                return None;
            }
            dollars = dollars * 1000 + g.parse::<i128>().ok()?;
        }
        let magnitude = dollars * 100 + cents;
        if negative && magnitude == 0 {
            return None;
        }
        i64::try_from(if negative { -magnitude } else { magnitude }).ok()
    }

    #[test]
    fn the_parser_rejects_what_money_never_writes() {
        for bad in ["", "$", "15,000", "$15000", "$015", "$1,23", "$1.5", "$1.00", "$1,000.", "-$0", "$-1", "$0,000", "$1,000,0000"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(parse("-$1,234.05"), Some(-123_405));
    }

    #[test]
    fn money_round_trips_through_its_digits() {
        let cents = prop_oneof![
            any::<i64>(),
            -1_000_000_000..1_000_000_000i64,
            (-10_000_000_000..10_000_000_000i64).prop_map(|dollars| dollars * 100),
            prop::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, 1, 99, 100, i64::MAX - 1, i64::MAX]),
        ];
        // A fixed seed: the same values on every run, and no regression files written.
        let config = Config { cases: 4000, failure_persistence: None, ..Config::default() };
        let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[11; 32]));
        let result = runner.run(&cents, |c| {
            let text = money(c);
            prop_assert_eq!(parse(&text), Some(c), "{}", text);
            prop_assert_eq!(text.contains('.'), c % 100 != 0, "{}", text);
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }

    #[test]
    fn timestamps_are_iso8601_utc() {
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(1_692_853_305_042), "2023-08-24T05:01:45.042Z");
        assert_eq!(iso8601_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn timestamps_before_1970_and_at_the_ends_of_i64() {
        assert_eq!(iso8601_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(iso8601_ms(-62_135_596_800_000), "0001-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(iso8601_ms(i64::MAX), "292278994-08-17T07:12:55.807Z");
        assert_eq!(iso8601_ms(i64::MIN), "-292275055-05-16T16:47:04.192Z");
    }
}
