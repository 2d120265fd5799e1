//! The data directory's layout, named in one place (as Go's telemetry
//! keeps it in `internal/telemetry/dir.go`): everything the crate keeps
//! under a tool's data directory, and nothing else.
//!
//! ```text
//! <data dir>/                       (~/.local/share/<tool>/telemetry/ by default; 0700)
//!   events.jsonl                    the local file, when no collector is configured
//!   spool/                          events waiting for a collector
//!     events.jsonl                  appended by every run, one record per line, under spool.lock
//!     backlog.jsonl                 records the uploader took from events.jsonl, not yet in a batch
//!     <ms>-<n>.claimed.jsonl        events.jsonl as the uploader took it, until it joins the backlog
//!     <ms>-<n>.batch.jsonl          a sealed batch: sent (or about to be) as one request, one key
//!     next-<ms>                     empty; its name says when the next upload is due (Unix ms)
//!     state.json                    what the uploader last did, and counters
//!     launch-<token>                a one-time token for an uploader the crate started
//!     upload.pid                    the uploader at work (shown by `status`)
//!     {spool,writers,upload,state}.lock
//!   report/                         report mode: the week being built, and the last report
//!     counts.json                   this week's counts (and a past week's, until a run seals it)
//!     last.json                     the last report sealed: sent (or waiting), or not sampled
//!     counts.lock
//!   <name>.deleted-<uuid>           what a deletion moved aside (renamed away first, then removed)
//! ```

use std::path::{Path, PathBuf};

/// The local events file (no collector): `<data dir>/events.jsonl`.
pub(crate) const LOCAL_FILE: &str = "events.jsonl";
/// The spool directory: `<data dir>/spool`.
pub(crate) const SPOOL_DIR: &str = "spool";

/// The report directory (report mode): `<data dir>/report`.
pub(crate) const REPORT_DIR: &str = "report";

/// The report directory in `data_dir`.
pub(crate) fn report_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(REPORT_DIR)
}

/// The names inside the report directory.
pub(crate) mod report {
    /// The week being built.
    pub(crate) const COUNTS: &str = "counts.json";
    /// The last report sealed.
    pub(crate) const LAST: &str = "last.json";
    pub(crate) const LOCK: &str = "counts.lock";
}

/// The local events file in `data_dir`.
pub(crate) fn local_file(data_dir: &Path) -> PathBuf {
    data_dir.join(LOCAL_FILE)
}

/// The spool directory in `data_dir`.
pub(crate) fn spool_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(SPOOL_DIR)
}

/// The names inside the spool directory.
#[cfg(feature = "upload")]
pub(crate) mod spool {
    /// Appended by every run.
    pub(crate) const EVENTS: &str = "events.jsonl";
    /// Taken by the uploader, not yet in a batch.
    pub(crate) const BACKLOG: &str = "backlog.jsonl";
    /// A claimed `events.jsonl`: `<ms>-<n>.claimed.jsonl`.
    pub(crate) const CLAIMED: &str = ".claimed.jsonl";
    /// A sealed batch: `<ms>-<n>.batch.jsonl` (`<ms>-<n>.<strikes>.batch.jsonl`).
    pub(crate) const BATCH: &str = ".batch.jsonl";
    pub(crate) const STATE: &str = "state.json";
    pub(crate) const LAUNCH: &str = "launch-";
    pub(crate) const PID: &str = "upload.pid";
    /// The schedule: `next-<unix ms>`.
    pub(crate) const NEXT: &str = "next-";
    pub(crate) const SPOOL_LOCK: &str = "spool.lock";
    pub(crate) const WRITERS_LOCK: &str = "writers.lock";
    pub(crate) const UPLOAD_LOCK: &str = "upload.lock";
    pub(crate) const STATE_LOCK: &str = "state.lock";
    /// The names the crate keeps in the spool, each a regular file.
    pub(crate) const CONTROL: &[&str] = &[
        EVENTS,
        BACKLOG,
        STATE,
        PID,
        SPOOL_LOCK,
        WRITERS_LOCK,
        UPLOAD_LOCK,
        STATE_LOCK,
    ];
}
