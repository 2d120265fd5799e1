//! Sinks: where events go.
//!
//! A sink *emits* events that a [`TelemetryContext`](crate::TelemetryContext)
//! *records*. These ship with the crate: [`NoopSink`] (discards),
//! [`MemorySink`] (keeps them for tests), [`FileSink`] (appends JSON Lines),
//! [`DebugSink`] (prints them); and around them [`Background`](crate::Background) (a
//! queue and a thread), [`Redact`](crate::Redact) (scrubs) and, with the
//! `upload` feature, the remote sinks `HttpSink` and `OtlpSink`.

use crate::{Event, TelemetryError};
use std::future::Future;

pub(crate) mod debug;
pub(crate) mod dynamic;
mod file;
mod memory;
mod noop;

pub use debug::DebugSink;
pub use dynamic::IntoSink;
pub use file::FileSink;
pub use memory::MemorySink;
pub use noop::NoopSink;

/// Somewhere to send events.
///
/// This is the static trait: the context calls it through generics, so each
/// call is monomorphised and can be inlined; nothing is boxed. Implement it
/// with plain `async fn`s. `flush` has a default that does nothing.
///
/// The trait is not dyn-compatible; for a sink chosen at run time use
/// [`erased::TelemetrySink`](crate::erased::TelemetrySink), which every
/// `TelemetrySink` implements and whose `Arc<dyn …>`/`Box<dyn …>` are
/// sinks again. Code written for the seed's `#[async_trait]` trait
/// implements that one.
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use rtb_telemetry::{Event, TelemetryError, TelemetrySink};
///
/// /// Counts events instead of keeping them.
/// #[derive(Default)]
/// struct CountingSink(AtomicUsize);
///
/// impl TelemetrySink for CountingSink {
///     async fn emit(&self, _event: &Event) -> Result<(), TelemetryError> {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         Ok(())
///     }
/// }
///
/// # tokio_test_block_on(async {
/// let sink = CountingSink::default();
/// sink.emit(&Event::new("run", "mytool", "1.0.0", "00".repeat(32))).await?;
/// assert_eq!(sink.0.load(Ordering::Relaxed), 1);
/// # Ok::<(), TelemetryError>(()) }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a telemetry sink",
    label = "this does not implement `rtb_telemetry::TelemetrySink`",
    note = "implement `TelemetrySink` for it with an `async fn emit`, or pass an \
            `Arc<dyn rtb_telemetry::erased::TelemetrySink>`"
)]
pub trait TelemetrySink: Send + Sync {
    /// Sends one event.
    ///
    /// # Errors
    ///
    /// Whatever the sink could not do; the event is then not delivered.
    fn emit(&self, event: &Event) -> impl Future<Output = Result<(), TelemetryError>> + Send;

    /// Delivers whatever the sink has buffered. The default does nothing.
    ///
    /// # Errors
    ///
    /// Whatever the sink could not deliver.
    fn flush(&self) -> impl Future<Output = Result<(), TelemetryError>> + Send {
        std::future::ready(Ok(()))
    }
}

/// Forwarding impls, so a borrowed or boxed sink is a sink too. (`Arc<dyn
/// erased::TelemetrySink>` is one as well; an `Arc` of a concrete sink is
/// turned into that by [`IntoSink`].)
macro_rules! forward_sink {
    ($($ptr:ty),+ $(,)?) => {$(
        impl<S: TelemetrySink + ?Sized> TelemetrySink for $ptr {
            #[inline]
            fn emit(
                &self,
                event: &Event,
            ) -> impl Future<Output = Result<(), TelemetryError>> + Send {
                (**self).emit(event)
            }

            #[inline]
            fn flush(&self) -> impl Future<Output = Result<(), TelemetryError>> + Send {
                (**self).flush()
            }
        }
    )+};
}

forward_sink!(&S, Box<S>);
