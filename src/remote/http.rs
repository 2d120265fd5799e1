//! `HttpSink`: events posted as a JSON array.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::transport::{Retry, Transport};
use crate::{Event, TelemetryError, TelemetrySink};

/// A sink that sends batches of events to a URL as a JSON array, each element
/// the same object a `FileSink` line holds. HTTPS through rustls.
///
/// `emit` adds the event to the batch (and sends it when it reaches the batch
/// size); `flush` sends the batch. Sending blocks the calling thread, with
/// connect and request timeouts and [`Retry`]: run it behind
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
    transport: Transport,
    max_batch: usize,
    batch: Mutex<Vec<Event>>,
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
    endpoint: String,
    headers: Vec<(String, String)>,
    retry: Retry,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_batch: usize,
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
            endpoint: endpoint.into(),
            headers: Vec::new(),
            retry: Retry::default(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_batch: 512,
        }
    }

    /// The endpoint events are posted to.
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
        &self.transport.endpoint
    }

    fn take_batch(&self) -> Vec<Event> {
        std::mem::take(&mut *self.batch.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn send(&self, events: &[Event]) -> Result<(), TelemetryError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut body = Vec::with_capacity(256 * events.len());
        crate::event::write_json_array(&mut body, events)
            .map_err(|e| TelemetryError::serde("batch", e))?;
        self.transport.post("application/json", &body)
    }
}

impl HttpSinkBuilder {
    /// Adds a header sent with every request, e.g. an API key. Its value
    /// never appears in `Debug` output or errors.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How retries are made (default: 4 attempts, 200 ms doubling, capped at 5 s).
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// The connect timeout (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The whole-request timeout (default 5 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The most events in one POST (default 512).
    pub fn max_batch(mut self, events: usize) -> Self {
        self.max_batch = events.max(1);
        self
    }

    /// Builds the sink. Touches nothing on the network.
    ///
    /// # Errors
    ///
    /// [`TelemetryError::Config`] when the endpoint is not an `http://` or
    /// `https://` URL.
    pub fn build(self) -> Result<HttpSink, TelemetryError> {
        Ok(HttpSink {
            transport: transport_for(
                self.endpoint,
                self.headers,
                self.retry,
                self.connect_timeout,
                self.request_timeout,
            )?,
            max_batch: self.max_batch,
            batch: Mutex::new(Vec::new()),
        })
    }
}

pub(crate) fn transport_for(
    endpoint: String,
    headers: Vec<(String, String)>,
    retry: Retry,
    connect_timeout: Duration,
    request_timeout: Duration,
) -> Result<Transport, TelemetryError> {
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(TelemetryError::config(
            format!("the telemetry endpoint `{endpoint}` is not an http:// or https:// URL"),
            "give the collector's full URL, e.g. https://collector.example.com:4318",
        ));
    }
    Ok(Transport::new(
        endpoint,
        headers,
        retry,
        connect_timeout,
        request_timeout,
    ))
}

impl TelemetrySink for HttpSink {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        let full = {
            let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
            batch.push(event.clone());
            batch.len() >= self.max_batch
        };
        if full {
            self.send(&self.take_batch())
        } else {
            Ok(())
        }
    }

    async fn flush(&self) -> Result<(), TelemetryError> {
        self.send(&self.take_batch())
    }
}
