//! The context: what a tool holds to record events.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::builder::{TelemetryContextBuilder, Unset};
use crate::{
    Disabled, Enabled, Event, NoopSink, Policy, RuntimePolicy, TelemetryError, TelemetrySink,
};

/// What a tool holds to record telemetry events: its name and version, the
/// salted machine id, a sink `S`, and a collection policy `P`.
///
/// The policy is a type (see [`Policy`]):
///
/// | `P` | decided | holds | `record` costs |
/// |---|---|---|---|
/// | [`Enabled`] | at compile time | metadata, id, sink | building one event + the sink's `emit` |
/// | [`Disabled`] | at compile time | nothing (zero-sized) | nothing: it compiles away |
/// | [`RuntimePolicy`] | from a [`CollectionPolicy`](crate::CollectionPolicy) at run time | `Some` of the above when enabled | one branch, then as `Enabled` |
///
/// Contexts are made with [`TelemetryContext::builder`]. Clones are cheap
/// (at most one reference-count increment) and share the sink.
///
/// # Example
///
/// ```
/// use rtb_telemetry::{CollectionPolicy, MemorySink, TelemetryContext};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let sink = MemorySink::new();
/// let user_said_yes = CollectionPolicy::Enabled; // from the user's consent
/// let ctx = TelemetryContext::builder()
///     .tool("mytool")
///     .tool_version(env!("CARGO_PKG_VERSION"))
///     .salt("mytool-telemetry-v1")
///     .sink(sink.clone())
///     .policy(user_said_yes)
///     .build();
///
/// ctx.record("init").await?;
/// ctx.record_with_attrs("build", [("outcome".into(), "ok".into())].into()).await?;
/// ctx.flush().await?;
/// assert_eq!(sink.len(), 2);
/// # Ok::<(), rtb_telemetry::TelemetryError>(()) }).unwrap();
/// ```
///
/// A disabled context has no machine id to give:
///
/// ```compile_fail,E0599
/// use rtb_telemetry::TelemetryContext;
///
/// let ctx = TelemetryContext::builder().tool("mytool").tool_version("1.0.0").disabled();
/// let _ = ctx.machine_id(); // error: no method `machine_id` on `TelemetryContext<_, Disabled>`
/// ```
pub struct TelemetryContext<S, P: Policy = RuntimePolicy> {
    slot: P::Slot<Arc<Active<S>>>,
}

/// The state of a context that collects.
pub(crate) struct Active<S> {
    pub(crate) tool: String,
    pub(crate) tool_version: String,
    pub(crate) machine_id: String,
    pub(crate) sink: S,
}

impl<S: TelemetrySink> Active<S> {
    fn record(
        &self,
        event_name: &str,
        attrs: HashMap<String, String>,
    ) -> impl Future<Output = Result<(), TelemetryError>> + Send + '_ {
        let event = Event::with_attrs(
            event_name.to_owned(),
            self.tool.clone(),
            self.tool_version.clone(),
            self.machine_id.clone(),
            attrs,
        );
        async move { self.sink.emit(&event).await }
    }
}

// `builder()` lives on one concrete type so that `TelemetryContext::builder()`
// infers it (as `HashMap::new()` does), and on the erased spelling so that
// `erased::TelemetryContext::builder()` works too: they are the same type.
impl TelemetryContext<Arc<dyn crate::erased::TelemetrySink>, RuntimePolicy> {
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
    pub fn builder() -> TelemetryContextBuilder<NoopSink, Unset, Unset, Unset, Unset> {
        TelemetryContextBuilder::new()
    }
}

impl<S: TelemetrySink, P: Policy> TelemetryContext<S, P> {
    /// Records an event named `event_name`.
    ///
    /// With collection on, this builds one [`Event`] (stamped now) and emits
    /// it through the sink. With collection off it returns `Ok(())` at once:
    /// no event, no sink call.
    ///
    /// # Errors
    ///
    /// Whatever the sink's `emit` returns.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{MemorySink, TelemetryContext};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let sink = MemorySink::new();
    /// let ctx = TelemetryContext::builder()
    ///     .tool("mytool").tool_version("1.0.0").salt("s")
    ///     .sink(sink.clone())
    ///     .enabled();
    /// ctx.record("init").await?;
    /// assert_eq!(sink.snapshot()[0].name, "init");
    /// # Ok::<(), rtb_telemetry::TelemetryError>(()) }).unwrap();
    /// ```
    #[inline]
    pub fn record<'a>(
        &'a self,
        event_name: &'a str,
    ) -> impl Future<Output = Result<(), TelemetryError>> + Send + 'a {
        let active = self.active();
        async move {
            match active {
                Some(active) => active.record(event_name, HashMap::new()).await,
                None => Ok(()),
            }
        }
    }

    /// Records an event named `event_name` carrying `attrs`.
    ///
    /// The caller is responsible for passing only values that identify no
    /// one: no paths, no arguments, no user names. When collection is off,
    /// `attrs` is dropped unread.
    ///
    /// # Errors
    ///
    /// Whatever the sink's `emit` returns.
    ///
    /// # Example
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use rtb_telemetry::{MemorySink, TelemetryContext};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let sink = MemorySink::new();
    /// let ctx = TelemetryContext::builder()
    ///     .tool("mytool").tool_version("1.0.0").salt("s")
    ///     .sink(sink.clone())
    ///     .enabled();
    /// let attrs = HashMap::from([("outcome".to_string(), "ok".to_string())]);
    /// ctx.record_with_attrs("build", attrs).await?;
    /// assert_eq!(sink.snapshot()[0].attrs["outcome"], "ok");
    /// # Ok::<(), rtb_telemetry::TelemetryError>(()) }).unwrap();
    /// ```
    #[inline]
    pub fn record_with_attrs<'a>(
        &'a self,
        event_name: &'a str,
        attrs: HashMap<String, String>,
    ) -> impl Future<Output = Result<(), TelemetryError>> + Send + 'a {
        let active = self.active();
        async move {
            match active {
                Some(active) => active.record(event_name, attrs).await,
                None => Ok(()),
            }
        }
    }

    /// Asks the sink to deliver whatever it has buffered. Does nothing when
    /// collection is off.
    ///
    /// # Errors
    ///
    /// Whatever the sink's `flush` returns.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::TelemetryContext;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let ctx = TelemetryContext::builder().tool("mytool").tool_version("1.0.0").disabled();
    /// ctx.flush().await?;
    /// # Ok::<(), rtb_telemetry::TelemetryError>(()) }).unwrap();
    /// ```
    #[inline]
    pub fn flush(&self) -> impl Future<Output = Result<(), TelemetryError>> + Send + '_ {
        let active = self.active();
        async move {
            match active {
                Some(active) => active.sink.flush().await,
                None => Ok(()),
            }
        }
    }
}

impl<S, P: Policy> TelemetryContext<S, P> {
    pub(crate) fn from_slot(slot: P::Slot<Arc<Active<S>>>) -> Self {
        Self { slot }
    }

    #[inline]
    pub(crate) fn active(&self) -> Option<&Active<S>> {
        P::active(&self.slot).map(|active| &**active)
    }

    #[inline]
    pub(crate) fn active_shared(&self) -> Option<&Arc<Active<S>>> {
        P::active(&self.slot)
    }

    /// `true` when this context collects events.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{CollectionPolicy, TelemetryContext};
    ///
    /// let ctx = TelemetryContext::builder()
    ///     .tool("mytool").tool_version("1.0.0").salt("s")
    ///     .policy(CollectionPolicy::Disabled)
    ///     .build();
    /// assert!(!ctx.is_enabled());
    /// ```
    #[must_use]
    #[inline]
    pub fn is_enabled(&self) -> bool {
        self.active().is_some()
    }
}

impl<S> TelemetryContext<S, Enabled> {
    /// The salted machine id this context stamps on events: 64 lowercase hex
    /// characters. Only an [`Enabled`] context has one.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{MachineId, TelemetryContext};
    ///
    /// let ctx = TelemetryContext::builder()
    ///     .tool("mytool").tool_version("1.0.0").salt("mytool-v1")
    ///     .enabled();
    /// assert_eq!(ctx.machine_id(), MachineId::derive("mytool-v1"));
    /// ```
    #[must_use]
    pub fn machine_id(&self) -> &str {
        &self.slot.machine_id
    }
}

impl<S, P: Policy> Clone for TelemetryContext<S, P> {
    fn clone(&self) -> Self {
        Self {
            slot: self.slot.clone(),
        }
    }
}

/// A disabled context is nothing at all, so it is `Copy` whatever the sink.
impl<S> Copy for TelemetryContext<S, Disabled> {}

impl<S, P: Policy> fmt::Debug for TelemetryContext<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("TelemetryContext");
        out.field("policy", &P::NAME);
        match self.active() {
            Some(active) => out
                .field("collecting", &true)
                .field("tool", &active.tool)
                .field("tool_version", &active.tool_version)
                .field("machine_id", &active.machine_id),
            None => out.field("collecting", &false),
        };
        out.finish_non_exhaustive()
    }
}

// Disabled is structural: no state at all.
const _: () = assert!(size_of::<TelemetryContext<NoopSink, Disabled>>() == 0);
