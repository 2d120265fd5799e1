//! Export: a batch of records encoded (JSON, OTLP) and sent as one request
//! through an HTTP client, with retries. The exporter is a blocking sender
//! with no queue of its own: the one [`Worker`](crate::pipeline::worker::Worker)
//! drives it for the remote sinks, and the uploader drives it directly.
//!
//! - `endpoint.rs`: the collector's URL, checked once;
//! - `client.rs`: what is asked of an HTTP client (public: `HttpClient`);
//! - `bundled.rs`: the bundled one, ureq (features `http`, `native-tls`);
//! - `retry.rs`: one request, retried while that may help;
//! - `json.rs`, `otlp.rs`: the two encodings.

use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(any(feature = "http", feature = "native-tls"))]
mod bundled;
pub(crate) mod client;
pub(crate) mod endpoint;
pub(crate) mod json;
#[cfg(feature = "otlp")]
pub(crate) mod otlp;
pub(crate) mod retry;

use self::client::{Gate, HttpClient};
use self::endpoint::{Endpoint, check_header};
use self::retry::{Headers, NotDelivered, Reach, Retry, Sender};
use crate::pipeline::spool::record::{Body, Record, batch_key};
use crate::pipeline::worker::{Drive, Settings, SinceFlush, Worker};
use crate::{Event, TelemetryError};

/// The default most events in one request.
const DEFAULT_MAX_BATCH: usize = 512;
/// The default most bytes of events in one request.
const DEFAULT_MAX_BATCH_BYTES: usize = 1024 * 1024;

/// The settings every remote sink takes. Its `Debug` shows no secret: the
/// endpoint without credentials, headers without values.
#[derive(Clone)]
pub(crate) struct Options {
    pub(crate) endpoint: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) retry: Retry,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_batch: usize,
    pub(crate) max_batch_bytes: usize,
    /// PEM root certificates to trust instead of the built-in web roots.
    pub(crate) root_pems: Vec<Vec<u8>>,
    /// Where the proxy variables are read from.
    pub(crate) env: crate::Env,
    /// The tool's own HTTP client, if it handed one over.
    pub(crate) client: Option<Arc<dyn HttpClient>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("endpoint", &crate::redact::redact_url(&self.endpoint))
            .field("headers", &Headers(self.headers.clone()))
            .field("retry", &self.retry)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_batch", &self.max_batch)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .field("root_certificates", &self.root_pems.len())
            .field("env", &self.env)
            .field("own_client", &self.client.is_some())
            .finish()
    }
}

impl Options {
    pub(crate) fn new(endpoint: String) -> Self {
        Self {
            endpoint,
            headers: Vec::new(),
            retry: Retry::default(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_batch: DEFAULT_MAX_BATCH,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            root_pems: Vec::new(),
            env: crate::Env::process(),
            client: None,
        }
    }

    /// Checks the endpoint and the headers, touching nothing: the endpoint
    /// as it will be used (`suffix` appended to its path, OTLP's
    /// `/v1/logs`).
    pub(crate) fn validate(&self, suffix: Option<&str>) -> Result<Endpoint, TelemetryError> {
        let mut endpoint = Endpoint::parse(&self.endpoint)?;
        if let Some(suffix) = suffix {
            endpoint = endpoint.join(suffix)?;
        }
        for (name, value) in &self.headers {
            check_header(name, value)?;
        }
        Ok(endpoint)
    }

    /// Why the proxy the environment names cannot be used by the bundled
    /// client, if it cannot (a tool's own client minds its own proxies).
    pub(crate) fn proxy_problem(&self, endpoint: &Endpoint) -> Option<String> {
        if self.client.is_some() {
            return None;
        }
        #[cfg(any(feature = "http", feature = "native-tls"))]
        return bundled::proxy_problem(&self.env, endpoint);
        #[cfg(not(any(feature = "http", feature = "native-tls")))]
        {
            let _ = endpoint;
            None
        }
    }

    /// `true` when an auth-looking header would go over plain `http://`.
    pub(crate) fn clear_credentials(&self, endpoint: &Endpoint) -> bool {
        endpoint::credentials_in_clear(endpoint, self.headers.iter().map(|(name, _)| name.as_str()))
    }

    /// Validates everything and builds the exporter. Touches no network.
    pub(crate) fn into_exporter(
        self,
        suffix: Option<&str>,
        encoding: Encoding,
    ) -> Result<Exporter, TelemetryError> {
        let endpoint = self.validate(suffix)?;
        let client = match self.client {
            Some(client) => client,
            None => self.bundled_client(&endpoint)?,
        };
        Ok(Exporter {
            sender: Sender::new(
                endpoint,
                self.headers,
                self.retry,
                self.request_timeout,
                client,
            ),
            encoding,
            max_batch: self.max_batch,
            max_batch_bytes: self.max_batch_bytes,
        })
    }

    #[cfg(any(feature = "http", feature = "native-tls"))]
    fn bundled_client(&self, endpoint: &Endpoint) -> Result<Arc<dyn HttpClient>, TelemetryError> {
        Ok(Arc::new(bundled::Bundled::new(&bundled::Setup {
            endpoint,
            connect_timeout: self.connect_timeout.min(Duration::from_secs(24 * 3600)),
            root_pems: &self.root_pems,
            env: &self.env,
        })?))
    }

    #[cfg(not(any(feature = "http", feature = "native-tls")))]
    #[expect(
        clippy::unused_self,
        reason = "the twin of the bundled build's, which reads the options"
    )]
    fn bundled_client(&self, endpoint: &Endpoint) -> Result<Arc<dyn HttpClient>, TelemetryError> {
        Err(TelemetryError::config(
            format!(
                "nothing can send to `{}`: this build bundles no HTTP client",
                endpoint.shown()
            ),
            "build with the `http` (or `native-tls`) feature, or hand the tool's own client over \
             with `.http_client(..)`",
        ))
    }
}

/// How a remote sink turns a batch into a request body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Encoding {
    pub(crate) content_type: &'static str,
    pub(crate) encode: fn(&[Record]) -> Result<Vec<u8>, TelemetryError>,
}

/// A blocking sender: encodes a batch of records and POSTs it, with
/// retries. No queue and no thread: the worker or the uploader drives it.
#[derive(Debug)]
pub(crate) struct Exporter {
    pub(crate) sender: Sender,
    encoding: Encoding,
    max_batch: usize,
    max_batch_bytes: usize,
}

impl Exporter {
    /// Sends `batch` as one request, its key derived from its records'
    /// ids. `gate` is asked before every attempt (see [`Sender::post`]).
    pub(crate) fn send(
        &self,
        batch: &[Record],
        deadline: Option<Instant>,
        fate: &str,
        gate: &mut dyn Gate,
        requests: &mut u64,
    ) -> Result<(), NotDelivered> {
        let body = (self.encoding.encode)(batch).map_err(|error| NotDelivered {
            error,
            reach: Reach::NotReached,
        })?;
        let key = batch_key(batch);
        self.sender.post(
            self.encoding.content_type,
            &body,
            &key,
            deadline,
            fate,
            gate,
            requests,
        )
    }

    /// How many of `records`, from the front, go in one request: within
    /// both bounds, and at least one (a record larger than the byte bound
    /// goes alone).
    pub(crate) fn batch_len<'a>(&self, records: impl IntoIterator<Item = &'a Record>) -> usize {
        let mut bytes = 0;
        let mut n = 0;
        for record in records {
            let size = record_size(record);
            if n > 0 && (n >= self.max_batch || bytes + size > self.max_batch_bytes) {
                return n;
            }
            bytes += size;
            n += 1;
        }
        n
    }

    /// The bounds, for the worker in front of it.
    fn settings(&self, settings: Settings) -> Settings {
        Settings {
            batch: self.max_batch,
            batch_bytes: self.max_batch_bytes,
            ..settings
        }
    }
}

/// What a record counts for against the batch's byte bound.
pub(crate) fn record_size(record: &Record) -> usize {
    let body = match &record.body {
        Body::Event(event) => crate::event::approx_size(event),
        Body::Report(spooled) => spooled.report.len(),
    };
    body + record.id.len()
}

/// The worker's view of an exporter: each batch sent as one request (cut
/// further if the exporter's bounds say so); a failed batch is lost, and
/// the flush that follows says so.
struct ExportDriver {
    exporter: std::sync::Arc<Exporter>,
}

impl Drive for ExportDriver {
    fn deliver(&mut self, batch: Vec<Event>, failures: &mut SinceFlush) {
        let records: Vec<Record> = batch.into_iter().map(Record::from_bounded).collect();
        let mut rest = records.as_slice();
        while !rest.is_empty() {
            let n = self.exporter.batch_len(rest);
            let sent = self
                .exporter
                .send(&rest[..n], None, DROPPED, &mut client::Open, &mut 0)
                .map_err(|f| f.error);
            failures.note(sent);
            rest = &rest[n..];
        }
    }

    fn thread_name(&self) -> &'static str {
        "rtb-telemetry-http"
    }
}

const DROPPED: &str = "of this batch were dropped";

/// The default queue for a remote sink: as [`Background`](crate::Background)'s,
/// with batches that linger up to a second for more events.
pub(crate) fn default_settings() -> Settings {
    Settings {
        linger: Duration::from_secs(1),
        ..Settings::default()
    }
}

/// A remote sink's inside: the worker over its exporter.
pub(crate) fn worker(exporter: std::sync::Arc<Exporter>, settings: Settings) -> Worker {
    let settings = exporter.settings(settings);
    Worker::new(Box::new(ExportDriver { exporter }), settings)
}

/// The accessors both remote sinks share.
macro_rules! sink_accessors {
    () => {
        /// The endpoint events are sent to, without credentials (user info
        /// and query values are `[redacted]`).
        ///
        /// # Example
        ///
        /// ```
        /// let sink = rtb_telemetry::remote::HttpSink::builder("http://u:pw@127.0.0.1:9/e?k=s").build()?;
        /// assert_eq!(sink.endpoint(), "http://[redacted]@127.0.0.1:9/e?k=[redacted]");
        /// # Ok::<(), rtb_telemetry::TelemetryError>(())
        /// ```
        #[must_use]
        pub fn endpoint(&self) -> &str {
            self.exporter.sender.endpoint.shown()
        }

        /// `true` when credentials would cross the network in clear text:
        /// an auth-looking header (or user info in the URL) over plain
        /// `http://`. Allowed (a collector on loopback is fine), but
        /// `telemetry status` and debug mode name it.
        #[must_use]
        pub fn sends_credentials_in_clear(&self) -> bool {
            self.exporter.sender.sends_credentials_in_clear()
        }

        /// Events dropped because the queue was full (1024 events or 4 MiB
        /// by default), so memory stays bounded behind a slow collector.
        #[must_use]
        pub fn dropped(&self) -> u64 {
            self.worker.dropped()
        }
    };
}
pub(crate) use sink_accessors;

/// The builder methods both remote sinks' builders share.
macro_rules! builder_methods {
    () => {
        /// Adds a header sent with every request, e.g. an API key. Its value
        /// never appears in `Debug` output or errors; `build()` checks it.
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.options.headers.push((name.into(), value.into()));
            self
        }

        /// How retries are made (default: 4 attempts, 200 ms doubling,
        /// capped at 5 s).
        pub fn retry(mut self, retry: $crate::remote::Retry) -> Self {
            self.options.retry = retry;
            self
        }

        /// The connect timeout (default 2 s; longer than a day means a day).
        pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.options.connect_timeout = timeout;
            self
        }

        /// The whole-request timeout (default 5 s; longer than a day means a
        /// day).
        pub fn request_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.options.request_timeout = timeout;
            self
        }

        /// Sends through the tool's own HTTP client instead of the bundled
        /// one (see [`HttpClient`](crate::remote::HttpClient)); the connect
        /// timeout, the proxy variables and the root certificates are then
        /// the client's business.
        pub fn http_client(
            mut self,
            client: std::sync::Arc<dyn $crate::remote::HttpClient>,
        ) -> Self {
            self.options.client = Some(client);
            self
        }

        /// Trusts the certificates in `pem` (e.g. a company CA) *instead of*
        /// the roots the platform trusts. May be given more than once.
        /// Checked by `build()`.
        pub fn root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
            self.options.root_pems.push(pem.into());
            self
        }

        /// The most events in one request (default 512).
        pub fn max_batch(mut self, events: usize) -> Self {
            self.options.max_batch = events.max(1);
            self
        }

        /// The most bytes of events in one request (default 1 MiB; a single
        /// larger event is sent alone).
        pub fn max_batch_bytes(mut self, bytes: usize) -> Self {
            self.options.max_batch_bytes = bytes.max(1);
            self
        }

        /// How long a batch that is not full waits for more events before
        /// it is sent (default 1 s); `flush` sends at once.
        pub fn linger(mut self, linger: std::time::Duration) -> Self {
            self.settings.linger = linger;
            self
        }

        /// How many events may wait for the network (default 1024); more
        /// are dropped and counted.
        pub fn capacity(mut self, events: usize) -> Self {
            self.settings.capacity = events.max(1);
            self
        }

        /// How long `flush` waits for delivery (default 2 s; the request
        /// itself goes on in the background).
        pub fn flush_deadline(mut self, deadline: std::time::Duration) -> Self {
            self.settings.flush_deadline = deadline;
            self
        }

        /// How long dropping the sink waits for queued events to be sent
        /// (default 500 ms).
        pub fn drain_deadline(mut self, deadline: std::time::Duration) -> Self {
            self.settings.drain_deadline = deadline;
            self
        }
    };
}
pub(crate) use builder_methods;

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| Record::new(&Event::new(format!("e{i}"), "t", "1", "id")))
            .collect()
    }

    #[test]
    fn batches_respect_both_bounds() {
        let mut options = Options::new("http://127.0.0.1:9/".into());
        options.max_batch = 4;
        options.max_batch_bytes = 600;
        let encoding = Encoding {
            content_type: "x",
            encode: |_| Ok(Vec::new()),
        };
        let exporter = options.into_exporter(None, encoding).unwrap();
        let all = records(10);
        let mut rest = all.as_slice();
        let mut total = 0;
        while !rest.is_empty() {
            let n = exporter.batch_len(rest);
            assert!((1..=4).contains(&n));
            let bytes: usize = rest[..n].iter().map(record_size).sum();
            assert!(bytes <= 600 || n == 1, "{bytes}");
            total += n;
            rest = &rest[n..];
        }
        assert_eq!(total, 10);
    }

    #[test]
    fn options_debug_hides_every_secret() {
        let mut options = Options::new("https://user:pw@host/?api_key=K".into());
        options
            .headers
            .push(("Authorization".into(), "Bearer SECRET".into()));
        let shown = format!("{options:?}");
        for secret in ["pw", "SECRET", "=K"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}
