//! The dyn-compatible twin of [`TelemetrySink`](crate::TelemetrySink),
//! published as [`erased::TelemetrySink`](crate::erased::TelemetrySink), and
//! [`IntoSink`], which lets `.sink(Arc::new(sink))` give the seed's shape.

use std::future::Future;
use std::sync::Arc;

use crate::{Event, TelemetryError};

/// A telemetry sink as a trait object: `Arc<dyn erased::TelemetrySink>`.
///
/// Every static [`crate::TelemetrySink`] implements it, and so can your own
/// type, written as the seed's §3.3 writes it, with `#[async_trait]` (`flush`
/// has a default that does nothing). See the [module docs](crate::erased)
/// for what the dyn path costs.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use rtb_telemetry::{erased, Event, TelemetryError};
///
/// struct Stdout;
///
/// #[async_trait::async_trait]
/// impl erased::TelemetrySink for Stdout {
///     async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
///         println!("{}", event.name);
///         Ok(())
///     }
/// }
///
/// let sink: Arc<dyn erased::TelemetrySink> = Arc::new(Stdout);
/// # let _ = sink;
/// ```
#[async_trait::async_trait]
pub trait TelemetrySink: Send + Sync {
    /// Sends one event; see [`crate::TelemetrySink::emit`].
    ///
    /// # Errors
    ///
    /// Whatever the sink could not do.
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError>;

    /// Delivers buffered events; see [`crate::TelemetrySink::flush`]. The
    /// default does nothing.
    ///
    /// # Errors
    ///
    /// Whatever the sink could not deliver.
    async fn flush(&self) -> Result<(), TelemetryError> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl<S: crate::TelemetrySink> TelemetrySink for S {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        crate::TelemetrySink::emit(self, event).await
    }

    async fn flush(&self) -> Result<(), TelemetryError> {
        crate::TelemetrySink::flush(self).await
    }
}

// With the forwarding impl for `Box<S>` (`S: ?Sized`) and the one for
// `Arc<dyn …>` below, these make `Arc<dyn erased::TelemetrySink>` and
// `Box<dyn …>` static sinks.
impl crate::TelemetrySink for dyn TelemetrySink + 'static {
    // `async fn` rather than returning the boxed future itself: that one's
    // lifetime is the intersection of two, which an opaque type cannot name.
    #[inline]
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        TelemetrySink::emit(self, event).await
    }

    #[inline]
    fn flush(&self) -> impl Future<Output = Result<(), TelemetryError>> + Send {
        TelemetrySink::flush(self)
    }
}

impl crate::TelemetrySink for Arc<dyn TelemetrySink> {
    #[inline]
    fn emit(&self, event: &Event) -> impl Future<Output = Result<(), TelemetryError>> + Send {
        crate::TelemetrySink::emit(&**self, event)
    }

    #[inline]
    fn flush(&self) -> impl Future<Output = Result<(), TelemetryError>> + Send {
        crate::TelemetrySink::flush(&**self)
    }
}

/// What [`.sink(..)`](crate::TelemetryContextBuilder::sink) accepts: any
/// [`TelemetrySink`](crate::TelemetrySink), kept as it is, or an `Arc` of
/// one, which becomes `Arc<dyn erased::TelemetrySink>`.
///
/// The `Arc` rule is what lets code written for the seed — whose builder
/// took `Arc<dyn TelemetrySink>` — compile unchanged: `.sink(Arc::new(s))`
/// builds a context that fits an
/// [`erased::TelemetryContext`](crate::erased::TelemetryContext) field. A
/// context already shares its sink between clones, so wrapping a sink in
/// an `Arc` for the static path gains nothing; pass it as it is.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use rtb_telemetry::{erased, IntoSink, MemorySink};
///
/// let same: MemorySink = MemorySink::new().into_sink();
/// let dynamic: Arc<dyn erased::TelemetrySink> = Arc::new(MemorySink::new()).into_sink();
/// # let _ = (same, dynamic);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a telemetry sink",
    label = "this does not implement `rtb_telemetry::TelemetrySink`",
    note = "implement `TelemetrySink` for it with an `async fn emit`, or \
            `erased::TelemetrySink` with `#[async_trait]` and pass it in an `Arc`"
)]
pub trait IntoSink {
    /// The sink the context holds.
    type Sink: crate::TelemetrySink;

    /// Converts `self`.
    fn into_sink(self) -> Self::Sink;
}

impl<S: crate::TelemetrySink> IntoSink for S {
    type Sink = S;

    #[inline]
    fn into_sink(self) -> S {
        self
    }
}

impl<T: TelemetrySink + 'static> IntoSink for Arc<T> {
    type Sink = Arc<dyn TelemetrySink>;

    #[inline]
    fn into_sink(self) -> Arc<dyn TelemetrySink> {
        self
    }
}
