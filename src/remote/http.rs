//! `HttpSink`: events sent as a JSON array.

use super::batch::{Batcher, Encoding, Options, builder_methods};
use crate::{Event, TelemetryError, TelemetrySink};

/// A sink that sends batches of events to a URL as a JSON array (HTTP
/// `POST`), each element the same object a `FileSink` line holds. HTTPS
/// through rustls.
///
/// `emit` adds the event to the batch (and sends it when it reaches the batch
/// size); `flush` sends the batch. Sending blocks the calling thread, with
/// connect and request timeouts and [`Retry`](super::Retry): run it behind
/// [`Background`](crate::Background), which calls `flush` whenever its queue
/// runs dry.
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

    /// The endpoint events are sent to.
    ///
    /// # Example
    ///
    /// ```
    /// let sink = rtb_telemetry::remote::HttpSink::builder("http://127.0.0.1:9/e").build()?;
    /// assert_eq!(sink.endpoint(), "http://127.0.0.1:9/e");
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.core.transport.endpoint
    }
}

const JSON: Encoding = Encoding {
    content_type: "application/json",
    encode: |events| {
        let mut body = Vec::with_capacity(256 * events.len());
        crate::event::write_json_array(&mut body, events)
            .map_err(|e| TelemetryError::serde("batch", e))?;
        Ok(body)
    },
};

impl HttpSinkBuilder {
    builder_methods!();

    /// Builds the sink. Touches nothing on the network.
    ///
    /// # Errors
    ///
    /// [`TelemetryError::Config`] when the endpoint is not an `http://` or
    /// `https://` URL.
    pub fn build(self) -> Result<HttpSink, TelemetryError> {
        Ok(HttpSink {
            core: self.options.into_batcher(JSON)?,
        })
    }
}

impl TelemetrySink for HttpSink {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        self.core.emit(event)
    }

    async fn flush(&self) -> Result<(), TelemetryError> {
        self.core.flush()
    }
}
