//! Remote delivery: sinks that POST batches of events to a collector.
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

pub(crate) mod client;
mod endpoint;
pub(crate) mod exporter;
pub(crate) mod http;
#[cfg(feature = "otlp")]
pub(crate) mod otlp;
pub(crate) mod transport;

pub use http::{HttpSink, HttpSinkBuilder};
#[cfg(feature = "otlp")]
pub use otlp::{OtlpSink, OtlpSinkBuilder};
pub use transport::Retry;
