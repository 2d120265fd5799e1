//! The context: what a tool holds to record events, and its builder.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use crate::catalog::{Attrs, Catalog, CatalogEvent};
use crate::{
    Disabled, Enabled, Event, MachineId, NoopSink, Policy, RuntimePolicy, TelemetryError,
    TelemetrySink,
};

mod builder;
mod consented;

pub use builder::TelemetryContextBuilder;

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

/// The state of a context that collects. Assembled only by [`Active::new`].
pub(crate) struct Active<S> {
    pub(crate) tool: String,
    pub(crate) tool_version: String,
    pub(crate) machine_id: String,
    /// An event kept between calls so that recording reuses its buffers
    /// instead of allocating five strings each time.
    spare: Mutex<Option<Box<Spare>>>,
    /// The catalogue the first typed record put in the registry (another
    /// catalogue's records go to the registry, which keeps each once).
    registered: OnceLock<TypeId>,
    pub(crate) sink: S,
}

/// A reusable event, and the minute its timestamp's date prefix is for.
struct Spare {
    event: Event,
    minute: i64,
}

impl<S> Active<S> {
    pub(crate) fn new(tool: String, tool_version: String, machine_id: String, sink: S) -> Self {
        Self {
            tool,
            tool_version,
            machine_id,
            spare: Mutex::new(None),
            registered: OnceLock::new(),
            sink,
        }
    }

    /// Derives the machine id from `salt` and assembles the state.
    pub(crate) fn derive(tool: String, tool_version: String, salt: &str, sink: S) -> Self {
        Self::new(tool, tool_version, MachineId::derive(salt), sink)
    }

    /// The same metadata and id, with another sink.
    pub(crate) fn with_sink<T>(&self, sink: T) -> Active<T> {
        Active::new(
            self.tool.clone(),
            self.tool_version.clone(),
            self.machine_id.clone(),
            sink,
        )
    }

    /// The spare event filled in for `name`, stamped now.
    fn event(&self, name: &str, attrs: Option<HashMap<String, String>>) -> Box<Spare> {
        let mut spare = self.stamped(name);
        match attrs {
            Some(attrs) => spare.event.attrs = attrs,
            None => spare.event.attrs.clear(),
        }
        spare.event.catalog_version = None;
        spare
    }

    /// The spare event filled in for a declared event: `name` of catalogue
    /// `version`, its attrs put by `write`. Not generic: one copy of the
    /// code however many events a catalogue declares.
    fn declared_event(
        &self,
        name: &'static str,
        version: u32,
        write: &dyn Fn(&mut Attrs<'_>),
    ) -> Box<Spare> {
        let mut spare = self.stamped(name);
        // The last event's strings are reused where its keys come again
        // (the same event: every one); any other key it left makes the map
        // longer than what was written, and is cleared.
        let mut attrs = Attrs::new(&mut spare.event.attrs);
        write(&mut attrs);
        if !attrs.only_written() {
            spare.event.attrs.clear();
            write(&mut Attrs::new(&mut spare.event.attrs));
        }
        spare.event.catalog_version = Some(version);
        spare
    }

    /// The spare event with `name` and the time; attrs as the last left them.
    fn stamped(&self, name: &str) -> Box<Spare> {
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut spare = spare.unwrap_or_else(|| {
            Box::new(Spare {
                event: Event::with_attrs(
                    String::new(),
                    self.tool.clone(),
                    self.tool_version.clone(),
                    self.machine_id.clone(),
                    HashMap::new(),
                ),
                minute: i64::MIN,
            })
        });
        let event = &mut spare.event;
        event.name.clear();
        event.name.push_str(name);
        crate::timestamp::write_rfc3339(
            &mut event.timestamp_utc,
            SystemTime::now(),
            &mut spare.minute,
        );
        spare
    }

    fn give_back(&self, spare: Box<Spare>) {
        let mut slot = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(spare);
        }
    }
}

impl<S: TelemetrySink> Active<S> {
    fn record<'a>(
        &'a self,
        event_name: &'a str,
        attrs: Option<HashMap<String, String>>,
    ) -> impl Future<Output = Result<(), TelemetryError>> + Send + 'a {
        let spare = self.event(event_name, attrs);
        self.emit(spare)
    }

    fn record_typed<'a, E: CatalogEvent>(
        &'a self,
        event: &E,
    ) -> impl Future<Output = Result<(), TelemetryError>> + Send + use<'a, S, E> {
        let catalog = TypeId::of::<E::Catalog>();
        if self.registered.get() != Some(&catalog) {
            crate::catalog::registry::register::<E::Catalog>(&self.tool);
            let _ = self.registered.set(catalog);
        }
        self.record_declared(E::NAME, <E::Catalog as Catalog>::VERSION, &|attrs| {
            event.write_attrs(attrs);
        })
    }

    /// Records a declared event; the future is the same type for every
    /// event.
    fn record_declared<'a>(
        &'a self,
        name: &'static str,
        version: u32,
        write: &dyn Fn(&mut Attrs<'_>),
    ) -> impl Future<Output = Result<(), TelemetryError>> + Send + use<'a, S> {
        let spare = self.declared_event(name, version, write);
        self.emit(spare)
    }

    async fn emit(&self, spare: Box<Spare>) -> Result<(), TelemetryError> {
        let result = self.sink.emit(&spare.event).await;
        self.give_back(spare);
        result
    }
}

impl<S: TelemetrySink, P: Policy> TelemetryContext<S, P> {
    /// Records an event named `event_name`.
    ///
    /// With collection on, this builds one [`Event`] (stamped now) and emits
    /// it through the sink. With collection off it returns `Ok(())` at once:
    /// no event, no sink call, and for a [`Disabled`] context no code at all.
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
        P::call(&self.slot, move |active: &Arc<Active<S>>| {
            active.record(event_name, None)
        })
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
        P::call_with(&self.slot, attrs, move |active: &Arc<Active<S>>, attrs| {
            active.record(event_name, Some(attrs))
        })
    }

    /// Records a declared event (see [`catalog`](mod@crate::catalog)): its
    /// name, its attrs as the catalogue types them, and the catalogue's
    /// version. Values come from declared sets, so nothing is scrubbed.
    /// When collection is off, `event` is dropped unread, at no cost.
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
    /// rtb_telemetry::catalog! {
    ///     pub catalog Mytool: version 1;
    ///     pub event Build = "build" { release: bool }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let sink = MemorySink::new();
    /// let ctx = TelemetryContext::builder()
    ///     .tool("mytool").tool_version("1.0.0").salt("s")
    ///     .sink(sink.clone())
    ///     .enabled();
    /// ctx.record_event(Build { release: true }).await?;
    /// assert_eq!(sink.snapshot()[0].attrs["release"], "true");
    /// # Ok::<(), rtb_telemetry::TelemetryError>(()) }).unwrap();
    /// ```
    #[inline]
    pub fn record_event<E: CatalogEvent>(
        &self,
        event: E,
    ) -> impl Future<Output = Result<(), TelemetryError>> + Send + '_ {
        P::call_with(&self.slot, event, move |active: &Arc<Active<S>>, event| {
            active.record_typed(&event)
        })
    }

    /// [`record_event`](Self::record_event) without a type per event: the
    /// facade's, whose catalogue was registered when it was made.
    pub(crate) fn record_declared<'a>(
        &'a self,
        name: &'static str,
        version: u32,
        write: &'a dyn Fn(&mut Attrs<'_>),
    ) -> impl Future<Output = Result<(), TelemetryError>> + Send + 'a {
        P::call(&self.slot, move |active: &'a Arc<Active<S>>| {
            active.record_declared(name, version, write)
        })
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
        P::call(&self.slot, |active: &Arc<Active<S>>| active.sink.flush())
    }
}

impl<S, P: Policy> TelemetryContext<S, P> {
    pub(crate) fn from_slot(slot: P::Slot<Arc<Active<S>>>) -> Self {
        Self { slot }
    }

    #[inline]
    pub(crate) fn active(&self) -> Option<&Arc<Active<S>>> {
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
            // Host tools log their state with `{:?}`: a prefix is enough to
            // tell ids apart, and the full id stays out of their logs.
            Some(active) => out
                .field("collecting", &true)
                .field("tool", &active.tool)
                .field("tool_version", &active.tool_version)
                .field("machine_id", &ShortId(&active.machine_id)),
            None => out.field("collecting", &false),
        };
        out.finish_non_exhaustive()
    }
}

/// The first 8 characters of an id, then `…`.
struct ShortId<'a>(&'a str);

impl fmt::Debug for ShortId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self
            .0
            .char_indices()
            .nth(8)
            .map_or(self.0.len(), |(i, _)| i);
        write!(f, "\"{}…\"", &self.0[..end])
    }
}

// Disabled is structural: no state at all.
const _: () = assert!(size_of::<TelemetryContext<NoopSink, Disabled>>() == 0);
