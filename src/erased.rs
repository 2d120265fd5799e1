//! The dyn-compatible twin of [`TelemetrySink`](crate::TelemetrySink), for
//! sinks chosen at run time.
//!
//! [`crate::TelemetrySink`] returns `impl Future`, so it cannot be a trait
//! object. [`erased::TelemetrySink`](TelemetrySink) is the same two methods
//! through `#[async_trait]`, which boxes each returned future. Every static
//! sink implements it by a blanket impl, and code written for the seed's
//! `#[async_trait] trait TelemetrySink` implements it directly; and
//! `Arc<dyn erased::TelemetrySink>` (or `Box<dyn …>`) is a static sink again,
//! so it plugs straight into [`crate::TelemetryContext`]. The builder turns
//! `.sink(Arc::new(sink))` into exactly that.
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

use std::sync::Arc;

use crate::context::{Active, TelemetryContextBuilder};
use crate::{NoopSink, Policy, RuntimePolicy};

pub use crate::sink::dynamic::TelemetrySink;

/// The seed's context shape: a dyn sink and a run-time policy.
///
/// Build it with `erased::TelemetryContext::builder()` (the same builder as
/// [`crate::TelemetryContext::builder`]) and `.sink(Arc::new(sink))`, or turn
/// any context into one with
/// [`into_erased`](crate::TelemetryContext::into_erased).
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

// `builder()` lives on one concrete type so that `TelemetryContext::builder()`
// infers it (as `HashMap::new()` does). It is the erased spelling so that
// `erased::TelemetryContext::builder()` works too: they are the same type.
// It is here, not in `context`, so that `context` never names `erased`.
impl TelemetryContext {
    /// Starts building a context. Works from every spelling of the type:
    /// `TelemetryContext::builder()` and `erased::TelemetryContext::builder()`.
    ///
    /// The sink and the policy are chosen on the builder; a missing tool name,
    /// tool version or (where an id may be derived) salt is a compile error.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{Enabled, NoopSink, TelemetryContext};
    ///
    /// let ctx: TelemetryContext<NoopSink, Enabled> = TelemetryContext::builder()
    ///     .tool("mytool")
    ///     .tool_version("1.0.0")
    ///     .salt("mytool-telemetry-v1")
    ///     .enabled();
    /// assert_eq!(ctx.machine_id().len(), 64);
    /// ```
    ///
    /// Forgetting the salt of an enabled context does not compile:
    ///
    /// ```compile_fail,E0277
    /// use rtb_telemetry::TelemetryContext;
    ///
    /// let ctx = TelemetryContext::builder().tool("mytool").tool_version("1.0.0").enabled();
    /// ```
    ///
    /// Nor does forgetting the tool name:
    ///
    /// ```compile_fail,E0277
    /// use rtb_telemetry::TelemetryContext;
    ///
    /// let ctx = TelemetryContext::builder().tool_version("1.0.0").disabled();
    /// ```
    ///
    /// Nor the version:
    ///
    /// ```compile_fail,E0277
    /// use rtb_telemetry::{CollectionPolicy, TelemetryContext};
    ///
    /// let ctx = TelemetryContext::builder()
    ///     .tool("mytool")
    ///     .salt("s")
    ///     .policy(CollectionPolicy::Enabled)
    ///     .build();
    /// ```
    ///
    /// Nor a run-time policy without a salt, since it may enable collection:
    ///
    /// ```compile_fail,E0277
    /// use rtb_telemetry::{CollectionPolicy, TelemetryContext};
    ///
    /// let ctx = TelemetryContext::builder()
    ///     .tool("mytool")
    ///     .tool_version("1.0.0")
    ///     .policy(CollectionPolicy::Enabled)
    ///     .build();
    /// ```
    pub fn builder() -> TelemetryContextBuilder<NoopSink> {
        TelemetryContextBuilder::new()
    }
}

/// Lets an erased context share a typed context's sink.
struct ActiveSink<S>(Arc<Active<S>>);

impl<S: crate::TelemetrySink> crate::TelemetrySink for ActiveSink<S> {
    fn emit(
        &self,
        event: &crate::Event,
    ) -> impl std::future::Future<Output = Result<(), crate::TelemetryError>> + Send {
        self.0.sink.emit(event)
    }

    fn flush(&self) -> impl std::future::Future<Output = Result<(), crate::TelemetryError>> + Send {
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
        let slot = self.active().map(|active| {
            let sink: Arc<dyn TelemetrySink> = Arc::new(ActiveSink(Arc::clone(active)));
            Arc::new(active.with_sink(sink))
        });
        crate::TelemetryContext::from_slot(slot)
    }
}
