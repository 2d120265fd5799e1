//! A context as the user's decision makes it: [`TelemetryContext::from_consent`].

use super::TelemetryContext;
use crate::consent::ConsentStore;
use crate::{CollectionPolicy, DebugSink, Event, RuntimePolicy, TelemetryError, TelemetrySink};

/// A tool's sink, or [`DebugSink`] in debug mode.
#[derive(Debug, Clone)]
enum Consented<S> {
    Given(S),
    Debug(DebugSink),
}

impl<S: TelemetrySink> TelemetrySink for Consented<S> {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        match self {
            Self::Given(sink) => sink.emit(event).await,
            Self::Debug(sink) => sink.emit(event).await,
        }
    }

    async fn flush(&self) -> Result<(), TelemetryError> {
        match self {
            Self::Given(sink) => sink.flush().await,
            Self::Debug(sink) => sink.flush().await,
        }
    }
}

impl<S: TelemetrySink> TelemetryContext<S, RuntimePolicy> {
    /// The tool's context as the user's decision in `store` makes it: on
    /// only when they opted in and no off switch applies, its machine id
    /// salted with `base_salt` and the per-install value, and in debug mode
    /// (`<TOOL>_TELEMETRY_DEBUG=1`) events printed to stderr instead of
    /// going to `sink`. When telemetry is off, nothing is derived, read
    /// beyond the consent file, or written.
    ///
    /// Never fails: if the per-install value cannot be stored, the context
    /// does not collect (and `telemetry status` says why).
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{Env, MemorySink, TelemetryContext};
    /// use rtb_telemetry::consent::ConsentStore;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"))
    ///     .with_env(Env::from_vars::<_, &str, &str>([]));
    /// let ctx = TelemetryContext::from_consent(&store, "1.0.0", "mytool-v1", MemorySink::new());
    /// assert!(!ctx.is_enabled()); // not opted in
    /// store.enable()?;
    /// let ctx = TelemetryContext::from_consent(&store, "1.0.0", "mytool-v1", MemorySink::new());
    /// assert!(ctx.is_enabled());
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    pub fn from_consent(
        store: &ConsentStore,
        tool_version: &str,
        base_salt: &str,
        sink: S,
    ) -> TelemetryContext<impl TelemetrySink, RuntimePolicy> {
        let sink = if store.debug_mode() {
            Consented::Debug(DebugSink)
        } else {
            Consented::Given(sink)
        };
        let builder = TelemetryContext::builder()
            .tool(store.tool().to_owned())
            .tool_version(tool_version)
            .sink(sink);
        match store.resolve_salt(base_salt) {
            Ok((_, Some(salt))) => builder.salt(salt).policy(CollectionPolicy::Enabled).build(),
            Ok((_, None)) => builder.build(),
            Err(e) => {
                if store.debug_mode() {
                    crate::fs::to_stderr(format!("{}: telemetry: {e}\n", store.tool()).as_bytes());
                }
                builder.build()
            }
        }
    }
}
