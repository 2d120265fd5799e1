//! What the remote sinks share: options, the batch, and the builder methods.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::transport::{Retry, Transport};
use crate::{Event, TelemetryError};

/// The settings every remote sink takes.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) endpoint: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) retry: Retry,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_batch: usize,
    /// PEM root certificates to trust instead of the built-in web roots.
    pub(crate) root_pems: Vec<Vec<u8>>,
}

impl Options {
    pub(crate) fn new(endpoint: String) -> Self {
        Self {
            endpoint,
            headers: Vec::new(),
            retry: Retry::default(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_batch: 512,
            root_pems: Vec::new(),
        }
    }

    pub(crate) fn into_batcher(self, encoding: Encoding) -> Result<Batcher, TelemetryError> {
        let endpoint = self.endpoint;
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(TelemetryError::config(
                format!("the telemetry endpoint `{endpoint}` is not an http:// or https:// URL"),
                "give the collector's full URL, e.g. https://collector.example.com:4318",
            ));
        }
        let mut roots = Vec::new();
        for pem in &self.root_pems {
            for item in ureq::tls::parse_pem(pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(cert)) => roots.push(cert),
                    Ok(_) => {}
                    Err(e) => {
                        return Err(TelemetryError::config(
                            format!("a root certificate for `{endpoint}` is not valid PEM: {e}"),
                            "pass the collector's CA certificate in PEM form (-----BEGIN CERTIFICATE-----)",
                        ));
                    }
                }
            }
        }
        if !self.root_pems.is_empty() && roots.is_empty() {
            return Err(TelemetryError::config(
                format!("no certificate found in the root certificates given for `{endpoint}`"),
                "pass the collector's CA certificate in PEM form (-----BEGIN CERTIFICATE-----)",
            ));
        }
        Ok(Batcher {
            transport: Transport::new(
                endpoint,
                self.headers,
                self.retry,
                (self.connect_timeout, self.request_timeout),
                roots,
            ),
            encoding,
            max_batch: self.max_batch,
            batch: Mutex::new(Vec::new()),
        })
    }
}

/// How a remote sink turns a batch into a request body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Encoding {
    pub(crate) content_type: &'static str,
    pub(crate) encode: fn(&[Event]) -> Result<Vec<u8>, TelemetryError>,
}

/// A transport, an encoding, and the events waiting for them: everything a
/// remote sink does, so each sink's `TelemetrySink` impl is two calls.
#[derive(Debug)]
pub(crate) struct Batcher {
    pub(crate) transport: Transport,
    encoding: Encoding,
    max_batch: usize,
    batch: Mutex<Vec<Event>>,
}

impl Batcher {
    /// Adds `event` to the batch, and sends the batch when it is full.
    pub(crate) fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        let full = {
            let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
            batch.push(event.clone());
            (batch.len() >= self.max_batch).then(|| std::mem::take(&mut *batch))
        };
        full.map_or(Ok(()), |events| self.send(&events))
    }

    /// Sends everything waiting.
    pub(crate) fn flush(&self) -> Result<(), TelemetryError> {
        let events =
            std::mem::take(&mut *self.batch.lock().unwrap_or_else(PoisonError::into_inner));
        self.send(&events)
    }

    fn send(&self, events: &[Event]) -> Result<(), TelemetryError> {
        if events.is_empty() {
            return Ok(());
        }
        let body = (self.encoding.encode)(events)?;
        self.transport.post(self.encoding.content_type, &body)
    }
}

/// The builder methods both remote sinks' builders share.
macro_rules! builder_methods {
    () => {
        /// Adds a header sent with every request, e.g. an API key. Its value
        /// never appears in `Debug` output or errors.
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

        /// The connect timeout (default 2 s).
        pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.options.connect_timeout = timeout;
            self
        }

        /// The whole-request timeout (default 5 s).
        pub fn request_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.options.request_timeout = timeout;
            self
        }

        /// Trusts the certificates in `pem` (e.g. a company CA) *instead of*
        /// the built-in Mozilla roots. May be given more than once. Checked
        /// by `build()`.
        pub fn root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
            self.options.root_pems.push(pem.into());
            self
        }

        /// The most events in one request (default 512).
        pub fn max_batch(mut self, events: usize) -> Self {
            self.options.max_batch = events.max(1);
            self
        }
    };
}
pub(crate) use builder_methods;
