//! The context builder, whose required fields are checked at compile time.
//!
//! [`TelemetryContextBuilder`] tracks in its type which fields were given.
//! A field that is still [`Unset`] cannot satisfy the marker trait that a
//! finishing method needs, so forgetting one is a compile error that names
//! the missing call.
//!
//! # Example
//!
//! ```
//! use rtb_telemetry::builder::{TelemetryContextBuilder, Unset};
//! use rtb_telemetry::{NoopSink, TelemetryContext};
//!
//! // After `.tool(..)` only the tool field is set; version and salt are `Unset`.
//! let half: TelemetryContextBuilder<NoopSink, String, Unset, Unset, Unset> =
//!     TelemetryContext::builder().tool("mytool");
//! let ctx = half.tool_version("1.0.0").disabled(); // the salt is not needed here
//! # let _ = ctx;
//! ```

use std::marker::PhantomData;
use std::sync::Arc;

use crate::context::{Active, TelemetryContext};
use crate::{
    CollectionPolicy, Disabled, Enabled, MachineId, NoopSink, RuntimePolicy, TelemetrySink,
};

mod sealed {
    pub trait Sealed {}
    impl Sealed for String {}
    impl Sealed for super::Unset {}
    impl Sealed for crate::CollectionPolicy {}
}

/// (type state) A builder field that has not been given yet.
///
/// # Example
///
/// ```
/// use rtb_telemetry::builder::{TelemetryContextBuilder, Unset};
/// use rtb_telemetry::{NoopSink, TelemetryContext};
///
/// let fresh: TelemetryContextBuilder<NoopSink, Unset, Unset, Unset, Unset> =
///     TelemetryContext::builder();
/// # let _ = fresh;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unset;

/// The tool name has been given. Sealed; implemented only for a set field.
///
/// # Example
///
/// ```
/// fn needs_tool<T: rtb_telemetry::builder::ToolIsSet>(_: T) {}
/// needs_tool(String::from("mytool")); // a set field
/// ```
#[diagnostic::on_unimplemented(
    message = "this telemetry builder has no tool name",
    label = "the tool name is still unset",
    note = "call `.tool(\"mytool\")` before finishing the builder"
)]
pub trait ToolIsSet: sealed::Sealed {
    #[doc(hidden)]
    fn into_value(self) -> String;
}

/// The tool version has been given. Sealed; implemented only for a set field.
///
/// # Example
///
/// ```
/// fn needs_version<V: rtb_telemetry::builder::VersionIsSet>(_: V) {}
/// needs_version(String::from("1.0.0")); // a set field
/// ```
#[diagnostic::on_unimplemented(
    message = "this telemetry builder has no tool version",
    label = "the tool version is still unset",
    note = "call `.tool_version(env!(\"CARGO_PKG_VERSION\"))` before finishing the builder"
)]
pub trait VersionIsSet: sealed::Sealed {
    #[doc(hidden)]
    fn into_value(self) -> String;
}

/// The salt has been given. Sealed; implemented only for a set field.
///
/// # Example
///
/// ```compile_fail,E0277
/// fn needs_salt<A: rtb_telemetry::builder::SaltIsSet>(_: A) {}
/// needs_salt(rtb_telemetry::builder::Unset); // error: the salt is still unset
/// ```
#[diagnostic::on_unimplemented(
    message = "this telemetry builder may derive a machine id but has no salt",
    label = "the salt is still unset",
    note = "call `.salt(\"mytool-telemetry-v1\")`: a per-tool salt keeps machine ids \
            of different tools unlinkable"
)]
pub trait SaltIsSet: sealed::Sealed {
    #[doc(hidden)]
    fn into_value(self) -> String;
}

macro_rules! set_field {
    ($($trait:ident),+) => {$(
        impl $trait for String {
            fn into_value(self) -> String {
                self
            }
        }
    )+};
}
set_field!(ToolIsSet, VersionIsSet, SaltIsSet);

/// What `.build()` makes of the policy given (or not) and the salt `A`.
/// Sealed: implemented for [`Unset`] (no policy: Disabled) and for
/// [`CollectionPolicy`] when the salt is set.
///
/// # Example
///
/// ```
/// use rtb_telemetry::builder::{BuildPolicy, Unset};
/// use rtb_telemetry::CollectionPolicy;
///
/// fn buildable<P: BuildPolicy<A>, A>(_: P, _: A) {}
/// buildable(Unset, Unset); // no policy: Disabled, no salt needed
/// buildable(CollectionPolicy::Enabled, String::from("salt"));
/// ```
#[diagnostic::on_unimplemented(
    message = "a run-time policy may enable collection, so this builder needs a salt",
    label = "`.policy(..)` was called but `.salt(..)` was not",
    note = "call `.salt(\"mytool-telemetry-v1\")` before `.build()`"
)]
pub trait BuildPolicy<A>: sealed::Sealed {
    /// The salt to derive the id with, when collection is on.
    #[doc(hidden)]
    fn salt_if_enabled(self, salt: A) -> Option<String>;
}

impl<A> BuildPolicy<A> for Unset {
    fn salt_if_enabled(self, _: A) -> Option<String> {
        None // `.build()` without `.policy(..)` means Disabled.
    }
}

impl<A: SaltIsSet> BuildPolicy<A> for CollectionPolicy {
    fn salt_if_enabled(self, salt: A) -> Option<String> {
        self.is_enabled().then(|| salt.into_value())
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
pub struct TelemetryContextBuilder<S, T, V, A, P> {
    sink: S,
    tool: T,
    tool_version: V,
    salt: A,
    policy: P,
}

impl TelemetryContextBuilder<NoopSink, Unset, Unset, Unset, Unset> {
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
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::TelemetryContext;
    /// let ctx = TelemetryContext::builder().tool("mytool").tool_version("1.0.0").disabled();
    /// # let _ = ctx;
    /// ```
    pub fn tool(self, tool: impl Into<String>) -> TelemetryContextBuilder<S, String, V, A, P> {
        TelemetryContextBuilder {
            sink: self.sink,
            tool: tool.into(),
            tool_version: self.tool_version,
            salt: self.salt,
            policy: self.policy,
        }
    }

    /// Sets the tool version stamped on every event, usually
    /// `env!("CARGO_PKG_VERSION")`.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::TelemetryContext;
    /// let ctx = TelemetryContext::builder()
    ///     .tool("mytool")
    ///     .tool_version(env!("CARGO_PKG_VERSION"))
    ///     .disabled();
    /// # let _ = ctx;
    /// ```
    pub fn tool_version(
        self,
        tool_version: impl Into<String>,
    ) -> TelemetryContextBuilder<S, T, String, A, P> {
        TelemetryContextBuilder {
            sink: self.sink,
            tool: self.tool,
            tool_version: tool_version.into(),
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
    pub fn salt(self, salt: impl Into<String>) -> TelemetryContextBuilder<S, T, V, String, P> {
        TelemetryContextBuilder {
            sink: self.sink,
            tool: self.tool,
            tool_version: self.tool_version,
            salt: salt.into(),
            policy: self.policy,
        }
    }

    /// Sets where events go. The default is [`NoopSink`].
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::{MemorySink, TelemetryContext};
    /// let ctx = TelemetryContext::builder()
    ///     .tool("mytool").tool_version("1.0.0").salt("s")
    ///     .sink(MemorySink::new())
    ///     .enabled();
    /// # let _ = ctx;
    /// ```
    pub fn sink<S2: TelemetrySink>(self, sink: S2) -> TelemetryContextBuilder<S2, T, V, A, P> {
        TelemetryContextBuilder {
            sink,
            tool: self.tool,
            tool_version: self.tool_version,
            salt: self.salt,
            policy: self.policy,
        }
    }

    /// Chooses the policy at run time, typically from the user's consent;
    /// finish with [`.build()`](Self::build). Needs a salt, since the policy
    /// may be `Enabled`.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::{CollectionPolicy, TelemetryContext};
    /// let ctx = TelemetryContext::builder()
    ///     .tool("mytool").tool_version("1.0.0").salt("s")
    ///     .policy(CollectionPolicy::Enabled)
    ///     .build();
    /// assert!(ctx.is_enabled());
    /// ```
    pub fn policy(
        self,
        policy: CollectionPolicy,
    ) -> TelemetryContextBuilder<S, T, V, A, CollectionPolicy> {
        TelemetryContextBuilder {
            sink: self.sink,
            tool: self.tool,
            tool_version: self.tool_version,
            salt: self.salt,
            policy,
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
    pub fn build(self) -> TelemetryContext<S, RuntimePolicy>
    where
        S: TelemetrySink,
        T: ToolIsSet,
        V: VersionIsSet,
        P: BuildPolicy<A>,
    {
        let salt = self.policy.salt_if_enabled(self.salt);
        let slot =
            salt.map(|salt| Arc::new(activate(self.tool, self.tool_version, &salt, self.sink)));
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
    pub fn enabled(self) -> TelemetryContext<S, Enabled>
    where
        S: TelemetrySink,
        T: ToolIsSet,
        V: VersionIsSet,
        A: SaltIsSet,
    {
        let salt = self.salt.into_value();
        TelemetryContext::from_slot(Arc::new(activate(
            self.tool,
            self.tool_version,
            &salt,
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
    pub fn disabled(self) -> TelemetryContext<S, Disabled>
    where
        S: TelemetrySink,
        T: ToolIsSet,
        V: VersionIsSet,
    {
        TelemetryContext::from_slot(PhantomData)
    }
}

fn activate<S>(tool: impl ToolIsSet, version: impl VersionIsSet, salt: &str, sink: S) -> Active<S> {
    Active {
        tool: tool.into_value(),
        tool_version: version.into_value(),
        machine_id: MachineId::derive(salt),
        sink,
    }
}
