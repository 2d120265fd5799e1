//! The crate's one error type.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use miette::Diagnostic;

/// Everything that can go wrong while recording or delivering an event.
///
/// Every variant says what failed and where, carries a stable
/// [miette](https://docs.rs/miette) code (`rtb::telemetry::…`) and a help
/// line that tells the user what to do. Telemetry errors are meant to be
/// logged or ignored by the host tool, never to stop it.
///
/// The details sit behind a `Box`, so `Result<(), TelemetryError>` is two
/// words and dropping an `Ok` costs nothing: this is what lets a disabled
/// `record` compile to no instructions at all (see `docs/zero-cost.md`).
///
/// # Example
///
/// ```
/// use miette::Diagnostic;
/// use rtb_telemetry::TelemetryError;
///
/// let err = TelemetryError::io(
///     "open",
///     "/var/lib/mytool/events.jsonl",
///     std::io::Error::from(std::io::ErrorKind::PermissionDenied),
/// );
/// assert!(err.to_string().contains("/var/lib/mytool/events.jsonl"));
/// assert_eq!(err.code().unwrap().to_string(), "rtb::telemetry::io");
/// assert!(err.help().is_some());
/// if let TelemetryError::Io(io) = &err {
///     assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// A sink could not read or write the file system.
    #[error(transparent)]
    Io(Box<IoError>),
    /// An event could not be turned into its wire format.
    #[error(transparent)]
    Serde(Box<SerdeError>),
    /// Telemetry is set up in a way that cannot work, e.g. there is no home
    /// directory for the consent file.
    #[error(transparent)]
    Config(Box<ConfigError>),
    /// A remote collector did not accept a batch of events.
    #[error(transparent)]
    Delivery(Box<DeliveryError>),
}

/// The details of [`TelemetryError::Delivery`]: which endpoint, what
/// happened, and the HTTP status if there was one. Never holds a header.
///
/// # Example
///
/// ```
/// use rtb_telemetry::TelemetryError;
///
/// let err = TelemetryError::delivery("https://collector.example/v1/logs", Some(400), "bad request");
/// let TelemetryError::Delivery(d) = &err else { unreachable!() };
/// assert_eq!(d.status(), Some(400));
/// assert!(err.to_string().contains("collector.example"));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("telemetry delivery to `{endpoint}` failed: {reason}")]
pub struct DeliveryError {
    endpoint: String,
    status: Option<u16>,
    reason: String,
}

impl DeliveryError {
    /// The endpoint the batch was sent to.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::TelemetryError;
    /// let TelemetryError::Delivery(d) = TelemetryError::delivery("http://x", None, "refused") else { unreachable!() };
    /// assert_eq!(d.endpoint(), "http://x");
    /// ```
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The HTTP status of the last answer, if there was one.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::TelemetryError;
    /// let TelemetryError::Delivery(d) = TelemetryError::delivery("http://x", Some(503), "busy") else { unreachable!() };
    /// assert_eq!(d.status(), Some(503));
    /// ```
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        self.status
    }
}

/// The details of [`TelemetryError::Config`].
///
/// # Example
///
/// ```
/// use rtb_telemetry::TelemetryError;
///
/// let err = TelemetryError::config("no home directory", "set HOME");
/// assert_eq!(err.to_string(), "telemetry configuration error: no home directory");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("telemetry configuration error: {message}")]
pub struct ConfigError {
    message: String,
    help: &'static str,
}

/// The details of [`TelemetryError::Io`]: what the sink was doing, to which
/// path, and what the operating system said.
///
/// The message names the action and the path; the operating system's reason
/// is the error's [`source`](std::error::Error::source), which miette and
/// most error reporters print as the cause.
///
/// # Example
///
/// ```
/// use rtb_telemetry::TelemetryError;
///
/// let err = TelemetryError::io("write to", "out.jsonl", std::io::ErrorKind::StorageFull.into());
/// let TelemetryError::Io(io) = err else { unreachable!() };
/// assert_eq!(io.action(), "write to");
/// assert_eq!(io.path(), std::path::Path::new("out.jsonl"));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("telemetry sink I/O error: could not {action} `{}`", path.display())]
pub struct IoError {
    action: &'static str,
    path: PathBuf,
    source: io::Error,
}

impl IoError {
    /// What the sink was doing, e.g. `"open"` or `"write to"`.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::TelemetryError;
    /// let TelemetryError::Io(io) = TelemetryError::io("open", "x", std::io::ErrorKind::NotFound.into())
    /// else { unreachable!() };
    /// assert_eq!(io.action(), "open");
    /// ```
    #[must_use]
    pub fn action(&self) -> &'static str {
        self.action
    }

    /// The path it was doing it to.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::TelemetryError;
    /// let TelemetryError::Io(io) = TelemetryError::io("open", "x", std::io::ErrorKind::NotFound.into())
    /// else { unreachable!() };
    /// assert_eq!(io.path(), std::path::Path::new("x"));
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The kind of the operating-system error.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::TelemetryError;
    /// let TelemetryError::Io(io) = TelemetryError::io("open", "x", std::io::ErrorKind::NotFound.into())
    /// else { unreachable!() };
    /// assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    /// ```
    #[must_use]
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

/// The details of [`TelemetryError::Serde`]: which event, and what the
/// serialiser said.
///
/// # Example
///
/// ```
/// use rtb_telemetry::TelemetryError;
///
/// let TelemetryError::Serde(e) = TelemetryError::serde("build", "key must be a string")
/// else { unreachable!() };
/// assert_eq!(e.event(), "build");
/// assert_eq!(e.message(), "key must be a string");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("telemetry serialisation error for event `{event}`: {message}")]
pub struct SerdeError {
    event: String,
    message: String,
}

impl SerdeError {
    /// The name of the event that could not be serialised.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::TelemetryError;
    /// let TelemetryError::Serde(e) = TelemetryError::serde("build", "oops") else { unreachable!() };
    /// assert_eq!(e.event(), "build");
    /// ```
    #[must_use]
    pub fn event(&self) -> &str {
        &self.event
    }

    /// What the serialiser reported.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::TelemetryError;
    /// let TelemetryError::Serde(e) = TelemetryError::serde("build", "oops") else { unreachable!() };
    /// assert_eq!(e.message(), "oops");
    /// ```
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl TelemetryError {
    /// An I/O error, e.g. from a custom sink.
    ///
    /// `action` is a verb phrase that fits "could not {action} `{path}`".
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::TelemetryError;
    ///
    /// let err = TelemetryError::io("write to", "out.jsonl", std::io::ErrorKind::StorageFull.into());
    /// assert!(err.to_string().starts_with("telemetry sink I/O error: could not write to `out.jsonl`"));
    /// ```
    #[must_use]
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io(Box::new(IoError {
            action,
            path: path.into(),
            source,
        }))
    }

    /// A serialisation error for the event named `event`.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::TelemetryError;
    ///
    /// let err = TelemetryError::serde("build", "key must be a string");
    /// assert!(err.to_string().contains("`build`"));
    /// ```
    #[must_use]
    pub fn serde(event: impl Into<String>, message: impl fmt::Display) -> Self {
        Self::Serde(Box::new(SerdeError {
            event: event.into(),
            message: message.to_string(),
        }))
    }

    /// A configuration error: what is wrong, and what to do about it.
    ///
    /// # Example
    ///
    /// ```
    /// use miette::Diagnostic;
    /// use rtb_telemetry::TelemetryError;
    ///
    /// let err = TelemetryError::config("no home directory", "set HOME");
    /// assert_eq!(err.help().unwrap().to_string(), "set HOME");
    /// ```
    #[must_use]
    pub fn config(message: impl Into<String>, help: &'static str) -> Self {
        Self::Config(Box::new(ConfigError {
            message: message.into(),
            help,
        }))
    }

    /// A delivery error for `endpoint`.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::TelemetryError;
    ///
    /// let err = TelemetryError::delivery("http://127.0.0.1:9/", None, "connection refused");
    /// assert!(err.to_string().ends_with("connection refused"));
    /// ```
    #[must_use]
    pub fn delivery(
        endpoint: impl Into<String>,
        status: Option<u16>,
        reason: impl Into<String>,
    ) -> Self {
        Self::Delivery(Box::new(DeliveryError {
            endpoint: endpoint.into(),
            status,
            reason: reason.into(),
        }))
    }

    fn io_help(kind: io::ErrorKind) -> &'static str {
        use io::ErrorKind as K;
        match kind {
            K::ReadOnlyFilesystem => {
                "the file system holding the telemetry path is mounted read-only; \
                 choose a path on a writable disk"
            }
            K::PermissionDenied => {
                "the telemetry file or its directory is not writable by this user; \
                 choose a path the tool may write to, or fix its permissions"
            }
            K::NotFound => {
                "a directory on the telemetry path does not exist and could not be \
                 created; check the path the tool was configured with"
            }
            K::NotADirectory => {
                "a part of the telemetry path that must be a directory is a regular \
                 file; choose another path or move that file away"
            }
            K::IsADirectory => {
                "the telemetry path names a directory; give the sink a file path \
                 such as `<dir>/events.jsonl`"
            }
            K::StorageFull | K::QuotaExceeded => {
                "the disk (or your quota) is full; free some space. Events recorded \
                 before this one are intact"
            }
            _ => {
                "check that the telemetry path is a writable file on a local disk; \
                 telemetry errors never affect the tool itself"
            }
        }
    }
}

impl Diagnostic for TelemetryError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let code = match self {
            Self::Io(_) => "rtb::telemetry::io",
            Self::Serde(_) => "rtb::telemetry::serde",
            Self::Config(_) => "rtb::telemetry::config",
            Self::Delivery(_) => "rtb::telemetry::delivery",
        };
        Some(Box::new(code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let help = match self {
            Self::Io(e) => Self::io_help(e.kind()),
            Self::Serde(_) => {
                "the event could not be encoded as JSON; this is a bug in the sink, \
                 please report it"
            }
            Self::Config(e) => e.help,
            Self::Delivery(e) => match e.status {
                Some(400..=499) => {
                    "the collector refused the events; check the endpoint URL and the API key \
                     or headers the tool was configured with"
                }
                _ => {
                    "the collector could not be reached or failed; the events of this batch \
                     were dropped. Check the endpoint, or turn telemetry off"
                }
            },
        };
        Some(Box::new(help))
    }
}
