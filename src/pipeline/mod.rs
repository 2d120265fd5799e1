//! The pipeline, stage by stage: **record → spool → upload → export**.
//!
//! A command records an event; with a collector, the event is appended to
//! the spool on local disk and the command goes on; when an upload is due,
//! the run starts the tool again as a detached uploader, which takes what
//! the spool holds and exports it in batches. Without a collector, events
//! go to a local file and stop there.
//!
//! - `plan.rs`: what this run does, resolved once in `init()`;
//! - `destination.rs`: where events go — a collector, or the local file;
//! - `layout.rs`: the data directory's files, named in one place;
//! - `local_file.rs`: the local file (no collector);
//! - `spool/`: a run's side — appending, the schedule, the age bound;
//! - `upload/`: the uploader — the detached process, and the algorithm;
//! - `export/`: one batch, encoded (JSON, OTLP) and sent over HTTP;
//! - `worker/`: the one queue and thread (`Background`, `HttpSink`,
//!   `OtlpSink`), and the timer behind every deadline.
//!
//! The delivery stages (`spool/`, `upload/`, `export/`) exist only with
//! the `upload` feature; `destination.rs` has a twin without it.

pub(crate) mod destination;
#[cfg(feature = "upload")]
pub(crate) mod export;
pub(crate) mod layout;
pub(crate) mod local_file;
pub(crate) mod plan;
#[cfg(feature = "upload")]
pub(crate) mod spool;
#[cfg(feature = "upload")]
pub(crate) mod upload;
pub(crate) mod worker;

/// What became of a panic hook's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FromHook {
    /// Written; `due`: to the spool, an upload is due, and this write
    /// claimed it.
    Written { due: bool },
    /// A lock was busy until the deadline: another try may write them.
    Busy,
    /// Not written, and never will be (telemetry turned off, the spool
    /// full or gone, a write that failed).
    Dropped,
}
