//! Collection policies: who decided whether events are collected, and when.

use std::future::{Future, Ready, ready};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::TelemetryError;

/// What every telemetry call resolves to.
type Outcome = Result<(), TelemetryError>;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Enabled {}
    impl Sealed for super::Disabled {}
    impl Sealed for super::RuntimePolicy {}
}

/// Whether a [`TelemetryContext`](crate::TelemetryContext) collects, as a
/// type: [`Enabled`], [`Disabled`] or [`RuntimePolicy`]. Sealed.
///
/// The policy decides what the context stores. An `Enabled` context always
/// holds its tool metadata, machine id and sink; a `Disabled` one holds
/// nothing at all (it is zero-sized); a `RuntimePolicy` one holds them only
/// when the run-time [`CollectionPolicy`] said `Enabled`.
///
/// # Example
///
/// Code generic over the policy works with all three:
///
/// ```
/// use rtb_telemetry::{NoopSink, Policy, TelemetryContext};
///
/// fn describe<P: Policy>(ctx: &TelemetryContext<NoopSink, P>) -> &'static str {
///     if ctx.is_enabled() { "collecting" } else { "off" }
/// }
///
/// let off = TelemetryContext::builder().tool("mytool").tool_version("1.0.0").disabled();
/// assert_eq!(describe(&off), "off");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a telemetry policy",
    note = "the policies are `Enabled`, `Disabled` and `RuntimePolicy`"
)]
pub trait Policy: sealed::Sealed + Copy + Send + Sync + 'static {
    /// How this policy stores the context's state `T`.
    #[doc(hidden)]
    type Slot<T: Clone>: Clone;

    /// The future a call returns, given the future `F` of the collecting
    /// path. The policy chooses it, so a `Disabled` call is a plain
    /// [`Ready`] that inlines into the caller's state machine.
    #[doc(hidden)]
    type Call<F: Future<Output = Outcome> + Send>: Future<Output = Outcome> + Send;

    /// A short name for `Debug` output.
    #[doc(hidden)]
    const NAME: &'static str;

    /// The state, when this policy collects.
    #[doc(hidden)]
    fn active<T: Clone>(slot: &Self::Slot<T>) -> Option<&T>;

    /// Runs `collect` on the state when this policy collects; otherwise
    /// never calls it and returns `Ok(())` at once.
    #[doc(hidden)]
    fn call<'a, T, F, G>(slot: &'a Self::Slot<T>, collect: G) -> Self::Call<F>
    where
        T: Clone + 'a,
        F: Future<Output = Outcome> + Send,
        G: FnOnce(&'a T) -> F;

    /// [`call`](Self::call) with an argument that is handed to `collect`,
    /// or dropped where it lies when the policy does not collect (no copy
    /// into a closure first).
    #[doc(hidden)]
    #[inline]
    fn call_with<'a, T, A, F, G>(slot: &'a Self::Slot<T>, arg: A, collect: G) -> Self::Call<F>
    where
        T: Clone + 'a,
        F: Future<Output = Outcome> + Send,
        G: FnOnce(&'a T, A) -> F,
    {
        Self::call(slot, move |state| collect(state, arg))
    }
}

/// (type state) Collection decided on at compile time: always on.
///
/// The context derives the machine id when it is built and every `record`
/// emits an event.
///
/// # Example
///
/// ```
/// use rtb_telemetry::{Enabled, NoopSink, TelemetryContext};
///
/// let ctx: TelemetryContext<NoopSink, Enabled> = TelemetryContext::builder()
///     .tool("mytool").tool_version("1.0.0").salt("s")
///     .enabled();
/// assert!(ctx.is_enabled());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Enabled;

/// (type state) Collection ruled out at compile time.
///
/// A disabled context holds no machine id, no metadata and no sink, so it is
/// zero-sized; its `record` and `flush` return `Ok(())` without doing
/// anything, and the optimiser removes them.
///
/// # Example
///
/// ```
/// use rtb_telemetry::{Disabled, FileSink, TelemetryContext};
///
/// let ctx: TelemetryContext<FileSink, Disabled> = TelemetryContext::builder()
///     .tool("mytool").tool_version("1.0.0")
///     .sink(FileSink::new("never-created.jsonl"))
///     .disabled();
/// assert_eq!(std::mem::size_of_val(&ctx), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Disabled;

/// (type state) Collection decided at run time, from a [`CollectionPolicy`]
/// (the user's consent). One predictable branch per call, no `dyn`.
///
/// # Example
///
/// ```
/// use rtb_telemetry::{CollectionPolicy, NoopSink, RuntimePolicy, TelemetryContext};
///
/// let consent = CollectionPolicy::from(false);
/// let ctx: TelemetryContext<NoopSink, RuntimePolicy> = TelemetryContext::builder()
///     .tool("mytool").tool_version("1.0.0").salt("s")
///     .policy(consent)
///     .build();
/// assert!(!ctx.is_enabled());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RuntimePolicy;

impl Policy for Enabled {
    type Slot<T: Clone> = T;
    #[cfg(not(rtb_telemetry_disabled))]
    type Call<F: Future<Output = Outcome> + Send> = F;
    // A build without telemetry: even a context built always-on collects
    // nothing.
    #[cfg(rtb_telemetry_disabled)]
    type Call<F: Future<Output = Outcome> + Send> = Ready<Outcome>;
    const NAME: &'static str = "Enabled";
    #[inline]
    fn active<T: Clone>(slot: &T) -> Option<&T> {
        Some(slot)
    }
    #[inline]
    fn call<'a, T, F, G>(slot: &'a T, collect: G) -> Self::Call<F>
    where
        T: Clone + 'a,
        F: Future<Output = Outcome> + Send,
        G: FnOnce(&'a T) -> F,
    {
        #[cfg(not(rtb_telemetry_disabled))]
        return collect(slot);
        #[cfg(rtb_telemetry_disabled)]
        {
            let _ = (slot, collect);
            ready(Ok(()))
        }
    }
}

impl Policy for Disabled {
    type Slot<T: Clone> = PhantomData<fn() -> T>;
    type Call<F: Future<Output = Outcome> + Send> = Ready<Outcome>;
    const NAME: &'static str = "Disabled";
    #[inline]
    fn active<T: Clone>(_: &PhantomData<fn() -> T>) -> Option<&T> {
        None
    }
    #[inline]
    fn call<'a, T, F, G>(_: &'a PhantomData<fn() -> T>, _: G) -> Ready<Outcome>
    where
        T: Clone + 'a,
        F: Future<Output = Outcome> + Send,
        G: FnOnce(&'a T) -> F,
    {
        ready(Ok(()))
    }

    #[inline]
    fn call_with<'a, T, A, F, G>(_: &'a PhantomData<fn() -> T>, arg: A, _: G) -> Ready<Outcome>
    where
        T: Clone + 'a,
        F: Future<Output = Outcome> + Send,
        G: FnOnce(&'a T, A) -> F,
    {
        drop(arg);
        ready(Ok(()))
    }
}

impl Policy for RuntimePolicy {
    type Slot<T: Clone> = Option<T>;
    type Call<F: Future<Output = Outcome> + Send> = Maybe<F>;
    const NAME: &'static str = "RuntimePolicy";
    #[inline]
    fn active<T: Clone>(slot: &Option<T>) -> Option<&T> {
        slot.as_ref()
    }
    #[inline]
    fn call<'a, T, F, G>(slot: &'a Option<T>, collect: G) -> Maybe<F>
    where
        T: Clone + 'a,
        F: Future<Output = Outcome> + Send,
        G: FnOnce(&'a T) -> F,
    {
        match slot {
            // (A build without telemetry never collects.)
            Some(state) if !crate::env::BUILT_WITHOUT_TELEMETRY => Maybe::On {
                future: collect(state),
            },
            _ => Maybe::Off,
        }
    }
}

pin_project_lite::pin_project! {
    /// A run-time policy's call: the collecting future, or nothing to do.
    /// Off costs one branch.
    #[doc(hidden)]
    #[project = MaybeProj]
    pub enum Maybe<F> {
        Off,
        On { #[pin] future: F },
    }
}

impl<F: Future<Output = Outcome>> Future for Maybe<F> {
    type Output = Outcome;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        match self.project() {
            MaybeProj::Off => Poll::Ready(Ok(())),
            MaybeProj::On { future } => future.poll(cx),
        }
    }
}

/// The run-time opt-in switch: what the user decided.
///
/// `Disabled` is the default and is always honoured: no machine id is
/// derived, no event is built, no sink is called.
///
/// # Example
///
/// ```
/// use rtb_telemetry::CollectionPolicy;
///
/// assert_eq!(CollectionPolicy::default(), CollectionPolicy::Disabled);
/// assert!(CollectionPolicy::from(true).is_enabled());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CollectionPolicy {
    /// Collect nothing. The default.
    #[default]
    Disabled,
    /// Collect events.
    Enabled,
}

impl CollectionPolicy {
    /// `true` for [`CollectionPolicy::Enabled`].
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::CollectionPolicy;
    ///
    /// assert!(!CollectionPolicy::Disabled.is_enabled());
    /// ```
    #[must_use]
    pub const fn is_enabled(self) -> bool {
        matches!(self, Self::Enabled)
    }
}

impl From<bool> for CollectionPolicy {
    fn from(enabled: bool) -> Self {
        if enabled {
            Self::Enabled
        } else {
            Self::Disabled
        }
    }
}
