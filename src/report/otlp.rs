//! A week's report over OTLP (feature `otlp`): a `ResourceLogs` of its
//! own, a log record per counter. Registered by `reports(..)`, so a tool
//! that never asks for reports links none of it.

use super::wire::Report;
use crate::pipeline::export::otlp::{
    SEVERITY_INFO, attribute, double_attribute, int_attribute, resource_logs, string_value,
    typed_attribute, unix_nanos, wire,
};

/// Encodes the report of id `id` and JSON `json` (as report mode wrote
/// it; anything else encodes nothing).
pub(super) fn encode(out: &mut Vec<u8>, id: &str, json: &str) {
    let Ok(report) = serde_json::from_str::<Report>(json) else {
        return;
    };
    let catalog = crate::catalog::registry::lookup(&report.tool, report.catalog_version);
    resource_logs(
        out,
        (
            &report.tool,
            &report.tool_version,
            Some(report.catalog_version),
        ),
        |resource| {
            attribute(resource, 1, "rtb.report.id", id);
            attribute(resource, 1, "rtb.report.week", &report.week);
            double_attribute(resource, 1, "rtb.report.x", report.x);
        },
        |scope_logs| report_log_records(scope_logs, id, &report, catalog.as_deref()),
    );
}

/// A week's report as log records: one per counter, named by its event,
/// its attrs typed as the event's, with `rtb.count` and `rtb.rate`, at the
/// week's Monday. No machine id: a report has none.
pub(super) fn report_log_records(
    out: &mut Vec<u8>,
    id: &str,
    report: &Report,
    catalog: Option<&crate::catalog::CatalogSpec>,
) {
    let at = unix_nanos(&format!("{}T00:00:00Z", report.week));
    for (i, counter) in report.counters.iter().enumerate() {
        let declared = catalog.and_then(|c| c.event(&counter.event));
        wire::message(out, 2, |log| {
            wire::fixed64(log, 1, at);
            wire::uint(log, 2, SEVERITY_INFO);
            wire::bytes(log, 3, b"INFO");
            string_value(log, 5, &counter.event);
            attribute(log, 6, "log.record.uid", &format!("{id}/{i}"));
            for (key, value) in &counter.attrs {
                let kind = declared
                    .and_then(|d| d.attrs.iter().find(|a| a.name == *key))
                    .map(|a| &a.kind);
                if key.starts_with("rtb.") || key == "log.record.uid" {
                    typed_attribute(log, &format!("attr.{key}"), value, kind);
                } else {
                    typed_attribute(log, key, value, kind);
                }
            }
            int_attribute(log, 6, "rtb.count", counter.count);
            double_attribute(log, 6, "rtb.rate", counter.rate);
            // Not the upload's time: nothing finer than the week.
            wire::fixed64(log, 11, at);
            wire::bytes(log, 12, counter.event.as_bytes());
        });
    }
}
