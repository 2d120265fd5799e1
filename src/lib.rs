#![doc = include_str!("../README.md")]
//!
//! # Where to look next
//!
//! - [`Telemetry`]: the one call a command-line tool makes.
//! - [`TelemetryContext`] and its [builder](TelemetryContext::builder): the
//!   typed async core.
//! - [`TelemetrySink`] and the built-in sinks, [`NoopSink`], [`MemorySink`],
//!   [`FileSink`] and [`DebugSink`].
//! - [`erased`]: the same with a sink chosen at run time.
//! - [`catalog`](mod@catalog) and [`catalog!`]: declaring, in types, every event a tool
//!   can send.
//! - [`consent`]: the user's decision, `DO_NOT_TRACK` and friends, the
//!   first-run notice, and the `telemetry` verbs.
//! - [`Background`], [`Redact`] and (feature `upload` and those that
//!   imply it) `remote`:
//!   delivery to collectors that never holds up the tool.
//! - [`Event`], [`MachineId`], [`TelemetryError`], [`Env`].
//!
//! The features are listed in the README's "Features", above.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod catalog;
pub mod consent;
mod context;
mod env;
pub mod erased;
mod error;
mod event;
mod fs;
mod machine;
mod panics;
mod pipeline;
mod policy;
pub mod redact;
#[cfg(feature = "upload")]
#[cfg_attr(docsrs, doc(cfg(feature = "upload")))]
pub mod remote;
pub mod report;
mod sink;
mod telemetry;
mod text;
mod timestamp;

pub use context::{TelemetryContext, TelemetryContextBuilder};
pub use env::Env;
pub use error::{ErrorKind, TelemetryError};
pub use event::Event;
pub use machine::MachineId;
#[cfg(feature = "upload")]
#[cfg_attr(docsrs, doc(cfg(feature = "upload")))]
pub use pipeline::upload::UploadReport;
pub use pipeline::worker::{Background, BackgroundBuilder};
pub use policy::{CollectionPolicy, Disabled, Enabled, Policy, RuntimePolicy};
pub use redact::sink::Redact;
pub use report::Reports;
pub use sink::{DebugSink, FileSink, IntoSink, MemorySink, NoopSink, TelemetrySink};
#[cfg(feature = "clap")]
#[cfg_attr(docsrs, doc(cfg(feature = "clap")))]
pub use telemetry::Parsed;
pub use telemetry::{Telemetry, TelemetryBuilder, Timed, TimedWith};
