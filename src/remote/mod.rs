//! Remote delivery: sinks that POST batches of events to a collector, and
//! the one thing they ask of an HTTP client ([`HttpClient`]).
//!
//! Both are the crate's one delivery worker ([`Background`](crate::Background)'s
//! bounded queue and thread) over an exporter: recording only queues, the
//! network is touched only on the worker's thread, and exit is bounded. For
//! a command-line tool, prefer [`Telemetry`](crate::Telemetry): it spools
//! events on local disk and uploads them after the command, so no command
//! ever waits on the network.
//!
//! ```no_run
//! use rtb_telemetry::remote::HttpSink;
//!
//! let sink = HttpSink::builder("https://telemetry.example.com/v1/events")
//!     .header("x-api-key", "secret")
//!     .build()?;
//! # let _ = sink;
//! # Ok::<(), rtb_telemetry::TelemetryError>(())
//! ```

mod http;
#[cfg(feature = "otlp")]
mod otlp;

pub use crate::pipeline::export::client::{Answer, Body, ClientError, HttpClient, Post};
pub use crate::pipeline::export::retry::Retry;
pub use http::{HttpSink, HttpSinkBuilder};
#[cfg(feature = "otlp")]
#[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
pub use otlp::{OtlpSink, OtlpSinkBuilder};
