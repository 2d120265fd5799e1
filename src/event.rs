//! The event: what one telemetry record carries, and its wire shape.

use std::collections::HashMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::ser::Formatter;

/// One telemetry record: which command ran, for which tool and version, on
/// which (salted, hashed) machine, and when.
///
/// Serialised, an event is one JSON object with the six fields below in this
/// order (a seventh, `catalog_version`, only for an event of a declared
/// [catalogue](mod@crate::catalog)); `attrs` come out in sorted key order, so the
/// same event always gives the same bytes. Reading a line back with serde
/// gives the same `Event`.
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
    /// The version of the [catalogue](mod@crate::catalog) that declares this
    /// event, for an event recorded typed
    /// ([`record_event`](crate::TelemetryContext::record_event)); `None`
    /// (and absent from the JSON) for one recorded by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_version: Option<u32>,
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
            timestamp_utc: crate::timestamp::rfc3339_utc(SystemTime::now()),
            attrs,
            catalog_version: None,
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
        self.timestamp_utc = crate::timestamp::rfc3339_utc(time);
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
    write_json(out, event)?;
    out.push(b'\n');
    Ok(())
}

/// Appends `value` as JSON escaped as [`write_json_line`] escapes, without
/// the line break.
pub(crate) fn write_json<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
) -> serde_json::Result<()> {
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut *out, LineSafe,
    ))
}

/// `serde_json`'s compact formatter, plus `\u` escapes for DEL, the C1
/// controls, U+2028/U+2029 and the bidirectional formatting characters
/// (which reorder what a terminal shows: `telemetry show` prints records).
struct LineSafe;

impl Formatter for LineSafe {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // DEL is 7F; the C1 controls are C2 80..C2 9F in UTF-8; U+2028,
        // U+2029 and the bidi controls start with E2. Most fragments
        // contain none of these bytes.
        if !fragment.bytes().any(|b| matches!(b, 0x7F | 0xC2 | 0xE2)) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if matches!(c, '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}')
                || crate::text::is_bidi_control(c)
            {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

fn sorted<S: Serializer>(attrs: &HashMap<String, String>, ser: S) -> Result<S::Ok, S::Error> {
    ser.collect_map(by_key(attrs))
}

/// The attrs in key order. Not generic (one copy of the sort in a tool's
/// binary, whatever serializers call it); keys are unique, so an unstable
/// sort is deterministic (and smaller code than a `BTreeMap`).
fn by_key(attrs: &HashMap<String, String>) -> Vec<(&String, &String)> {
    let mut sorted: Vec<(&String, &String)> = attrs.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    sorted
}

impl Event {
    /// The longest attr value, in bytes, that leaves the process: longer
    /// values are cut at a character boundary and end in
    /// [`TRUNCATED`](Self::TRUNCATED). Applied wherever events are queued,
    /// spooled or batched for delivery (not by `FileSink`, which writes
    /// what it is given).
    pub const MAX_ATTR_VALUE_BYTES: usize = 4096;

    /// The marker that ends a truncated attr value.
    pub const TRUNCATED: &str = "…[truncated]";
}

const MAX_ATTR_VALUE_BYTES: usize = Event::MAX_ATTR_VALUE_BYTES;
const TRUNCATED: &str = Event::TRUNCATED;

/// A copy of `event` with its name, every attr key and every attr value
/// cut to [`MAX_ATTR_VALUE_BYTES`]. Only what is kept is copied, into
/// strings of exactly that size: a 1 MiB value costs the copy 4 KiB, not
/// 1 MiB (what [`approx_size`] counts is what the copy holds).
pub(crate) fn bounded_copy(event: &Event) -> Event {
    Event {
        name: cut(&event.name),
        tool: cut(&event.tool),
        tool_version: cut(&event.tool_version),
        machine_id: cut(&event.machine_id),
        timestamp_utc: cut(&event.timestamp_utc),
        attrs: event.attrs.iter().map(|(k, v)| (cut(k), cut(v))).collect(),
        catalog_version: event.catalog_version,
    }
}

/// `text` as a new string of at most [`MAX_ATTR_VALUE_BYTES`] bytes,
/// allocated at its final size.
fn cut(text: &str) -> String {
    if text.len() <= MAX_ATTR_VALUE_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_ATTR_VALUE_BYTES - TRUNCATED.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + TRUNCATED.len());
    out.push_str(&text[..end]);
    out.push_str(TRUNCATED);
    out
}

/// Cuts `value` to at most `limit` bytes including [`TRUNCATED`], at a
/// character boundary; leaves shorter values alone. The string keeps its
/// allocation: for values about to be copied or dropped.
pub(crate) fn truncate(value: &mut String, limit: usize) {
    if value.len() <= limit {
        return;
    }
    let mut end = limit.saturating_sub(TRUNCATED.len());
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value.truncate(end);
    value.push_str(TRUNCATED);
}

/// How many bytes `event` holds in memory once cut by [`bounded_copy`]
/// (its strings, and a fair share of the map around its attrs): what the
/// byte bounds count.
pub(crate) fn approx_size(event: &Event) -> usize {
    let bounded = |s: &String| s.len().min(MAX_ATTR_VALUE_BYTES);
    let attrs: usize = event
        .attrs
        .iter()
        .map(|(k, v)| bounded(k) + bounded(v) + 64)
        .sum();
    bounded(&event.name)
        + bounded(&event.tool)
        + bounded(&event.tool_version)
        + bounded(&event.machine_id)
        + bounded(&event.timestamp_utc)
        + attrs
        + 160
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_characters_whole_and_marks_the_cut() {
        let mut long = "é".repeat(5000); // 10 000 bytes, 2 per char
        truncate(&mut long, MAX_ATTR_VALUE_BYTES);
        assert!(long.len() <= MAX_ATTR_VALUE_BYTES);
        assert!(long.ends_with(TRUNCATED));
        let mut short = "ok".to_owned();
        truncate(&mut short, MAX_ATTR_VALUE_BYTES);
        assert_eq!(short, "ok");
        let event = Event::new("e", "t", "1", "id").with_attr("k", "x".repeat(100_000));
        assert!(bounded_copy(&event).attrs["k"].len() <= MAX_ATTR_VALUE_BYTES);
    }
}
