//! Timestamps: RFC 3339 in UTC with microseconds and a `Z`.
//!
//! The writer is hand-written: `time` and `humantime` refuse or panic on
//! some years a misset clock can give, and this one cannot fail. So is the
//! parser (only the OTLP encoder needs it): `time` cost 11.6 KB of binary for
//! it; a property test holds the two to the same answers.

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats `time` as RFC 3339 in UTC with microseconds and a `Z`.
///
/// Written by hand on the proleptic Gregorian calendar so it cannot fail and
/// never substitutes a made-up time: every instant from year 0 to 9999 gives
/// exact RFC 3339. A clock set outside that range (which RFC 3339 cannot
/// express) is written in ISO 8601's expanded-year form, e.g. `+10000-…`,
/// which is still the true reading of the clock. Sub-microsecond digits are
/// truncated towards the past.
pub(crate) fn rfc3339_utc(time: SystemTime) -> String {
    let mut out = String::with_capacity(27);
    let mut minute = i64::MIN;
    write_rfc3339(&mut out, time, &mut minute);
    out
}

/// [`rfc3339_utc`] into `out`, reusing its buffer. `minute` remembers which
/// minute `out`'s date-and-time prefix (`YYYY-MM-DDTHH:MM:`) was written for:
/// within the same minute only the seconds are rewritten, which is what a
/// recording context does nearly every time.
pub(crate) fn write_rfc3339(out: &mut String, time: SystemTime, minute: &mut i64) {
    let (days, sod, micros) = split(time);
    let this_minute = days * 1440 + i64::from(sod / 60);
    if *minute == this_minute && out.len() >= PREFIX {
        out.truncate(PREFIX);
    } else {
        out.clear();
        let (year, month, day) = civil_from_days(days);
        let (hour, min) = (sod / 3600, sod / 60 % 60);
        if let Ok(year @ 0..=9999) = u32::try_from(year) {
            push_digits(out, year, 4);
            out.push('-');
            push_digits(out, month, 2);
            out.push('-');
            push_digits(out, day, 2);
            out.push('T');
            push_digits(out, hour, 2);
            out.push(':');
            push_digits(out, min, 2);
            out.push(':');
            *minute = this_minute;
        } else {
            use std::fmt::Write as _;
            // Writing to a `String` cannot fail.
            let _ = write!(out, "{year:+05}-{month:02}-{day:02}T{hour:02}:{min:02}:");
            *minute = i64::MIN; // the prefix has another length: never reused
        }
    }
    push_digits(out, sod % 60, 2);
    out.push('.');
    push_digits(out, micros, 6);
    out.push('Z');
}

/// The length of `YYYY-MM-DDTHH:MM:`.
const PREFIX: usize = 17;

/// Appends `value` as `width` zero-padded decimal digits (the low ones).
/// ASCII pushed as `char`s: nothing to re-validate as UTF-8.
fn push_digits(out: &mut String, value: u32, width: u32) {
    let mut scale = 10_u32.pow(width - 1);
    while scale > 0 {
        out.push(digit(value / scale % 10));
        scale /= 10;
    }
}

fn digit(d: u32) -> char {
    // `d` is below 10, so this is always `Some`.
    char::from_digit(d, 10).unwrap_or('0')
}

/// (days since 1970-01-01, second of the day, microsecond), floored.
#[expect(
    clippy::cast_possible_wrap,
    reason = "u64 seconds / 86 400 < 2^48 fits i64"
)]
fn split(time: SystemTime) -> (i64, u32, u32) {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => {
            let secs = after.as_secs();
            (
                (secs / 86_400) as i64,
                (secs % 86_400) as u32,
                after.subsec_micros(),
            )
        }
        Err(before) => {
            // The instant is -(secs + nanos / 10^9). Flooring to a whole
            // microsecond rounds the magnitude up.
            let before = before.duration();
            let mut secs = before.as_secs();
            let mut up = before.subsec_nanos().div_ceil(1_000); // 0..=1_000_000
            if up == 1_000_000 {
                secs = secs.saturating_add(1);
                up = 0;
            }
            // -(secs + up µs) = -(secs + 1) + (10^6 - up) µs when up > 0.
            let (whole, micros) = if up == 0 {
                (secs, 0)
            } else {
                (secs.saturating_add(1), 1_000_000 - up)
            };
            let days_back = whole.div_ceil(86_400);
            let sod = (86_400 - whole % 86_400) % 86_400;
            (-(days_back as i64), sod as u32, micros)
        }
    }
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "month is in [1, 12] and day in [1, 31] by construction"
)]
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// Days from 1970-01-01 to (year, month, day): the inverse of
/// [`civil_from_days`] (Howard Hinnant's algorithm).
#[cfg(feature = "otlp")]
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400); // [0, 399]
    let mp = i64::from((month + 9) % 12); // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

#[cfg(feature = "otlp")]
fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Nanoseconds since the Unix epoch of an RFC 3339 timestamp, or `None` for
/// text that is not RFC 3339 or a time before 1970 or after 2554.
///
/// `YYYY-MM-DD`, `T` (or `t`, or a space), `HH:MM:SS`, an optional fraction
/// (digits past the ninth dropped), then `Z` (or `z`) or `±HH:MM`. A leap
/// second (`:60`) is read as the last nanosecond before it, and only where
/// one can be: 23:59:60 UTC on a month's last day. Hand-written: the `time`
/// crate did this for 11.6 KB of a tool's binary (docs/benchmarks.md); a
/// property test checks this against it.
#[cfg(feature = "otlp")]
pub(crate) fn unix_nanos(timestamp: &str) -> Option<u64> {
    let b = timestamp.as_bytes();
    let number = |from: usize, len: usize| -> Option<u32> {
        b.get(from..from + len)?.iter().try_fold(0_u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let shaped = at(4, b'-')
        && at(7, b'-')
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && at(13, b':')
        && at(16, b':');
    if !shaped {
        return None;
    }
    let (year, month, day) = (i64::from(number(0, 4)?), number(5, 2)?, number(8, 2)?);
    let (hour, minute, mut second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos: u64 = 0;
    if let [b'.', fraction @ ..] = rest {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let mut scale = 100_000_000;
        for &c in &fraction[..digits] {
            nanos += u64::from(c - b'0') * scale;
            scale /= 10;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (hours, minutes) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let leap = second == 60;
    if leap {
        second = 59;
        nanos = 999_999_999;
    }
    let secs = days_from_civil(year, month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second)
        - offset;
    if leap {
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        if secs.rem_euclid(86_400) != 86_399 || d != days_in_month(y, m) {
            return None;
        }
    }
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(nanos)
}

#[cfg(all(test, feature = "otlp"))]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::{rfc3339_utc, unix_nanos};

    #[test]
    fn unix_nanos_reads_back_what_rfc3339_utc_writes() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..10_000 {
            // A small xorshift: spread over 1970..=9999 without a dependency.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = x % 253_402_300_800;
            let micros = (x >> 40) % 1_000_000;
            let t = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros);
            // u64 nanoseconds end in 2554; past that there is no answer.
            let expected = secs
                .checked_mul(1_000_000_000)
                .and_then(|n| n.checked_add(micros * 1000));
            assert_eq!(unix_nanos(&rfc3339_utc(t)), expected);
        }
        assert_eq!(
            unix_nanos("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(
            unix_nanos("2023-11-14T23:13:20+01:00"),
            Some(1_700_000_000_000_000_000)
        );
        for sep in ["t", " "] {
            assert_eq!(
                unix_nanos(&format!("2023-11-14{sep}22:13:20z")),
                Some(1_700_000_000_000_000_000)
            );
        }
        assert_eq!(
            unix_nanos("2000-02-29T00:00:00.123456789999Z"),
            Some(951_782_400_123_456_789)
        );
        for bad in [
            "",
            "2023-13-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2100-02-29T00:00:00Z",
            "2023-06-30T23:59:60+01:00",
        ] {
            assert_eq!(unix_nanos(bad), None, "{bad}");
        }
    }

    /// What the `time` crate reads from the same text (None where it
    /// refuses, or the instant is before 1970 or past u64 nanoseconds).
    fn by_time(text: &str) -> Option<u64> {
        let parsed =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .ok()?;
        u64::try_from(parsed.unix_timestamp_nanos()).ok()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// Near-valid timestamps (every field at or past its bounds, leap
        /// seconds, offsets, fractions of any length): the same answer as
        /// `time`.
        #[test]
        fn reads_what_the_time_crate_reads(
            year in proptest::prop_oneof![1960..2600u32, proptest::sample::select(vec![2000, 2100, 2200, 2400])],
            month in 0..14u32,
            day in 0..33u32,
            hour in 0..25u32,
            minute in 0..61u32,
            second in proptest::prop_oneof![0..61u32, proptest::strategy::Just(60), proptest::strategy::Just(61)],
            // `T` only: `time` before 0.3.37 refused `t` and a space,
            // which RFC 3339 allows and this parser takes (the table above).
            sep in "T",
            fraction in "(|\\.[0-9]{1,12})",
            zone in "(Z|z|[+-](0[0-9]|1[0-9]|2[0-4]):[0-6][0-9])",
        ) {
            let text = format!(
                "{year:04}-{month:02}-{day:02}{sep}{hour:02}:{minute:02}:{second:02}{fraction}{zone}"
            );
            proptest::prop_assert_eq!(unix_nanos(&text), by_time(&text), "{}", text);
        }

        /// Leap seconds where they may be: exactly as `time`.
        #[test]
        fn leap_seconds_as_the_time_crate_reads_them(
            year in 1970..2500u32,
            month in 1..13u32,
            day in 26..32u32,
            zone in "(Z|[+-]0[0-2]:[03]0)",
        ) {
            let text = format!("{year:04}-{month:02}-{day:02}T23:59:60{zone}");
            proptest::prop_assert_eq!(unix_nanos(&text), by_time(&text), "{}", text);
        }

        /// Any text at all: never a panic, and `None` wherever `time` says
        /// it is not RFC 3339.
        #[test]
        fn any_text_is_safe(text in "\\PC{0,40}") {
            let ours = unix_nanos(&text);
            if by_time(&text).is_none() {
                // `time` takes any byte as the separator; this parser takes
                // only `T`, `t` and a space, so it may refuse more, never less.
                proptest::prop_assert_eq!(ours, None, "{}", text);
            }
        }
    }
}

#[cfg(test)]
mod reuse {
    use std::time::{Duration, UNIX_EPOCH};

    use super::{rfc3339_utc, write_rfc3339};

    /// Reusing one buffer and its cached minute over a sequence of times —
    /// mostly close together, sometimes far apart, across minutes, days,
    /// years and the year-9999 edge — always writes what a fresh write does.
    #[test]
    fn a_reused_buffer_always_reads_as_a_fresh_write() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut buf = String::new();
        let mut minute = i64::MIN;
        let mut secs: u64 = 1_700_000_000;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            secs = match x % 10 {
                0 => x % 400_000_000_000,         // anywhere, up to year ~14,000
                1 => 253_402_300_740 + x % 120,   // around 9999-12-31T23:59
                2..=5 => secs + x % 3,            // the same second or the next
                _ => secs.saturating_add(x % 90), // within a minute or two
            };
            let t = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(x >> 44);
            write_rfc3339(&mut buf, t, &mut minute);
            assert_eq!(buf, rfc3339_utc(t), "at {secs} s");
        }
    }
}
