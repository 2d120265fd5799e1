//! Remote delivery: sinks that POST batches of events to a collector.
//!
//! Both are non-blocking sinks: the network is touched only on a delivery
//! thread of their own. For a command-line tool, prefer
//! [`Telemetry`](crate::Telemetry): it spools events on local disk and
//! uploads them after the command, so no command ever waits on the
//! network. Behind [`Background`](crate::Background), recording never waits
//! and exit is bounded:
//!
//! ```no_run
//! use rtb_telemetry::{Background, remote::HttpSink};
//!
//! let sink = Background::new(HttpSink::builder("https://telemetry.example.com/v1/events")
//!     .header("x-api-key", "secret")
//!     .build()?)?;
//! # let _ = sink;
//! # Ok::<(), rtb_telemetry::TelemetryError>(())
//! ```

pub(crate) mod batch;
mod endpoint;
pub(crate) mod http;
#[cfg(feature = "otlp")]
pub(crate) mod otlp;
mod transport;

pub use http::{HttpSink, HttpSinkBuilder};
#[cfg(feature = "otlp")]
pub use otlp::{OtlpSink, OtlpSinkBuilder};
pub use transport::Retry;
