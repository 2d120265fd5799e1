//! The dyn-compatible twin of [`TelemetrySink`](crate::TelemetrySink), for
//! sinks chosen at run time.
//!
//! [`crate::TelemetrySink`] returns `impl Future`, so it cannot be a trait
//! object. [`erased::TelemetrySink`](TelemetrySink) is the same two methods
//! through `#[async_trait]`, which boxes each returned future. It is sealed and
//! implemented for every static sink, so users never implement it by hand;
//! and `Arc<dyn erased::TelemetrySink>` (or `Box<dyn …>`) is a static sink
//! again, so it plugs straight into [`crate::TelemetryContext`].
//!
//! # What the bridge costs
//!
//! For a static sink `S`, the blanket impl expands to roughly:
//!
//! ```ignore
//! impl<S: crate::TelemetrySink> erased::TelemetrySink for S {
//!     fn emit<'a>(&'a self, event: &'a Event)
//!         -> Pin<Box<dyn Future<Output = Result<(), TelemetryError>> + Send + 'a>>
//!     {
//!         Box::pin(crate::TelemetrySink::emit(self, event)) // one allocation
//!     }
//!     // flush: the same
//! }
//! ```
//!
//! So the dyn path pays one heap allocation and one indirect call per event,
//! and the static path pays neither. Use the static form when the sink is known
//! at compile time; use this one when it is picked at run time (from a config
//! file, a flag) or must be stored without a type parameter.
//!
//! # Example
//!
//! Code written against the seed's API — a dyn sink and a run-time policy —
//! works through [`erased::TelemetryContext`](TelemetryContext):
//!
//! ```
//! use std::sync::Arc;
//! use rtb_telemetry::erased::{self, TelemetryContext};
//! use rtb_telemetry::{CollectionPolicy, FileSink, MemorySink};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let memory = MemorySink::new();
//! let to_file = false; // chosen at run time
//! let sink: Arc<dyn erased::TelemetrySink> = if to_file {
//!     Arc::new(FileSink::new("events.jsonl"))
//! } else {
//!     Arc::new(memory.clone())
//! };
//! let ctx: TelemetryContext = TelemetryContext::builder()
//!     .tool("mytool")
//!     .tool_version("1.0.0")
//!     .salt("mytool-telemetry-v1")
//!     .sink(sink)
//!     .policy(CollectionPolicy::Enabled)
//!     .build();
//! ctx.record("init").await?;
//! assert_eq!(memory.len(), 1);
//! # Ok::<(), rtb_telemetry::TelemetryError>(()) }).unwrap();
//! ```

use std::future::Future;
use std::sync::Arc;

use crate::context::Active;
use crate::{Event, Policy, RuntimePolicy, TelemetryError};

mod sealed {
    pub trait Sealed {}
    impl<S: crate::TelemetrySink> Sealed for S {}
}

/// A telemetry sink as a trait object: `Arc<dyn erased::TelemetrySink>`.
///
/// Sealed, and implemented for every [`crate::TelemetrySink`]; see the
/// [module docs](self) for what it costs.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use rtb_telemetry::{erased, NoopSink};
///
/// let sink: Arc<dyn erased::TelemetrySink> = Arc::new(NoopSink);
/// # let _ = sink;
/// ```
#[async_trait::async_trait]
pub trait TelemetrySink: sealed::Sealed + Send + Sync {
    /// Sends one event; see [`crate::TelemetrySink::emit`].
    ///
    /// # Errors
    ///
    /// Whatever the sink could not do.
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError>;

    /// Delivers buffered events; see [`crate::TelemetrySink::flush`].
    ///
    /// # Errors
    ///
    /// Whatever the sink could not deliver.
    async fn flush(&self) -> Result<(), TelemetryError>;
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

// With the forwarding impls for `Arc<S>` and `Box<S>` (`S: ?Sized`), this makes
// `Arc<dyn erased::TelemetrySink>` and `Box<dyn …>` static sinks.
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

/// The seed's context shape: a dyn sink and a run-time policy.
///
/// Build it with `erased::TelemetryContext::builder()` and a
/// `.sink(Arc<dyn erased::TelemetrySink>)`, or turn any context into one
/// with [`into_erased`](crate::TelemetryContext::into_erased).
///
/// # Example
///
/// ```
/// use rtb_telemetry::erased;
///
/// struct App {
///     telemetry: erased::TelemetryContext, // no type parameters to carry
/// }
/// let app = App {
///     telemetry: erased::TelemetryContext::builder()
///         .tool("mytool").tool_version("1.0.0")
///         .build()
///         .into_erased(),
/// };
/// assert!(!app.telemetry.is_enabled());
/// ```
pub type TelemetryContext = crate::TelemetryContext<Arc<dyn TelemetrySink>, RuntimePolicy>;

/// Lets an erased context share a typed context's sink.
struct Shared<S>(Arc<Active<S>>);

impl<S: crate::TelemetrySink> crate::TelemetrySink for Shared<S> {
    fn emit(&self, event: &Event) -> impl Future<Output = Result<(), TelemetryError>> + Send {
        self.0.sink.emit(event)
    }

    fn flush(&self) -> impl Future<Output = Result<(), TelemetryError>> + Send {
        self.0.sink.flush()
    }
}

impl<S: crate::TelemetrySink + 'static, P: Policy> crate::TelemetryContext<S, P> {
    /// Turns this context into an [`erased::TelemetryContext`](TelemetryContext),
    /// for storing it without type parameters. The result collects exactly
    /// when `self` does, with the same id, and shares the same sink.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{erased, MemorySink, TelemetryContext};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let sink = MemorySink::new();
    /// let ctx: erased::TelemetryContext = TelemetryContext::builder()
    ///     .tool("mytool").tool_version("1.0.0").salt("s")
    ///     .sink(sink.clone())
    ///     .enabled()
    ///     .into_erased();
    /// ctx.record("init").await?;
    /// assert_eq!(sink.len(), 1);
    /// # Ok::<(), rtb_telemetry::TelemetryError>(()) }).unwrap();
    /// ```
    #[must_use]
    pub fn into_erased(self) -> TelemetryContext {
        let slot = self.active_shared().map(|active| {
            let sink: Arc<dyn TelemetrySink> = Arc::new(Shared(Arc::clone(active)));
            Arc::new(Active {
                tool: active.tool.clone(),
                tool_version: active.tool_version.clone(),
                machine_id: active.machine_id.clone(),
                sink,
            })
        });
        crate::TelemetryContext::from_slot(slot)
    }
}
