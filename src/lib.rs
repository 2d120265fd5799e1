#![doc = include_str!("../README.md")]
//!
//! # Where to look next
//!
//! - [`TelemetryContext`] and its [builder](TelemetryContext::builder): the
//!   main surface.
//! - [`TelemetrySink`] and the three built-in sinks, [`NoopSink`],
//!   [`MemorySink`] and [`FileSink`].
//! - [`erased`]: the same with a sink chosen at run time.
//! - [`consent`]: the user's decision, `DO_NOT_TRACK` and friends, the
//!   first-run notice, and the `telemetry` verbs.
//! - [`Background`], [`Redact`] and (features `http`, `otlp`) `remote`:
//!   delivery to collectors that never holds up the tool.
//! - [`Event`], [`MachineId`], [`TelemetryError`].
//!
//! # Features
//!
//! | feature | adds |
//! |---|---|
//! | `clap` | `consent::TelemetryCommand` is a `clap::Subcommand` |
//! | `http` | `remote::HttpSink` (JSON over HTTP(S), rustls) |
//! | `otlp` | `remote::OtlpSink` (OTLP/HTTP logs); implies `http` |
#![forbid(unsafe_code)]

mod background;
pub mod builder;
pub mod consent;
mod context;
pub mod erased;
mod error;
mod event;
mod machine;
mod policy;
pub mod redact;
#[cfg(feature = "http")]
pub mod remote;
pub mod sink;

pub use background::{Background, BackgroundBuilder};
pub use builder::TelemetryContextBuilder;
pub use context::TelemetryContext;
pub use error::{ConfigError, DeliveryError, IoError, SerdeError, TelemetryError};
pub use event::Event;
pub use machine::MachineId;
pub use policy::{CollectionPolicy, Disabled, Enabled, Policy, RuntimePolicy};
pub use redact::Redact;
pub use sink::{DebugSink, FileSink, MemorySink, NoopSink, TelemetrySink, ToolSink};
