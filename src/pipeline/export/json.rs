//! JSON over HTTP: a batch of records as one array,
//! `[{"id":…,"event":{…}},…]`, each event exactly as a `FileSink` line
//! holds it.

use super::Encoding;
use crate::TelemetryError;
use crate::pipeline::spool::record::Record;

pub(crate) const JSON: Encoding = Encoding {
    content_type: "application/json",
    encode: |records| {
        let mut body = Vec::with_capacity(300 * records.len());
        write_records(&mut body, records).map_err(|e| {
            TelemetryError::serde(format_args!("a batch of {} events", records.len()), e)
        })?;
        Ok(body)
    },
};

fn write_records(out: &mut Vec<u8>, records: &[Record]) -> serde_json::Result<()> {
    out.push(b'[');
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        record.write_line(out, true)?;
        out.pop(); // the line's `\n`
    }
    out.push(b']');
    Ok(())
}
