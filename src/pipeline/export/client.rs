//! The one thing delivery asks of an HTTP client: a `POST`
//! ([`HttpClient`]). The bundled one is ureq (features `http`,
//! `native-tls`); a tool that already links a client hands it over.

use std::any::Any;
use std::fmt;
use std::io::{self, Read};
use std::time::{Duration, Instant};

/// An HTTP client the crate sends through: one blocking `POST`.
///
/// The `http` feature (or `native-tls`) bundles one, ureq; a tool that
/// already links a client hands it over with `.http_client(..)` on
/// [`HttpSinkBuilder`](crate::remote::HttpSinkBuilder),
/// [`OtlpSinkBuilder`](crate::remote::OtlpSinkBuilder) or
/// [`TelemetryBuilder`](crate::TelemetryBuilder), and builds the crate with
/// `upload` alone: no second client, TLS stack or root store in its binary.
///
/// What an implementation does, and the crate relies on:
///
/// - `POST`s to [`Post::url`] the [`Post::headers`] and, as the body, what
///   it reads from [`Post::body`] — exactly [`Post::content_length`] bytes,
///   sent with that `Content-Length`. Reading the body may fail (telemetry
///   was turned off while the request was being written): the request is
///   then given up, unfinished, and the error returned.
/// - Gives up by [`Post::deadline`], whatever the network does (name
///   resolution and connecting included).
/// - Follows no redirect: a `3xx` is an answer like any other.
/// - Returns the status of whatever answer came ([`Answer`]), with its
///   `Retry-After`, and reads no more of it.
/// - On failure, says how far the request got: [`ClientError::before_sending`]
///   when nothing can have reached the collector (the name, the connection,
///   TLS), else [`ClientError::after_sending`].
///
/// # Example
///
/// `examples/own_client.rs` implements it over `minreq` in 40 lines (and
/// a test runs it against a collector); the shape of it:
///
/// ```
/// use rtb_telemetry::remote::{Answer, ClientError, HttpClient, Post};
///
/// /// A client that refuses to send anything (a stand-in for yours).
/// struct Offline;
///
/// impl HttpClient for Offline {
///     fn post(&self, post: &mut Post<'_>) -> Result<Answer, ClientError> {
///         let _ = (post.url(), post.content_length(), post.deadline());
///         Err(ClientError::before_sending("offline", true))
///     }
/// }
/// ```
pub trait HttpClient: Send + Sync {
    /// Sends one request; see the trait's documentation for what that
    /// takes.
    ///
    /// # Errors
    ///
    /// How far the request got, and why it failed.
    fn post(&self, post: &mut Post<'_>) -> Result<Answer, ClientError>;
}

/// One request to send: the URL, the headers, the body (read as it is
/// written) and the deadline. Its `Debug` shows header names, never values.
pub struct Post<'a> {
    url: &'a str,
    headers: &'a [(String, String)],
    body: Body<'a>,
    deadline: Instant,
}

impl<'a> Post<'a> {
    pub(crate) fn new(
        url: &'a str,
        headers: &'a [(String, String)],
        body: Body<'a>,
        deadline: Instant,
    ) -> Self {
        Self {
            url,
            headers,
            body,
            deadline,
        }
    }

    /// Where to: an `http://` or `https://` URL, without user info (that
    /// goes as a `Basic` `Authorization` header).
    #[must_use]
    pub fn url(&self) -> &str {
        self.url
    }

    /// The headers to send (`Content-Type`, `Idempotency-Key`, and the
    /// tool's own). `Content-Length` is [`content_length`](Self::content_length).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The body's length in bytes.
    #[must_use]
    pub fn content_length(&self) -> u64 {
        self.body.bytes.len() as u64
    }

    /// The body, to read as the request is written. See [`Body`].
    pub fn body(&mut self) -> &mut Body<'a> {
        &mut self.body
    }

    /// When the request must be over, answer read, whatever happened.
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The time left until the [`deadline`](Self::deadline).
    #[must_use]
    pub fn time_left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Whether the request was stopped because telemetry was turned off.
    pub(crate) fn stopped(&self) -> bool {
        self.body.stopped
    }
}

impl fmt::Debug for Post<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Post")
            .field("url", &crate::redact::redact_url(self.url))
            .field("headers", &names)
            .field("content_length", &self.content_length())
            .finish_non_exhaustive()
    }
}

/// What decides whether a request may be written, and go on being written
/// (the user's decision, for the uploader). A `Body` asks it.
pub(crate) trait Gate {
    /// Asked before the request, and again as its body starts: `None`
    /// stops it. What it returns is held while the body is written (a
    /// shared lock on the decision), and let go at the end.
    fn pass(&mut self) -> Option<Box<dyn Any>>;

    /// Asked between the body's chunks: `false` stops the request mid-way,
    /// so the collector never gets it whole.
    fn still(&mut self) -> bool {
        true
    }
}

/// A gate that is always open (a sink's worker: no decision to check).
pub(crate) struct Open;

impl Gate for Open {
    fn pass(&mut self) -> Option<Box<dyn Any>> {
        Some(Box::new(()))
    }
}

/// A request's body as a client reads it: the bytes, in chunks of at most
/// 16 KiB, with telemetry's consent checked before the first byte (and held
/// while they are read) and between chunks. A read fails with an error of
/// kind `Other` once telemetry was turned off: the request must then be
/// given up.
pub struct Body<'a> {
    bytes: &'a [u8],
    at: usize,
    gate: &'a mut dyn Gate,
    opened: bool,
    held: Option<Box<dyn Any>>,
    stopped: bool,
}

/// The most bytes a read hands out: between two, the decision is checked.
const CHUNK: usize = 16 * 1024;

impl<'a> Body<'a> {
    pub(crate) fn new(bytes: &'a [u8], gate: &'a mut dyn Gate) -> Self {
        Self {
            bytes,
            at: 0,
            gate,
            opened: false,
            held: None,
            stopped: false,
        }
    }

    /// The whole body at once, for a client that takes bytes rather than a
    /// reader: the decision is checked now and held while the `Post`
    /// lives.
    ///
    /// # Errors
    ///
    /// Telemetry was turned off: the request must not be sent.
    pub fn all_at_once(&mut self) -> io::Result<&'a [u8]> {
        self.open()?;
        self.at = self.bytes.len();
        Ok(self.bytes)
    }

    /// Checks the decision now, and holds it until the body is written
    /// (before the client connects): `false` when the request must not be
    /// sent.
    pub(crate) fn hold(&mut self) -> bool {
        self.open().is_ok()
    }

    fn open(&mut self) -> io::Result<()> {
        if self.stopped {
            return Err(turned_off());
        }
        if !self.opened {
            self.opened = true;
            let Some(pass) = self.gate.pass() else {
                self.stopped = true;
                return Err(turned_off());
            };
            self.held = Some(pass);
        }
        Ok(())
    }
}

fn turned_off() -> io::Error {
    io::Error::other("telemetry was turned off: the request is given up")
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let first = !self.opened;
        self.open()?;
        if !first && self.at < self.bytes.len() && !self.gate.still() {
            self.stopped = true;
            self.held = None;
            return Err(turned_off());
        }
        let n = buf.len().min(CHUNK).min(self.bytes.len() - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        if self.at == self.bytes.len() {
            self.held = None; // written: whoever waits for the lock may go
        }
        Ok(n)
    }
}

impl fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("len", &self.bytes.len())
            .field("read", &self.at)
            .finish_non_exhaustive()
    }
}

/// The collector's answer: its status, and its `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    status: u16,
    retry_after: Option<Duration>,
}

impl Answer {
    /// An answer with `status` (any: `2xx` is delivery, the rest the crate
    /// judges).
    #[must_use]
    pub fn new(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
        }
    }

    /// The answer's `Retry-After` header, as it came: whole seconds are
    /// honoured (on `429` and `503`); an HTTP date or junk is ignored.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use rtb_telemetry::remote::Answer;
    ///
    /// let answer = Answer::new(429).retry_after(Some("3"));
    /// assert_eq!(answer.retry_after_secs(), Some(Duration::from_secs(3)));
    /// assert_eq!(Answer::new(429).retry_after(Some("soon")).retry_after_secs(), None);
    /// ```
    #[must_use]
    pub fn retry_after(mut self, header: Option<&str>) -> Self {
        self.retry_after = header
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        self
    }

    /// The status code.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The `Retry-After` given in whole seconds, if any.
    #[must_use]
    pub fn retry_after_secs(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// Why a request did not get an answer, and how far it got.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientError {
    message: String,
    sent: bool,
    heals: bool,
}

impl ClientError {
    /// Nothing can have reached the collector (the name, the connection,
    /// TLS failed): its events go back to be batched afresh. `heals`:
    /// waiting may help (a refused connection; not a certificate nobody
    /// trusts, which is not tried again).
    #[must_use]
    pub fn before_sending(message: impl Into<String>, heals: bool) -> Self {
        Self {
            message: message.into(),
            sent: false,
            heals,
        }
    }

    /// The request may have reached the collector (it timed out after
    /// being written, the connection broke): it is sent again later
    /// exactly as it was, with the same `Idempotency-Key`.
    #[must_use]
    pub fn after_sending(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            sent: true,
            heals: true,
        }
    }

    /// What happened, as the client said it.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the request may have reached the collector.
    #[must_use]
    pub fn may_have_reached(&self) -> bool {
        self.sent
    }

    /// Whether trying again later may succeed.
    #[must_use]
    pub fn heals(&self) -> bool {
        self.heals
    }
}

impl fmt::Debug for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientError")
            .field("message", &crate::text::printable(&self.message))
            .field("sent", &self.sent)
            .field("heals", &self.heals)
            .finish()
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::text::printable(&self.message))
    }
}

impl std::error::Error for ClientError {}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting {
        passes: usize,
        still: bool,
    }

    impl Gate for Counting {
        fn pass(&mut self) -> Option<Box<dyn Any>> {
            self.passes += 1;
            Some(Box::new(()))
        }
        fn still(&mut self) -> bool {
            self.still
        }
    }

    #[test]
    fn the_gate_opens_once_and_closing_it_stops_the_body() {
        let bytes = vec![7_u8; 40 * 1024];
        let mut gate = Counting {
            passes: 0,
            still: true,
        };
        let mut body = Body::new(&bytes, &mut gate);
        let mut buf = vec![0; 64 * 1024];
        assert_eq!(body.read(&mut buf).unwrap(), CHUNK, "a chunk at a time");
        assert_eq!(body.read(&mut buf).unwrap(), CHUNK);
        drop(body);
        assert_eq!(gate.passes, 1);
        gate.still = false;
        let mut body = Body::new(&bytes, &mut gate);
        assert_eq!(body.read(&mut buf).unwrap(), CHUNK);
        assert!(body.read(&mut buf).is_err(), "turned off mid-way: stopped");
        assert!(body.stopped);
    }

    struct Closed;

    impl Gate for Closed {
        fn pass(&mut self) -> Option<Box<dyn Any>> {
            None
        }
    }

    #[test]
    fn a_closed_gate_stops_even_an_empty_body() {
        let mut gate = Closed;
        let mut body = Body::new(&[], &mut gate);
        assert!(body.read(&mut [0; 8]).is_err());
        let mut body = Body::new(b"x", &mut gate);
        assert!(body.all_at_once().is_err());
    }
}
