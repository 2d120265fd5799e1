//! A record: one event on its way to a collector, with the id that lets the
//! collector drop duplicates.

use std::io::Write as _;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::Event;

/// An event (or a week's report) and its id: the same id in the spool, on
/// the wire and on every retry, so a collector can keep each once.
/// Serialised as `{"id":"…","event":{…}}`, the event exactly as a
/// `FileSink` line holds it, or `{"id":"…","report":{…}}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub(crate) id: String,
    /// In the spool only (never sent): which destination the event was
    /// recorded for (see `delivery::Remote::id`), so it is sent there or
    /// nowhere.
    pub(crate) to: Option<String>,
    pub(crate) body: Body,
}

/// What a record carries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    Event(Event),
    /// A week's counts (report mode).
    Report(Box<Spooled>),
}

/// A report as the spool keeps it: its JSON as report mode wrote it, as
/// text (a string in the spool's line, the object itself on the wire): the
/// pipeline never reads a report's fields (OTLP's encoder is report
/// mode's, registered by `reports(..)`), so a tool that never asks for
/// reports links no code of theirs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spooled {
    pub(crate) report: String,
    /// In the spool only: the decision it was counted under (see
    /// `report::decision_of`); sent only while that decision holds.
    pub(crate) of: String,
    /// In the spool only: when it was sealed (for the age bound).
    pub(crate) at: String,
}

/// A record as a line reads: one of `event` and `report`.
#[derive(Deserialize)]
struct Raw {
    id: String,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    event: Option<Event>,
    #[serde(default)]
    report: Option<String>,
    #[serde(default)]
    of: Option<String>,
    #[serde(default)]
    at: Option<String>,
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Raw::deserialize(deserializer)?;
        let body = match (raw.event, raw.report) {
            (Some(event), None) => Body::Event(event),
            // As report mode writes it: an object, every string escaped as
            // a line is (so `show` never prints a control character).
            (None, Some(report)) if line_safe(&report) && is_object(&report) => {
                Body::Report(Box::new(Spooled {
                    report,
                    of: raw.of.unwrap_or_default(),
                    at: raw.at.unwrap_or_default(),
                }))
            }
            _ => {
                return Err(serde::de::Error::custom(
                    "a record holds one `event` or one `report`",
                ));
            }
        };
        Ok(Self {
            id: raw.id,
            to: raw.to,
            body,
        })
    }
}

/// Whether `json` holds nothing a line-safe writer escapes (see
/// `event::write_json`): what the crate wrote, not a hand-made line.
fn line_safe(json: &str) -> bool {
    !json.chars().any(|c| {
        matches!(
            c,
            '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\n' | '\r'
        ) || crate::text::is_bidi_control(c)
    })
}

/// Whether `json` is one JSON object and nothing more (a report is sent
/// as it is: a hand-made line must not add fields to the record, or break
/// the request's JSON).
fn is_object(json: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(json).is_ok_and(|v| v.is_object())
}

impl Record {
    /// A record with a fresh id, attr values cut to the delivery limit.
    pub(crate) fn new(event: &Event) -> Self {
        Self {
            id: fresh_id(event.machine_id.as_bytes()),
            to: None,
            body: Body::Event(crate::event::bounded_copy(event)),
        }
    }

    /// A record with a fresh id for an event already cut by
    /// [`bounded_copy`](crate::event::bounded_copy).
    pub(crate) fn from_bounded(event: Event) -> Self {
        Self {
            id: fresh_id(event.machine_id.as_bytes()),
            to: None,
            body: Body::Event(event),
        }
    }

    /// The event, when it carries one (not a report).
    pub(crate) fn event(&self) -> Option<&Event> {
        match &self.body {
            Body::Event(event) => Some(event),
            Body::Report(_) => None,
        }
    }

    /// When it was recorded (an event) or sealed (a report): RFC 3339.
    pub(crate) fn at(&self) -> &str {
        match &self.body {
            Body::Event(event) => &event.timestamp_utc,
            Body::Report(spooled) => &spooled.at,
        }
    }

    /// Appends the record as one JSON Lines line (line-safe, like
    /// `FileSink`'s): as the spool keeps it (with `to`) or, `wire`, as a
    /// collector receives it (`{"id":…,"event":…}`).
    pub(crate) fn write_line(&self, out: &mut Vec<u8>, wire: bool) -> serde_json::Result<()> {
        out.extend_from_slice(b"{\"id\":");
        crate::event::write_json(out, &self.id)?;
        if let (Some(to), false) = (&self.to, wire) {
            out.extend_from_slice(b",\"to\":");
            crate::event::write_json(out, to)?;
        }
        match &self.body {
            Body::Event(event) => {
                out.extend_from_slice(b",\"event\":");
                crate::event::write_json_line(out, event)?;
                out.pop(); // the event line's `\n`
            }
            Body::Report(spooled) => {
                out.extend_from_slice(b",\"report\":");
                if wire {
                    out.extend_from_slice(spooled.report.as_bytes());
                } else {
                    crate::event::write_json(out, &spooled.report)?;
                    out.extend_from_slice(b",\"of\":");
                    crate::event::write_json(out, &spooled.of)?;
                    out.extend_from_slice(b",\"at\":");
                    crate::event::write_json(out, &spooled.at)?;
                }
            }
        }
        // Writing to a `Vec` cannot fail.
        let _ = out.write_all(b"}\n");
        Ok(())
    }
}

pub(crate) use crate::machine::fresh_id;

/// The idempotency key of a batch: derived from its records' ids, so the
/// same batch sent again carries the same key.
pub(crate) fn batch_key(records: &[Record]) -> String {
    let mut hasher = Sha256::new();
    for record in records {
        hasher.update(record.id.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tampered spool line's id and destination reach `telemetry show`
    /// (a terminal) escaped, as event text is.
    #[test]
    fn ids_and_destinations_are_written_line_safe() {
        let mut record = Record::new(&Event::new("e", "t", "1", "id"));
        record.id = "a\u{9b}31m\u{202e}b\u{2028}".into();
        record.to = Some("c\u{85}\u{2066}d".into());
        for wire in [false, true] {
            let mut out = Vec::new();
            record.write_line(&mut out, wire).unwrap();
            let text = String::from_utf8(out).unwrap();
            let raw = |c: char| {
                matches!(
                    c,
                    '\u{85}' | '\u{9b}' | '\u{202e}' | '\u{2066}' | '\u{2028}'
                )
            };
            assert!(!text.contains(raw), "{text:?}");
            let back: Record = serde_json::from_str(text.trim_end()).unwrap();
            assert_eq!(back.id, record.id);
        }
    }

    fn records(n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| Record::new(&Event::new(format!("e{i}"), "t", "1", "id")))
            .collect()
    }

    /// Ids made at once on many threads (the same process, the same
    /// clock tick, the same anonymous id) never repeat.
    #[test]
    fn fresh_ids_are_32_hex_digits_and_never_repeat() {
        let ids: Vec<String> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..8)
                .map(|_| s.spawn(|| (0..5_000).map(|_| fresh_id(b"same")).collect::<Vec<_>>()))
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        assert!(
            ids.iter()
                .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        );
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }

    /// A report is sent as its text: a hand-made spool line whose report
    /// would add fields to the record, break the request's JSON, or carry a
    /// control character to `telemetry show` is no record.
    #[test]
    fn a_report_line_is_one_line_safe_json_object_or_nothing() {
        let line = |report: &str| {
            let mut out =
                br#"{"id":"a","to":"t","of":"o","at":"2026-12-07T00:00:00.000000Z","report":"#
                    .to_vec();
            crate::event::write_json(&mut out, report).unwrap();
            out.extend_from_slice(b"}\n");
            crate::pipeline::spool::parse_records(&out)
        };
        let (ok, skipped) = line(r#"{"tool":"t","counters":[]}"#);
        assert_eq!((ok.len(), skipped), (1, 0));
        let mut wire = Vec::new();
        ok[0].0.write_line(&mut wire, true).unwrap();
        assert_eq!(
            String::from_utf8(wire).unwrap(),
            "{\"id\":\"a\",\"report\":{\"tool\":\"t\",\"counters\":[]}}\n"
        );
        for bad in [
            r#"{"tool":"x"},"event":{"name":"injected","machine_id":"forged"}"#,
            "{",
            "[1]",
            "{\"tool\":\"\u{1b}[31m\"}",
            "{\"tool\":\"a\u{9b}b\"}",
            "{\"tool\":\"a\u{202e}b\"}",
        ] {
            assert_eq!(line(bad), (Vec::new(), 1), "{bad:?}");
        }
    }

    #[test]
    fn the_batch_key_depends_only_on_the_ids() {
        let a = records(3);
        let again = a.clone();
        assert_eq!(batch_key(&a), batch_key(&again));
        assert_ne!(batch_key(&a), batch_key(&records(3)));
        assert_eq!(batch_key(&a).len(), 32);
    }

    #[test]
    fn a_line_reads_back_as_the_same_record() {
        let record = Record::new(&Event::new("a\u{2028}b\n", "t", "1", "id").with_attr("k", "v"));
        let mut line = Vec::new();
        record.write_line(&mut line, false).unwrap();
        assert_eq!(
            line.split(|&b| b == b'\n').count(),
            2,
            "one line, one newline"
        );
        assert!(line.ends_with(b"}\n"));
        let back: Record = serde_json::from_slice(&line).unwrap();
        assert_eq!(back, record);
    }
}
