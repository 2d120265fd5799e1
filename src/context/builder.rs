//! The context builder, whose required fields are checked at compile time.

use std::marker::PhantomData;
use std::sync::Arc;

use self::state::{BuildPolicy, SaltIsSet, Set, ToolIsSet, Unset, VersionIsSet};
use super::{Active, TelemetryContext};
use crate::{
    CollectionPolicy, Disabled, Enabled, IntoSink, NoopSink, RuntimePolicy, TelemetrySink,
};

/// The builder's type state: which fields were given. An implementation
/// detail, as in `bon` and `typed-builder`: nothing here can be named from
/// outside the crate, so adding a field breaks no one.
mod state {
    #![allow(
        unreachable_pub,
        reason = "public in a private module: usable in the chain, never nameable"
    )]

    /// (type state) A builder field that has not been given yet.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Unset;

    /// (type state) A builder field that has been given. Wrapping the value
    /// keeps every given state unnameable too.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Set<T>(pub(crate) T);

    mod sealed {
        pub trait Sealed {}
        impl<T> Sealed for super::Set<T> {}
        impl Sealed for super::Unset {}
    }

    /// The tool name has been given.
    #[diagnostic::on_unimplemented(
        message = "this telemetry builder has no tool name",
        label = "the tool name is still unset",
        note = "call `.tool(\"mytool\")` before finishing the builder"
    )]
    pub trait ToolIsSet: sealed::Sealed {
        fn into_value(self) -> String;
    }

    /// The tool version has been given.
    #[diagnostic::on_unimplemented(
        message = "this telemetry builder has no tool version",
        label = "the tool version is still unset",
        note = "call `.tool_version(env!(\"CARGO_PKG_VERSION\"))` before finishing the builder"
    )]
    pub trait VersionIsSet: sealed::Sealed {
        fn into_value(self) -> String;
    }

    /// The salt has been given.
    #[diagnostic::on_unimplemented(
        message = "this telemetry builder may derive a machine id but has no salt",
        label = "the salt is still unset",
        note = "call `.salt(\"mytool-telemetry-v1\")`: a per-tool salt keeps machine ids \
                of different tools unlinkable (the seed took the salt at run time and \
                panicked without it; here it is checked when compiling)"
    )]
    pub trait SaltIsSet: sealed::Sealed {
        fn into_value(self) -> String;
    }

    macro_rules! set_field {
        ($($trait:ident),+) => {$(
            impl $trait for Set<String> {
                fn into_value(self) -> String {
                    self.0
                }
            }
        )+};
    }
    set_field!(ToolIsSet, VersionIsSet, SaltIsSet);

    /// What `.build()` makes of the policy given (or not) and the salt `A`:
    /// no policy means Disabled and needs no salt; a run-time policy may
    /// enable collection, so it needs one.
    #[diagnostic::on_unimplemented(
        message = "a run-time policy may enable collection, so this builder needs a salt",
        label = "`.policy(..)` was called but `.salt(..)` was not",
        note = "call `.salt(\"mytool-telemetry-v1\")` before `.build()`"
    )]
    pub trait BuildPolicy<A>: sealed::Sealed {
        fn salt_if_enabled(self, salt: A) -> Option<String>;
    }

    impl<A> BuildPolicy<A> for Unset {
        fn salt_if_enabled(self, _: A) -> Option<String> {
            None // `.build()` without `.policy(..)` means Disabled.
        }
    }

    impl<A: SaltIsSet> BuildPolicy<A> for Set<crate::CollectionPolicy> {
        fn salt_if_enabled(self, salt: A) -> Option<String> {
            self.0.is_enabled().then(|| salt.into_value())
        }
    }
}

/// Builds a [`TelemetryContext`]; start with [`TelemetryContext::builder`].
///
/// Give `.tool(..)` and `.tool_version(..)`, optionally `.sink(..)` (the
/// default is [`NoopSink`]), and the `.salt(..)` wherever an id may be
/// derived. Then finish in one of three ways:
///
/// | finish | gives | derives the id |
/// |---|---|---|
/// | [`.enabled()`](Self::enabled) | `TelemetryContext<S, Enabled>` | here, once |
/// | [`.disabled()`](Self::disabled) | `TelemetryContext<S, Disabled>` | never (no salt needed) |
/// | [`.policy(p)`](Self::policy)[`.build()`](Self::build) | `TelemetryContext<S, RuntimePolicy>` | only if `p` is `Enabled` |
///
/// Plain `.build()` without `.policy(..)` means [`CollectionPolicy::Disabled`].
/// A forgotten required field is a compile error that names the missing
/// call. The builder's type parameters after `S` record which fields were
/// given; they cannot be named, and need not be.
///
/// # Example
///
/// ```
/// use rtb_telemetry::{CollectionPolicy, FileSink, TelemetryContext};
///
/// let consent = CollectionPolicy::Disabled; // the user has not opted in
/// let ctx = TelemetryContext::builder()
///     .tool("mytool")
///     .tool_version("1.0.0")
///     .salt("mytool-telemetry-v1")
///     .sink(FileSink::new("/tmp/never-created/events.jsonl"))
///     .policy(consent)
///     .build();
/// assert!(!ctx.is_enabled());
/// ```
#[must_use = "a builder does nothing until it is finished with `.enabled()`, `.disabled()` or `.build()`"]
#[derive(Debug, Clone)]
pub struct TelemetryContextBuilder<S, T = Unset, V = Unset, A = Unset, P = Unset> {
    sink: S,
    tool: T,
    tool_version: V,
    salt: A,
    policy: P,
}

impl TelemetryContextBuilder<NoopSink> {
    pub(crate) fn new() -> Self {
        Self {
            sink: NoopSink,
            tool: Unset,
            tool_version: Unset,
            salt: Unset,
            policy: Unset,
        }
    }
}

impl<S, T, V, A, P> TelemetryContextBuilder<S, T, V, A, P> {
    /// Sets the tool name stamped on every event, e.g. `"mytool"`.
    pub fn tool(self, tool: impl Into<String>) -> TelemetryContextBuilder<S, Set<String>, V, A, P> {
        TelemetryContextBuilder {
            sink: self.sink,
            tool: Set(tool.into()),
            tool_version: self.tool_version,
            salt: self.salt,
            policy: self.policy,
        }
    }

    /// Sets the tool version stamped on every event, usually
    /// `env!("CARGO_PKG_VERSION")`.
    pub fn tool_version(
        self,
        tool_version: impl Into<String>,
    ) -> TelemetryContextBuilder<S, T, Set<String>, A, P> {
        TelemetryContextBuilder {
            sink: self.sink,
            tool: self.tool,
            tool_version: Set(tool_version.into()),
            salt: self.salt,
            policy: self.policy,
        }
    }

    /// Sets the salt mixed into the machine id. Pick one per tool (for
    /// example `"mytool-telemetry-v1"`) and keep it: changing it gives every
    /// machine a new id.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::{MachineId, TelemetryContext};
    /// let ctx = TelemetryContext::builder()
    ///     .tool("mytool").tool_version("1.0.0")
    ///     .salt("mytool-telemetry-v1")
    ///     .enabled();
    /// assert_eq!(ctx.machine_id(), MachineId::derive("mytool-telemetry-v1"));
    /// ```
    pub fn salt(self, salt: impl Into<String>) -> TelemetryContextBuilder<S, T, V, Set<String>, P> {
        TelemetryContextBuilder {
            sink: self.sink,
            tool: self.tool,
            tool_version: self.tool_version,
            salt: Set(salt.into()),
            policy: self.policy,
        }
    }

    /// Sets where events go. The default is [`NoopSink`].
    ///
    /// A sink passed as it is keeps its type: calls are static and can be
    /// inlined. An `Arc` of a sink is the seed's spelling of a sink chosen
    /// at run time and becomes `Arc<dyn erased::TelemetrySink>` (see
    /// [`IntoSink`]), so the result fits an
    /// [`erased::TelemetryContext`](crate::erased::TelemetryContext).
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rtb_telemetry::{erased, CollectionPolicy, MemorySink, TelemetryContext};
    ///
    /// // Static: the context's type names the sink.
    /// let typed = TelemetryContext::builder()
    ///     .tool("mytool").tool_version("1.0.0").salt("s")
    ///     .sink(MemorySink::new())
    ///     .enabled();
    /// # let _ = typed;
    ///
    /// // The seed's shape: an `Arc`'d sink, stored without type parameters.
    /// struct App { telemetry: erased::TelemetryContext }
    /// let app = App {
    ///     telemetry: TelemetryContext::builder()
    ///         .tool("mytool").tool_version("1.0.0").salt("s")
    ///         .sink(Arc::new(MemorySink::new()))
    ///         .policy(CollectionPolicy::Enabled)
    ///         .build(),
    /// };
    /// assert!(app.telemetry.is_enabled());
    /// ```
    pub fn sink<I: IntoSink>(self, sink: I) -> TelemetryContextBuilder<I::Sink, T, V, A, P> {
        TelemetryContextBuilder {
            sink: sink.into_sink(),
            tool: self.tool,
            tool_version: self.tool_version,
            salt: self.salt,
            policy: self.policy,
        }
    }

    /// Chooses the policy at run time, typically from the user's consent;
    /// finish with [`.build()`](Self::build). Needs a salt, since the policy
    /// may be `Enabled`.
    pub fn policy(
        self,
        policy: CollectionPolicy,
    ) -> TelemetryContextBuilder<S, T, V, A, Set<CollectionPolicy>> {
        TelemetryContextBuilder {
            sink: self.sink,
            tool: self.tool,
            tool_version: self.tool_version,
            salt: self.salt,
            policy: Set(policy),
        }
    }

    /// Finishes with the policy chosen at run time by
    /// [`.policy(..)`](Self::policy), or [`CollectionPolicy::Disabled`]
    /// when none was given.
    ///
    /// When the policy is `Enabled` the machine id is derived here; when it
    /// is `Disabled` nothing is derived and the sink is dropped unused.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::TelemetryContext;
    /// let ctx = TelemetryContext::builder().tool("mytool").tool_version("1.0.0").build();
    /// assert!(!ctx.is_enabled()); // no `.policy(..)`: Disabled
    /// ```
    #[allow(
        private_bounds,
        reason = "the type-state traits are sealed and deliberately unnameable"
    )]
    pub fn build(self) -> TelemetryContext<S, RuntimePolicy>
    where
        S: TelemetrySink,
        T: ToolIsSet,
        V: VersionIsSet,
        P: BuildPolicy<A>,
    {
        let salt = self.policy.salt_if_enabled(self.salt);
        let slot = salt.map(|salt| {
            Arc::new(Active::derive(
                self.tool.into_value(),
                self.tool_version.into_value(),
                &salt,
                self.sink,
            ))
        });
        TelemetryContext::from_slot(slot)
    }
}

impl<S, T, V, A> TelemetryContextBuilder<S, T, V, A, Unset> {
    /// Finishes with collection on, decided at compile time. Derives the
    /// machine id now.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::TelemetryContext;
    /// let ctx = TelemetryContext::builder()
    ///     .tool("mytool").tool_version("1.0.0").salt("s")
    ///     .enabled();
    /// assert_eq!(ctx.machine_id().len(), 64);
    /// ```
    #[allow(
        private_bounds,
        reason = "the type-state traits are sealed and deliberately unnameable"
    )]
    pub fn enabled(self) -> TelemetryContext<S, Enabled>
    where
        S: TelemetrySink,
        T: ToolIsSet,
        V: VersionIsSet,
        A: SaltIsSet,
    {
        TelemetryContext::from_slot(Arc::new(Active::derive(
            self.tool.into_value(),
            self.tool_version.into_value(),
            &self.salt.into_value(),
            self.sink,
        )))
    }

    /// Finishes with collection off, decided at compile time. Needs no salt,
    /// derives nothing, and drops the sink unused: the context is zero-sized.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::{Disabled, NoopSink, TelemetryContext};
    /// let ctx = TelemetryContext::builder().tool("mytool").tool_version("1.0.0").disabled();
    /// assert_eq!(std::mem::size_of_val(&ctx), 0);
    /// ```
    #[allow(
        private_bounds,
        reason = "the type-state traits are sealed and deliberately unnameable"
    )]
    pub fn disabled(self) -> TelemetryContext<S, Disabled>
    where
        S: TelemetrySink,
        T: ToolIsSet,
        V: VersionIsSet,
    {
        TelemetryContext::from_slot(PhantomData)
    }
}
