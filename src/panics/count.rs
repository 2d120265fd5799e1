//! Counted, not flooded: a tool that panics in a loop leaves one spooled
//! record per panic, and an upload sends one per place, with the count.

use std::collections::HashMap;

use super::{COUNT, EVENT, PLACE};
use crate::pipeline::spool::Line;
use crate::pipeline::spool::record::{Body, Record};

/// The records of the same panic place (for the same destination, tool,
/// version, id and catalogue version) merged into the first of them:
/// `count` summed, the latest time kept. Everything else is untouched and
/// in its order.
pub(crate) fn merge(lines: Vec<Line>) -> Vec<Line> {
    type Key = (Option<String>, String, String, String, Option<u32>, String);
    let mut out: Vec<Line> = Vec::with_capacity(lines.len());
    let mut first: HashMap<Key, usize> = HashMap::new();
    let mut merged = Vec::new();
    for (record, raw) in lines {
        let (Some((place, n)), Some(event)) = (panic_of(&record), record.event()) else {
            out.push((record, raw));
            continue;
        };
        let key = (
            record.to.clone(),
            event.tool.clone(),
            event.tool_version.clone(),
            event.machine_id.clone(),
            event.catalog_version,
            place.to_owned(),
        );
        if let Some(&at) = first.get(&key) {
            let into = &mut out[at].0;
            let total = panic_of(into).map_or(n, |(_, m)| super::add(m, n));
            if let Body::Event(into) = &mut into.body {
                into.attrs.insert(COUNT.to_owned(), total.to_string());
                if event.timestamp_utc > into.timestamp_utc {
                    into.timestamp_utc.clone_from(&event.timestamp_utc);
                }
            }
            merged.push(at);
        } else {
            first.insert(key, out.len());
            out.push((record, raw));
        }
    }
    merged.sort_unstable();
    merged.dedup();
    for at in merged {
        let (record, raw) = &mut out[at];
        let mut line = Vec::with_capacity(raw.len());
        if record.write_line(&mut line, false).is_ok() {
            *raw = line;
        }
    }
    out
}

/// A panic record's place and count, if `record` is one the hook writes
/// (its two attrs, a place's shape, a count of at least 1).
fn panic_of(record: &Record) -> Option<(&str, u64)> {
    let event = record.event()?;
    if event.name != EVENT || event.attrs.len() != 2 {
        return None;
    }
    let place = event.attrs.get(PLACE).filter(|p| super::is_place(p))?;
    let count = super::count_of(event.attrs.get(COUNT)?)?;
    Some((place, count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    fn line(name: &str, place: &str, count: &str, at: &str, machine: &str) -> Line {
        let mut event = Event::new(name, "t", "1.0.0", machine)
            .with_attr(PLACE, place)
            .with_attr(COUNT, count);
        event.timestamp_utc = at.into();
        let mut record = Record::from_bounded(event);
        record.to = Some("c".into());
        let mut raw = Vec::new();
        record.write_line(&mut raw, false).unwrap();
        (record, raw)
    }

    const A: &str = "t@1.0.0/src/main.rs:1:1";
    const B: &str = "dep@2.0.0/src/lib.rs:9:9";

    #[test]
    fn one_record_per_place_with_the_count() {
        let mut lines = Vec::new();
        for i in 0..1000 {
            let at = format!("2026-12-07T00:00:{:02}.000000Z", i % 60);
            lines.push(line(EVENT, if i % 10 == 0 { B } else { A }, "1", &at, "m"));
        }
        lines.insert(5, line("run", A, "1", "2026-12-07T00:00:00.000000Z", "m"));
        let out = merge(lines);
        let summary: Vec<(String, String)> = out
            .iter()
            .map(|(r, _)| {
                (
                    r.event().unwrap().name.clone(),
                    r.event().unwrap().attrs[COUNT].clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("panic".into(), "100".into()),
                ("panic".into(), "900".into()),
                ("run".into(), "1".into())
            ]
        );
        // The line is the record, rewritten: what the spool keeps reads back.
        for (record, raw) in &out {
            let (back, skipped) = crate::pipeline::spool::parse_records(raw);
            assert_eq!((back[0].0.clone(), skipped), (record.clone(), 0));
        }
        assert_eq!(
            out[1].0.event().unwrap().timestamp_utc,
            "2026-12-07T00:00:59.000000Z"
        );
    }

    #[test]
    fn what_is_not_the_same_panic_stays_apart() {
        let at = "2026-12-07T00:00:00.000000Z";
        let (max, beyond) = (i64::MAX.to_string(), u64::MAX.to_string());
        let out = merge(vec![
            line(EVENT, A, "1", at, "m"),
            line(EVENT, A, "1", at, "other-id"),
            line(EVENT, "/home/ada/src/main.rs:1:1", "1", at, "m"),
            line(EVENT, A, "0", at, "m"),
            line(EVENT, A, "2", at, "m"),
            line(EVENT, A, &max, at, "m"),
            line(EVENT, A, &beyond, at, "m"),
            line(EVENT, A, "+5", at, "m"),
            line(EVENT, A, "007", at, "m"),
        ]);
        let counts: Vec<&str> = out
            .iter()
            .map(|(r, _)| r.event().unwrap().attrs[COUNT].as_str())
            .collect();
        // The first, "2" and i64::MAX are one place, held at the most a
        // count can say (OTLP's int64); what is no count stays apart.
        assert_eq!(counts, [&*max, "1", "1", "0", &*beyond, "+5", "007"]);
    }
}
