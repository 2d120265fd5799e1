//! OTLP/HTTP logs: a batch of records as a protobuf
//! `ExportLogsServiceRequest`.
//!
//! Encoded here, field by field, rather than through the
//! `opentelemetry-proto` types and `prost`, which are dependencies of the
//! tests only (they decode every request with the official types): the
//! size that saves is measured in [docs/benchmarks.md](../../../docs/benchmarks.md).

use std::time::{SystemTime, UNIX_EPOCH};

use super::Encoding;
use crate::Event;
use crate::catalog::{AttrKind, EventSpec};
use crate::pipeline::spool::record::{Body, Record};

/// The resource attribute that carries a typed event's catalogue version.
pub(crate) const CATALOG_VERSION: &str = "rtb.catalog.version";

/// OTLP's `SEVERITY_NUMBER_INFO`.
pub(crate) const SEVERITY_INFO: u64 = 9;

/// Nanoseconds since the Unix epoch of an RFC 3339 timestamp, as the
/// `time` crate reads it; 0 (unknown, to OTLP) for text that is not one,
/// or a time before 1970.
pub(crate) fn unix_nanos(timestamp: &str) -> u64 {
    time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp_nanos()).ok())
        .unwrap_or(0)
}

pub(crate) const PROTOBUF: Encoding = Encoding {
    content_type: "application/x-protobuf",
    encode: |records| Ok(export_request(records)),
};

/// Protobuf's wire format, as much as this message needs.
pub(crate) mod wire {
    const VARINT: u64 = 0;
    const FIXED64: u64 = 1;
    const LEN: u64 = 2;

    pub(crate) fn varint(out: &mut Vec<u8>, mut n: u64) {
        // The low seven bits, then a continuation bit while more follow.
        while n >= 0x80 {
            let [low, ..] = n.to_le_bytes();
            out.push(low | 0x80);
            n >>= 7;
        }
        let [last, ..] = n.to_le_bytes();
        out.push(last);
    }

    fn tag(out: &mut Vec<u8>, field: u64, kind: u64) {
        varint(out, field << 3 | kind);
    }

    /// A length-delimited field: bytes, a string or a nested message.
    pub(crate) fn bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
        tag(out, field, LEN);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    /// A nested message, written by `write` (its length comes first).
    pub(crate) fn message(out: &mut Vec<u8>, field: u64, write: impl FnOnce(&mut Vec<u8>)) {
        let mut inner = Vec::new();
        write(&mut inner);
        bytes(out, field, &inner);
    }

    pub(crate) fn uint(out: &mut Vec<u8>, field: u64, n: u64) {
        tag(out, field, VARINT);
        varint(out, n);
    }

    pub(crate) fn fixed64(out: &mut Vec<u8>, field: u64, n: u64) {
        tag(out, field, FIXED64);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// `AnyValue { string_value = 1 }` as field `field`.
pub(crate) fn string_value(out: &mut Vec<u8>, field: u64, text: &str) {
    wire::message(out, field, |v| wire::bytes(v, 1, text.as_bytes()));
}

/// A `KeyValue { key = 1; value = 2 }` with a string value, as field `field`.
pub(crate) fn attribute(out: &mut Vec<u8>, field: u64, key: &str, value: &str) {
    wire::message(out, field, |kv| {
        wire::bytes(kv, 1, key.as_bytes());
        string_value(kv, 2, value);
    });
}

/// A `KeyValue` whose value is typed as `kind` says (`AnyValue {
/// bool_value = 2; int_value = 3 }`); a string when it has no kind or the
/// value is not of it.
pub(crate) fn typed_attribute(out: &mut Vec<u8>, key: &str, value: &str, kind: Option<&AttrKind>) {
    let typed = |kv: &mut Vec<u8>| match kind {
        Some(AttrKind::Bool) if matches!(value, "true" | "false") => {
            wire::message(kv, 2, |v| wire::uint(v, 2, u64::from(value == "true")));
            true
        }
        Some(kind) => match kind.as_int(value) {
            // Non-negative: an int64's varint is the same as a uint64's.
            Some(n) => {
                wire::message(kv, 2, |v| wire::uint(v, 3, n.unsigned_abs()));
                true
            }
            None => false,
        },
        None => false,
    };
    wire::message(out, 6, |kv| {
        wire::bytes(kv, 1, key.as_bytes());
        if !typed(kv) {
            string_value(kv, 2, value);
        }
    });
}

/// One `LogRecord` (opentelemetry/proto/logs/v1/logs.proto); attrs typed
/// by `declared`, the event's declaration in its catalogue, when known.
fn log_record(
    out: &mut Vec<u8>,
    id: &str,
    event: &Event,
    observed: u64,
    declared: Option<&EventSpec>,
) {
    wire::fixed64(out, 1, unix_nanos(&event.timestamp_utc));
    wire::uint(out, 2, SEVERITY_INFO);
    wire::bytes(out, 3, b"INFO");
    string_value(out, 5, &event.name);
    attribute(out, 6, "tool", &event.tool);
    attribute(out, 6, "tool_version", &event.tool_version);
    attribute(out, 6, "machine_id", &event.machine_id);
    attribute(out, 6, "log.record.uid", id);
    let mut attrs: Vec<_> = event.attrs.iter().collect();
    attrs.sort_unstable();
    for (key, value) in attrs {
        // The event's own fields keep their names; a clashing attr is
        // prefixed, and so is one that starts with the prefix (so `tool`
        // and `attr.tool` stay two keys: OTLP wants them unique).
        let kind = declared
            .and_then(|d| d.attrs.iter().find(|a| a.name == *key))
            .map(|a| &a.kind);
        if matches!(
            key.as_str(),
            "tool" | "tool_version" | "machine_id" | "log.record.uid"
        ) || key.starts_with("attr.")
        {
            typed_attribute(out, &format!("attr.{key}"), value, kind);
        } else {
            typed_attribute(out, key, value, kind);
        }
    }
    wire::fixed64(out, 11, observed);
    wire::bytes(out, 12, event.name.as_bytes());
}

/// A resource: a tool, its version, and the catalogue's version.
type Resource<'a> = (&'a str, &'a str, Option<u32>);

/// How a week's report becomes a `ResourceLogs` (report mode's encoder,
/// set by `reports(..)`: a tool that never asks for reports links none of
/// it). Given the report's id and its JSON.
pub(crate) type ReportEncoder = fn(&mut Vec<u8>, &str, &str);

static REPORTS: std::sync::OnceLock<ReportEncoder> = std::sync::OnceLock::new();

/// Sets how reports are encoded (the first call wins: there is one).
pub(crate) fn encode_reports_with(encoder: ReportEncoder) {
    let _ = REPORTS.set(encoder);
}

/// One `ResourceLogs { resource = 1; scope_logs = 2 }`: the resource
/// (`service.name`, `service.version`, `rtb.catalog.version` and what
/// `more` adds), one `ScopeLogs` whose log records `logs` writes.
pub(crate) fn resource_logs(
    out: &mut Vec<u8>,
    (tool, version, catalog_version): Resource<'_>,
    more: impl FnOnce(&mut Vec<u8>),
    logs: impl FnOnce(&mut Vec<u8>),
) {
    wire::message(out, 1, |resource_logs| {
        // Resource { attributes = 1 }
        wire::message(resource_logs, 1, |resource| {
            attribute(resource, 1, "service.name", tool);
            attribute(resource, 1, "service.version", version);
            if let Some(v) = catalog_version {
                int_attribute(resource, 1, CATALOG_VERSION, u64::from(v));
            }
            more(resource);
        });
        // ScopeLogs { scope = 1; log_records = 2 }
        wire::message(resource_logs, 2, |scope_logs| {
            // InstrumentationScope { name = 1; version = 2 }
            wire::message(scope_logs, 1, |scope| {
                wire::bytes(scope, 1, b"rtb-telemetry");
                wire::bytes(scope, 2, env!("CARGO_PKG_VERSION").as_bytes());
            });
            logs(scope_logs);
        });
    });
}

/// A `KeyValue` with an int value, as field `field`.
pub(crate) fn int_attribute(out: &mut Vec<u8>, field: u64, key: &str, n: u64) {
    wire::message(out, field, |kv| {
        wire::bytes(kv, 1, key.as_bytes());
        wire::message(kv, 2, |v| wire::uint(v, 3, n.min(i64::MAX.unsigned_abs())));
    });
}

/// A `KeyValue` with a double value (`AnyValue { double_value = 4 }`).
pub(crate) fn double_attribute(out: &mut Vec<u8>, field: u64, key: &str, x: f64) {
    wire::message(out, field, |kv| {
        wire::bytes(kv, 1, key.as_bytes());
        wire::message(kv, 2, |v| wire::fixed64(v, 4, x.to_bits()));
    });
}

/// The `ExportLogsServiceRequest` for `records`, encoded: one
/// `ResourceLogs` (with `service.name`, `service.version` and, for typed
/// events, `rtb.catalog.version`) per tool, version and catalogue version,
/// in the order they first appear, each with one `ScopeLogs`. A typed
/// event's numbers and booleans go as `int_value`/`bool_value` when this
/// process knows its catalogue (the tool's own binary does).
pub(crate) fn export_request(records: &[Record]) -> Vec<u8> {
    let observed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let mut groups: Vec<(Resource<'_>, Vec<(&str, &Event)>)> = Vec::new();
    let mut out = Vec::with_capacity(300 * records.len());
    for record in records {
        let event = match &record.body {
            Body::Event(event) => event,
            // A report goes alone, as report mode encodes it.
            Body::Report(spooled) => {
                if let Some(encode) = REPORTS.get() {
                    encode(&mut out, &record.id, &spooled.report);
                }
                continue;
            }
        };
        let key = (
            event.tool.as_str(),
            event.tool_version.as_str(),
            event.catalog_version,
        );
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push((&record.id, event)),
            None => groups.push((key, vec![(&record.id, event)])),
        }
    }
    for (resource, group) in groups {
        let (tool, _, catalog_version) = resource;
        let catalog = catalog_version.and_then(|v| crate::catalog::registry::lookup(tool, v));
        resource_logs(
            &mut out,
            resource,
            |_| {},
            |scope_logs| {
                for (id, event) in group {
                    let declared = catalog.as_deref().and_then(|c| c.event(&event.name));
                    wire::message(scope_logs, 2, |log| {
                        log_record(log, id, event, observed, declared);
                    });
                }
            },
        );
    }
    out
}
