//! Timestamps: RFC 3339 in UTC with microseconds and a `Z`.
//!
//! The writer is hand-written: it is on every record's path, allocates
//! nothing (a reused buffer, the minute cached), and cannot fail, where
//! `time` and `humantime` refuse or panic on some years a misset clock can
//! give; a test holds it to `time`'s output. Reading a timestamp back (the
//! OTLP encoder) is `time`'s.

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

/// The week `time` falls in, as the date (`YYYY-MM-DD`, UTC) of its
/// Monday: what a report names its week by, never anything finer.
pub(crate) fn week_of(time: SystemTime) -> String {
    let (days, _, _) = split(time);
    // 1970-01-01 was a Thursday: three days after a Monday.
    let monday = days - (days + 3).rem_euclid(7);
    let (year, month, day) = civil_from_days(monday);
    let mut out = String::with_capacity(10);
    push_digits(&mut out, u32::try_from(year.clamp(0, 9999)).unwrap_or(0), 4);
    out.push('-');
    push_digits(&mut out, month, 2);
    out.push('-');
    push_digits(&mut out, day, 2);
    out
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

#[cfg(test)]
mod against_time {
    use std::time::{Duration, UNIX_EPOCH};

    use super::rfc3339_utc;

    /// What the hand-written writer writes is what the `time` crate
    /// writes, over 1970..=9999 (xorshift: no dependency for randomness).
    #[test]
    fn the_writer_writes_what_the_time_crate_writes() {
        let format = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        );
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = x % 253_402_300_800;
            let micros = (x >> 40) % 1_000_000;
            let t = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros);
            let by_time = time::OffsetDateTime::from(t).format(&format).unwrap();
            assert_eq!(rfc3339_utc(t), by_time, "at {secs} s");
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
