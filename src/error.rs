//! The crate's one error type.

use std::io;
use std::path::PathBuf;

use miette::Diagnostic;

/// Everything that can go wrong while recording or delivering an event.
///
/// Every variant says what failed and where, carries a stable
/// [miette](https://docs.rs/miette) code (`rtb::telemetry::…`) and a help
/// line that tells the user what to do. Telemetry errors are meant to be
/// logged or ignored by the host tool, never to stop it.
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
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// A sink could not read or write the file system.
    #[error("telemetry sink I/O error: could not {action} `{}`: {source}", path.display())]
    Io {
        /// What the sink was doing, e.g. `"open"`, `"create the directory of"`.
        action: &'static str,
        /// The path it was doing it to.
        path: PathBuf,
        /// The underlying operating-system error.
        #[source]
        source: io::Error,
    },
    /// An event could not be turned into its wire format.
    #[error("telemetry serialisation error for event `{event}`: {message}")]
    Serde {
        /// The name of the event that failed.
        event: String,
        /// What the serialiser reported.
        message: String,
    },
}

impl TelemetryError {
    /// Builds an [`TelemetryError::Io`] for a custom sink.
    ///
    /// `action` is a verb phrase that fits "could not {action} `{path}`".
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::TelemetryError;
    ///
    /// let err = TelemetryError::io("write", "out.jsonl", std::io::ErrorKind::StorageFull.into());
    /// assert!(err.to_string().starts_with("telemetry sink I/O error: could not write `out.jsonl`"));
    /// ```
    #[must_use]
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    fn io_help(source: &io::Error) -> &'static str {
        use io::ErrorKind as K;
        match source.kind() {
            K::PermissionDenied | K::ReadOnlyFilesystem => {
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
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let code = match self {
            Self::Io { .. } => "rtb::telemetry::io",
            Self::Serde { .. } => "rtb::telemetry::serde",
        };
        Some(Box::new(code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let help = match self {
            Self::Io { source, .. } => Self::io_help(source),
            Self::Serde { .. } => {
                "the event could not be encoded as JSON; this is a bug in the sink \
                 or in a custom attribute type, please report it"
            }
        };
        Some(Box::new(help))
    }
}
