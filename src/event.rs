//! The event: what one telemetry record carries, and its wire shape.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize, Serializer};
use serde_json::ser::Formatter;

/// One telemetry record: which command ran, for which tool and version, on
/// which (salted, hashed) machine, and when.
///
/// Serialised, an event is one JSON object with the six fields below in this
/// order; `attrs` come out in sorted key order, so the same event always gives
/// the same bytes. Reading a line back with serde gives the same `Event`.
///
/// # Example
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use rtb_telemetry::Event;
///
/// let event = Event::new("build", "mytool", "1.2.3", "ab".repeat(32))
///     .with_attr("outcome", "ok")
///     .at(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// assert_eq!(event.timestamp_utc, "2023-11-14T22:13:20.000000Z");
///
/// let line = serde_json::to_string(&event).unwrap();
/// assert!(line.starts_with(r#"{"name":"build","tool":"mytool","tool_version":"1.2.3""#));
/// let back: Event = serde_json::from_str(&line).unwrap();
/// assert_eq!(back, event);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// The event name, e.g. the command that ran.
    pub name: String,
    /// The tool that recorded the event.
    pub tool: String,
    /// The tool's version.
    pub tool_version: String,
    /// The salted SHA-256 of the machine id, 64 lowercase hex characters.
    pub machine_id: String,
    /// When the event was recorded: RFC 3339, UTC, with a `Z` suffix and
    /// microseconds, e.g. `2023-11-14T22:13:20.000000Z`.
    pub timestamp_utc: String,
    /// Caller-supplied attributes. Written in sorted key order. The caller is
    /// responsible for passing only values that identify no one.
    #[serde(serialize_with = "sorted")]
    pub attrs: HashMap<String, String>,
}

impl Event {
    /// An event named `name`, stamped with the current time, with no attrs.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::Event;
    ///
    /// let event = Event::new("init", "mytool", "0.1.0", "00".repeat(32));
    /// assert_eq!(event.name, "init");
    /// assert!(event.timestamp_utc.ends_with('Z'));
    /// assert!(event.attrs.is_empty());
    /// ```
    #[must_use]
    pub fn new(
        name: impl Into<String>,
        tool: impl Into<String>,
        tool_version: impl Into<String>,
        machine_id: impl Into<String>,
    ) -> Self {
        Self::with_attrs(
            name.into(),
            tool.into(),
            tool_version.into(),
            machine_id.into(),
            HashMap::new(),
        )
    }

    /// The constructor the context uses: everything already owned.
    pub(crate) fn with_attrs(
        name: String,
        tool: String,
        tool_version: String,
        machine_id: String,
        attrs: HashMap<String, String>,
    ) -> Self {
        Self {
            name,
            tool,
            tool_version,
            machine_id,
            timestamp_utc: rfc3339_utc(SystemTime::now()),
            attrs,
        }
    }

    /// Adds (or replaces) one attribute.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::Event;
    ///
    /// let event = Event::new("run", "mytool", "0.1.0", "00".repeat(32))
    ///     .with_attr("exit_code", "0");
    /// assert_eq!(event.attrs["exit_code"], "0");
    /// ```
    #[must_use]
    pub fn with_attr(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attrs.insert(key.into(), value.into());
        self
    }

    /// Sets the timestamp to `time`, e.g. to make snapshots reproducible.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::UNIX_EPOCH;
    /// use rtb_telemetry::Event;
    ///
    /// let event = Event::new("run", "mytool", "0.1.0", "00".repeat(32)).at(UNIX_EPOCH);
    /// assert_eq!(event.timestamp_utc, "1970-01-01T00:00:00.000000Z");
    /// ```
    #[must_use]
    pub fn at(mut self, time: SystemTime) -> Self {
        self.timestamp_utc = rfc3339_utc(time);
        self
    }
}

/// Appends `event` to `out` as one JSON Lines record: the JSON object and a
/// `\n`, with nothing inside that any common reader takes for a line break.
///
/// `serde_json` already escapes `\n`, `\r` and the other C0 controls
/// (ESC among them); this also escapes DEL, the C1 controls U+0080–U+009F
/// (U+0085 is a line break to some readers, U+009B a terminal escape) and
/// U+2028/U+2029, which Python's `str.splitlines` and pre-ES2019 JavaScript
/// split lines on. The result is still standard JSON and reads back to the
/// same event.
pub(crate) fn write_json_line(out: &mut Vec<u8>, event: &Event) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, LineSafe);
    event.serialize(&mut ser)?;
    out.push(b'\n');
    Ok(())
}

/// Appends `events` to `out` as one JSON array whose elements are exactly the
/// objects [`write_json_line`] writes.
#[cfg_attr(
    not(feature = "http"),
    allow(dead_code, reason = "used by the http feature")
)]
pub(crate) fn write_json_array(out: &mut Vec<u8>, events: &[Event]) -> serde_json::Result<()> {
    out.push(b'[');
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_line(out, event)?;
        out.pop(); // the line's `\n`
    }
    out.push(b']');
    Ok(())
}

/// `serde_json`'s compact formatter, plus `\u` escapes for DEL, the C1
/// controls, and U+2028/U+2029.
struct LineSafe;

impl Formatter for LineSafe {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // DEL is 7F; the C1 controls are C2 80..C2 9F in UTF-8; U+2028 and
        // U+2029 are E2 80 A8/A9. Most fragments contain none of these bytes.
        if !fragment.bytes().any(|b| matches!(b, 0x7F | 0xC2 | 0xE2)) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if matches!(c, '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}') {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

fn sorted<S: Serializer>(attrs: &HashMap<String, String>, ser: S) -> Result<S::Ok, S::Error> {
    ser.collect_map(attrs.iter().collect::<BTreeMap<_, _>>())
}

/// Formats `time` as RFC 3339 in UTC with microseconds and a `Z`.
///
/// Written by hand on the proleptic Gregorian calendar so it cannot fail and
/// never substitutes a made-up time: every instant from year 0 to 9999 gives
/// exact RFC 3339. A clock set outside that range (which RFC 3339 cannot
/// express) is written in ISO 8601's expanded-year form, e.g. `+10000-…`,
/// which is still the true reading of the clock. Sub-microsecond digits are
/// truncated towards the past.
pub(crate) fn rfc3339_utc(time: SystemTime) -> String {
    let (days, sod, micros) = split(time);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (sod / 3600, sod / 60 % 60, sod % 60);
    if let Ok(year @ 0..=9999) = u32::try_from(year) {
        // The common case, without the formatting machinery: a third of the
        // cost of an enabled `record` went there.
        let mut out = *b"0000-00-00T00:00:00.000000Z";
        digits(&mut out[0..4], year);
        digits(&mut out[5..7], month);
        digits(&mut out[8..10], day);
        digits(&mut out[11..13], hour);
        digits(&mut out[14..16], minute);
        digits(&mut out[17..19], second);
        digits(&mut out[20..26], micros);
        // Always ASCII; were it not, the general path below says the same.
        if let Ok(text) = std::str::from_utf8(&out) {
            return text.to_owned();
        }
    }
    format!("{year:+05}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}Z")
}

/// Writes `value` as zero-padded decimal into all of `out`.
fn digits(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        // `value % 10` is a single decimal digit.
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
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

/// Nanoseconds since the Unix epoch of an RFC 3339 UTC timestamp of the form
/// this crate writes (`YYYY-MM-DDTHH:MM:SS[.fraction]Z`), or `None` for any
/// other form or a time before 1970.
#[cfg_attr(
    not(feature = "otlp"),
    allow(dead_code, reason = "used by the otlp feature")
)]
pub(crate) fn unix_nanos(timestamp: &str) -> Option<u64> {
    let b = timestamp.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u64> { timestamp.get(range)?.parse().ok() };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let rest = timestamp.get(19..)?;
    let fraction = rest.strip_suffix('Z')?;
    let nanos = match fraction.strip_prefix('.') {
        None if fraction.is_empty() => 0,
        Some(digits)
            if (1..=9).contains(&digits.len()) && digits.bytes().all(|d| d.is_ascii_digit()) =>
        {
            digits.parse::<u64>().ok()? * 10_u64.pow(9 - u32::try_from(digits.len()).ok()?)
        }
        _ => return None,
    };
    let days = u64::try_from(days_from_civil(i64::try_from(year).ok()?, month, day)).ok()?;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// (year, month, day) to days since 1970-01-01; Howard Hinnant's algorithm.
#[cfg_attr(
    not(feature = "otlp"),
    allow(dead_code, reason = "used by the otlp feature")
)]
fn days_from_civil(year: i64, month: u64, day: u64) -> i64 {
    let (month, day) = (
        i64::try_from(month).unwrap_or(1),
        i64::try_from(day).unwrap_or(1),
    );
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
        for bad in [
            "",
            "2023-11-14 22:13:20Z",
            "2023-11-14T22:13:20+01:00",
            "2023-13-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(unix_nanos(bad), None, "{bad}");
        }
    }
}
