//! The crate's one error type.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use miette::Diagnostic;

/// Everything that can go wrong while recording or delivering telemetry.
///
/// One opaque type, as `http::Error` and `opentelemetry_sdk` do it: ask
/// [`kind`](Self::kind) what failed, and the accessors where
/// ([`path`](Self::path), [`endpoint`](Self::endpoint),
/// [`status`](Self::status)). Every error says what failed and where in its
/// message, carries a stable [miette](https://docs.rs/miette) code
/// (`rtb::telemetry::…`, one per [`ErrorKind`]) and a help line that says
/// what to do. Telemetry errors are for logs and `telemetry status`, never a
/// reason to stop the host tool.
///
/// The details sit behind one `Box`, so `Result<(), TelemetryError>` is one
/// word and dropping an `Ok` costs nothing (see `docs/zero-cost.md`).
///
/// # Example
///
/// ```
/// use miette::Diagnostic;
/// use rtb_telemetry::{ErrorKind, TelemetryError};
///
/// let err = TelemetryError::io(
///     "open",
///     "/var/lib/mytool/events.jsonl",
///     std::io::Error::from(std::io::ErrorKind::PermissionDenied),
/// );
/// assert_eq!(err.kind(), ErrorKind::Io);
/// assert!(err.to_string().contains("/var/lib/mytool/events.jsonl"));
/// assert_eq!(err.code().unwrap().to_string(), "rtb::telemetry::io");
/// assert_eq!(err.io_kind(), Some(std::io::ErrorKind::PermissionDenied));
/// assert!(err.help().is_some());
/// ```
pub struct TelemetryError {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    help: Cow<'static, str>,
    path: Option<PathBuf>,
    endpoint: Option<String>,
    status: Option<u16>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

/// What kind of thing failed; [`TelemetryError::kind`] returns it.
///
/// Each kind has its own miette code, `rtb::telemetry::<kind>`.
///
/// # Example
///
/// ```
/// use rtb_telemetry::{ErrorKind, TelemetryError};
///
/// let err = TelemetryError::from(std::io::Error::other("disk on fire"));
/// assert_eq!(err.kind(), ErrorKind::Io);
/// assert_eq!(ErrorKind::Io.code(), "rtb::telemetry::io");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file could not be read or written — a sink's, the spool's, the
    /// uploader's (`rtb::telemetry::io`).
    Io,
    /// An event or a batch could not be encoded (`rtb::telemetry::serde`).
    Serde,
    /// The consent file could not be read, understood or written
    /// (`rtb::telemetry::consent`).
    Consent,
    /// The configuration was rejected: an endpoint, a header, a certificate,
    /// a missing home directory (`rtb::telemetry::config`).
    Config,
    /// A collector did not accept events (`rtb::telemetry::delivery`).
    Delivery,
    /// Delivery did not finish within a deadline (`rtb::telemetry::timeout`).
    Timeout,
    /// A thread or process the crate runs could not be started, stopped,
    /// or a sink panicked on it (`rtb::telemetry::thread`).
    Thread,
}

impl ErrorKind {
    /// The miette code of errors of this kind.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::Io => "rtb::telemetry::io",
            Self::Serde => "rtb::telemetry::serde",
            Self::Consent => "rtb::telemetry::consent",
            Self::Config => "rtb::telemetry::config",
            Self::Delivery => "rtb::telemetry::delivery",
            Self::Timeout => "rtb::telemetry::timeout",
            Self::Thread => "rtb::telemetry::thread",
        }
    }
}

impl TelemetryError {
    fn new(kind: ErrorKind, message: String, help: impl Into<Cow<'static, str>>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                message,
                help: help.into(),
                path: None,
                endpoint: None,
                status: None,
                source: None,
            }),
        }
    }

    fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// A sink could not do `action` to `path`. For sink authors.
    ///
    /// `action` is a verb phrase that fits "could not {action} `{path}`";
    /// the operating system's error is the [`source`](StdError::source).
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::TelemetryError;
    ///
    /// let err = TelemetryError::io("write to", "out.jsonl", std::io::ErrorKind::StorageFull.into());
    /// assert_eq!(err.to_string(), "telemetry I/O error: could not write to `out.jsonl`");
    /// assert_eq!(err.path(), Some(std::path::Path::new("out.jsonl")));
    /// ```
    #[must_use]
    pub fn io(action: &str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        let mut err = Self::new(
            ErrorKind::Io,
            format!(
                "telemetry I/O error: could not {action} `{}`",
                path.display()
            ),
            io_help(source.kind()),
        )
        .with_source(source);
        err.inner.path = Some(path);
        err
    }

    /// `what` could not be encoded. For sink authors; `what` names the
    /// thing, e.g. ``"event `build`"`` or `"a batch of 3 events"`.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{ErrorKind, TelemetryError};
    ///
    /// let err = TelemetryError::serde("event `build`", "key must be a string");
    /// assert_eq!(err.kind(), ErrorKind::Serde);
    /// assert_eq!(err.to_string(), "could not encode event `build`: key must be a string");
    /// ```
    #[must_use]
    pub fn serde(what: impl fmt::Display, message: impl fmt::Display) -> Self {
        Self::new(
            ErrorKind::Serde,
            format!("could not encode {what}: {message}"),
            "the data could not be written as JSON or protobuf; this is a bug, please report \
             it to the author of the sink or of rtb-telemetry",
        )
    }

    /// A collector at `endpoint` did not accept events. For sink authors.
    ///
    /// `endpoint` must not hold credentials (they would be printed); the
    /// built-in sinks pass a redacted form.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{ErrorKind, TelemetryError};
    ///
    /// let err = TelemetryError::delivery("https://collector.example/v1/logs", Some(400), "bad request");
    /// assert_eq!(err.kind(), ErrorKind::Delivery);
    /// assert_eq!(err.status(), Some(400));
    /// assert_eq!(err.endpoint(), Some("https://collector.example/v1/logs"));
    /// ```
    #[must_use]
    pub fn delivery(endpoint: impl Into<String>, status: Option<u16>, reason: &str) -> Self {
        Self::delivered_or(endpoint.into(), status, reason, "were not delivered")
    }

    /// A delivery error that says what became of the events (`fate`, e.g.
    /// "stay in the spool and are sent by a later run").
    pub(crate) fn delivered_or(
        endpoint: String,
        status: Option<u16>,
        reason: &str,
        fate: &str,
    ) -> Self {
        let help = match status {
            Some(400..=499) => {
                "the collector refused the events; check the endpoint URL and the API key or \
                 headers the tool was configured with"
            }
            _ => {
                "the collector could not be reached or failed; check the endpoint and the \
                 network, or turn telemetry off. The tool itself is not affected"
            }
        };
        let mut err = Self::new(
            ErrorKind::Delivery,
            format!("telemetry delivery to `{endpoint}` failed: {reason}; the events {fate}"),
            help,
        );
        err.inner.endpoint = Some(endpoint);
        err.inner.status = status;
        err
    }

    /// Configuration that cannot work: what is wrong, and what to do.
    pub(crate) fn config(message: impl Into<String>, help: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            ErrorKind::Config,
            format!("telemetry configuration rejected: {}", message.into()),
            help,
        )
    }

    /// The consent file at `path` could not be used: `problem` says how.
    pub(crate) fn consent(
        path: &Path,
        problem: impl fmt::Display,
        help: impl Into<Cow<'static, str>>,
    ) -> Self {
        let mut err = Self::new(
            ErrorKind::Consent,
            format!("telemetry consent file `{}`: {problem}", path.display()),
            help,
        );
        err.inner.path = Some(path.to_path_buf());
        err
    }

    /// The consent file (or its lock) at `path` could not be `action`ed.
    pub(crate) fn consent_io(action: &str, path: &Path, source: io::Error) -> Self {
        let help = match (action, source.kind()) {
            (_, io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem) => {
                "the configuration directory is not writable by this user; fix its permissions, \
                 or set DO_NOT_TRACK=1 to turn telemetry off without a file"
            }
            ("read", _) => {
                "the consent file must be a regular file of at most 64 KiB; telemetry stays off \
                 while it cannot be read, and the tool itself is not affected"
            }
            _ => {
                "the decision could not be saved: the consent path must be a writable file, not \
                 a directory; or set DO_NOT_TRACK=1 to keep telemetry off without a file"
            }
        };
        Self::consent(path, format_args!("could not {action} it"), help).with_source(source)
    }

    /// Waiting for `what` took longer than `deadline`; `fate` says what
    /// became of the events.
    pub(crate) fn timeout(what: &str, deadline: Duration, fate: &str) -> Self {
        Self::new(
            ErrorKind::Timeout,
            format!(
                "{what} did not finish within {} ms; the events {fate}",
                deadline.as_millis()
            ),
            "the collector is slow or unreachable; the tool itself is not affected. Raise the \
             deadline if the network is known to be slow",
        )
    }

    /// A thread or process for `what` could not be started, or stopped.
    pub(crate) fn thread(what: &str, source: Option<io::Error>) -> Self {
        let err = Self::new(
            ErrorKind::Thread,
            format!("telemetry could not {what}"),
            "the system refused a thread or process (short of resources, or the tool's \
             executable is gone); telemetry is skipped or delayed, and the tool itself is not \
             affected",
        );
        match source {
            Some(source) => err.with_source(source),
            None => err,
        }
    }

    /// A sink panicked in `call` (`emit` or `flush`): a bug in the sink.
    pub(crate) fn sink_panicked(call: &str) -> Self {
        Self::new(
            ErrorKind::Thread,
            format!("the telemetry sink panicked in `{call}` on the delivery thread"),
            "the sink has a bug; report it to its author. The delivery thread goes on with the \
             next event, and the tool itself is not affected",
        )
    }

    /// The delivery thread is gone and cannot answer.
    pub(crate) fn thread_stopped(which: &str) -> Self {
        Self::new(
            ErrorKind::Thread,
            format!(
                "telemetry could not deliver events: its {which} thread has stopped, and the \
                 events queued for it were dropped"
            ),
            "this is a bug in rtb-telemetry (the thread should never stop while in use); \
             please report it. The tool itself is not affected",
        )
    }

    /// The message and its causes on one line (`what: why: why`), for a
    /// status line or a log.
    pub(crate) fn one_line(&self) -> String {
        let mut line = self.to_string();
        let mut cause = StdError::source(self);
        while let Some(c) = cause {
            line.push_str(": ");
            line.push_str(&c.to_string());
            cause = c.source();
        }
        line
    }

    /// Events dropped because a queue was full: what came in faster than
    /// the sink could take it.
    pub(crate) fn dropped(count: u64, queue: &str, help: &'static str) -> Self {
        Self::new(
            ErrorKind::Delivery,
            format!("{count} telemetry events were dropped because {queue} was full"),
            help,
        )
    }

    /// The same error, its message saying it happened `count` times (the
    /// last is this one); kind, path and status are kept.
    pub(crate) fn repeated(mut self, count: u64) -> Self {
        if count > 1 {
            self.inner.message = format!(
                "{count} deliveries failed since the last flush; the last: {}",
                self.inner.message
            );
        }
        self
    }

    /// The same error, with `more` said after it.
    pub(crate) fn and_also(mut self, more: &str) -> Self {
        self.inner.message.push_str("; also ");
        self.inner.message.push_str(more);
        self
    }

    /// What kind of thing failed.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The file involved, if any.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The collector's endpoint, without credentials, if a delivery failed.
    #[must_use]
    pub fn endpoint(&self) -> Option<&str> {
        self.inner.endpoint.as_deref()
    }

    /// The collector's HTTP status, if it answered.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// The operating system's error kind, if an I/O error caused this.
    #[must_use]
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        let source = self.inner.source.as_deref()?;
        source.downcast_ref::<io::Error>().map(io::Error::kind)
    }
}

fn io_help(kind: io::ErrorKind) -> &'static str {
    use io::ErrorKind as K;
    match kind {
        K::ReadOnlyFilesystem => {
            "the file system holding the telemetry path is mounted read-only; choose a path on \
             a writable disk"
        }
        K::PermissionDenied => {
            "the telemetry file or its directory is not writable by this user; choose a path \
             the tool may write to, or fix its permissions"
        }
        K::NotFound => {
            "a directory on the telemetry path does not exist and could not be created; check \
             the path the tool was configured with"
        }
        K::NotADirectory => {
            "a part of the telemetry path that must be a directory is a regular file; choose \
             another path or move that file away"
        }
        K::IsADirectory => {
            "the telemetry path names a directory; give the sink a file path such as \
             `<dir>/events.jsonl`"
        }
        K::StorageFull | K::QuotaExceeded => {
            "the disk (or your quota) is full; free some space. Events recorded before this \
             one are intact"
        }
        K::InvalidInput => {
            "the telemetry path is not a regular file (a symlink, FIFO, socket or device was \
             found there); remove it or choose another path"
        }
        _ => {
            "check that the telemetry path is a writable file on a local disk; telemetry \
             errors never affect the tool itself"
        }
    }
}

/// The spec's `Io(#[from] std::io::Error)`: `?` on an I/O error in a sink.
impl From<io::Error> for TelemetryError {
    fn from(source: io::Error) -> Self {
        Self::new(
            ErrorKind::Io,
            "telemetry I/O error in a sink".to_owned(),
            io_help(source.kind()),
        )
        .with_source(source)
    }
}

impl fmt::Display for TelemetryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl fmt::Debug for TelemetryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("TelemetryError");
        out.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(path) = &self.inner.path {
            out.field("path", path);
        }
        if let Some(endpoint) = &self.inner.endpoint {
            out.field("endpoint", endpoint);
        }
        if let Some(status) = self.inner.status {
            out.field("status", &status);
        }
        if let Some(source) = &self.inner.source {
            out.field("source", source);
        }
        out.finish()
    }
}

impl StdError for TelemetryError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

impl Diagnostic for TelemetryError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.inner.kind.code()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&*self.inner.help))
    }
}

// One word: what keeps a disabled `record` free (docs/zero-cost.md).
const _: () = assert!(size_of::<Result<(), TelemetryError>>() == size_of::<usize>());

#[cfg(test)]
mod tests {
    use super::ErrorKind;

    /// Every kind, by an exhaustive match: adding one fails to compile here
    /// until the list (and `tests/integration/docs.rs`'s codes) grow too.
    fn all() -> [ErrorKind; 7] {
        let kinds = [
            ErrorKind::Io,
            ErrorKind::Serde,
            ErrorKind::Consent,
            ErrorKind::Config,
            ErrorKind::Delivery,
            ErrorKind::Timeout,
            ErrorKind::Thread,
        ];
        for kind in kinds {
            match kind {
                ErrorKind::Io
                | ErrorKind::Serde
                | ErrorKind::Consent
                | ErrorKind::Config
                | ErrorKind::Delivery
                | ErrorKind::Timeout
                | ErrorKind::Thread => {}
            }
        }
        kinds
    }

    #[test]
    fn each_kind_has_its_own_code() {
        let codes: std::collections::HashSet<_> = all().iter().map(|k| k.code()).collect();
        assert_eq!(codes.len(), all().len());
        for kind in all() {
            assert!(kind.code().starts_with("rtb::telemetry::"));
        }
    }
}
