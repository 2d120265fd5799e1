//! `HttpSink`: events sent as a JSON array.

use super::batch::{Batcher, Encoding, Options, builder_methods, sink_accessors};
use crate::record::Record;
use crate::{Event, TelemetryError, TelemetrySink};

/// A sink that sends batches of events to a URL as JSON (HTTP `POST`).
/// HTTPS through rustls.
///
/// The body is an array of records, `[{"id":"…","event":{…}}, …]`: each
/// `event` the same object a `FileSink` line holds, each `id` unique to the
/// event and the same on every retry. The request's `Idempotency-Key`
/// header is derived from the ids, so a collector can drop a batch it has
/// already seen.
///
/// `emit` adds the event to the batch (and hands the batch to a delivery
/// thread when it reaches 512 events or 1 MiB); `flush` hands over the
/// batch and waits for the answer. Neither blocks the caller's thread: the
/// network is only touched on the delivery thread, with connect and
/// request timeouts and [`Retry`](super::Retry). For recording from a
/// command, prefer [`Telemetry`](crate::Telemetry), which spools locally
/// and uploads after the command.
///
/// A batch that cannot be delivered is dropped, and the error says why;
/// memory stays bounded.
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use rtb_telemetry::{Background, remote::HttpSink};
///
/// let http = HttpSink::builder("https://telemetry.example.com/v1/events")
///     .header("authorization", "Bearer secret") // never shown in Debug or errors
///     .request_timeout(Duration::from_secs(3))
///     .build()?;
/// let sink = Background::new(http)?;
/// # let _ = sink;
/// # Ok::<(), rtb_telemetry::TelemetryError>(())
/// ```
#[derive(Debug)]
pub struct HttpSink {
    core: Batcher,
}

/// Configures an [`HttpSink`]; see [`HttpSink::builder`].
///
/// # Example
///
/// ```
/// let sink = rtb_telemetry::remote::HttpSink::builder("http://127.0.0.1:4318/events")
///     .max_batch(100)
///     .build()?;
/// # let _ = sink;
/// # Ok::<(), rtb_telemetry::TelemetryError>(())
/// ```
#[derive(Debug)]
#[must_use = "nothing is sent until `.build()`"]
pub struct HttpSinkBuilder {
    options: Options,
}

impl HttpSink {
    /// Starts configuring a sink that sends to `endpoint`.
    ///
    /// # Example
    ///
    /// ```
    /// let builder = rtb_telemetry::remote::HttpSink::builder("https://collector.example/events");
    /// # let _ = builder;
    /// ```
    pub fn builder(endpoint: impl Into<String>) -> HttpSinkBuilder {
        HttpSinkBuilder {
            options: Options::new(endpoint.into()),
        }
    }

    sink_accessors!();
}

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

/// `[{"id":"…","event":{…}},…]`: the spool's lines, joined as an array.
fn write_records(out: &mut Vec<u8>, records: &[Record]) -> serde_json::Result<()> {
    out.push(b'[');
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        record.write_line(out)?;
        out.pop(); // the line's `\n`
    }
    out.push(b']');
    Ok(())
}

impl HttpSinkBuilder {
    builder_methods!();

    /// Builds the sink. Touches nothing on the network.
    ///
    /// # Errors
    ///
    /// A [`Config`](crate::ErrorKind::Config) error when the endpoint is not
    /// an `http://` or `https://` URL with a host and a valid port, or a
    /// header or certificate is malformed.
    pub fn build(self) -> Result<HttpSink, TelemetryError> {
        Ok(HttpSink {
            core: self.options.into_batcher(None, JSON)?,
        })
    }
}

impl TelemetrySink for HttpSink {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        self.core.emit(event)
    }

    async fn flush(&self) -> Result<(), TelemetryError> {
        self.core.flush().await
    }
}
