//! Remote delivery: sinks that POST batches of events to a collector.
//!
//! Run them behind [`Background`](crate::Background) so that recording never
//! waits on the network and exit is bounded:
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

mod batch;
mod http;
#[cfg(feature = "otlp")]
mod otlp;
mod transport;

pub use http::{HttpSink, HttpSinkBuilder};
#[cfg(feature = "otlp")]
pub use otlp::{OtlpSink, OtlpSinkBuilder};
pub use transport::Retry;
