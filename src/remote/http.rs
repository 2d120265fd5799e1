//! `HttpSink`: events sent as a JSON array.

use std::sync::Arc;

use crate::pipeline::export::json::JSON;
use crate::pipeline::export::{Exporter, Options, builder_methods, sink_accessors};
use crate::pipeline::worker::{Settings, Worker};
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
/// It is a [`Background`](crate::Background) worker over a JSON exporter:
/// `emit` queues a bounded copy of the event (never waits; a full queue
/// drops and counts); the worker's thread sends a batch when it reaches
/// 512 events or 1 MiB, or has waited a second for more; `flush` sends at
/// once and waits for the answer without blocking the caller's thread. The
/// network is only touched on that thread, with connect and request
/// timeouts and [`Retry`](super::Retry). It needs no `Background` around
/// it (that would only add a second queue). For recording from a command,
/// prefer [`Telemetry`](crate::Telemetry), which spools locally and uploads
/// after the command.
///
/// A batch that cannot be delivered is dropped, and the next `flush` says
/// why; memory stays bounded.
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use rtb_telemetry::remote::HttpSink;
///
/// let sink = HttpSink::builder("https://telemetry.example.com/v1/events")
///     .header("authorization", "Bearer secret") // never shown in Debug or errors
///     .request_timeout(Duration::from_secs(3))
///     .build()?;
/// # let _ = sink;
/// # Ok::<(), rtb_telemetry::TelemetryError>(())
/// ```
#[derive(Debug)]
pub struct HttpSink {
    worker: Worker,
    exporter: Arc<Exporter>,
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
    settings: Settings,
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
            settings: crate::pipeline::export::default_settings(),
        }
    }

    sink_accessors!();
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
        let exporter = Arc::new(self.options.into_exporter(None, JSON)?);
        Ok(HttpSink {
            worker: crate::pipeline::export::worker(Arc::clone(&exporter), self.settings),
            exporter,
        })
    }
}

impl TelemetrySink for HttpSink {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        self.worker.enqueue(event)
    }

    async fn flush(&self) -> Result<(), TelemetryError> {
        self.worker.flush().await
    }
}
