//! `Redact<S>`: the sink wrapper, published at the crate root.

use std::sync::Arc;

use super::Scrubber;
use crate::{Event, TelemetryError, TelemetrySink};

/// What a redaction rule makes of one attr: `Some(value)` keeps it (possibly
/// rewritten), `None` drops it.
pub(crate) type Rule = dyn Fn(&str, &str) -> Option<String> + Send + Sync;

/// A sink wrapper that passes every attr through a rule before the inner
/// sink sees the event.
///
/// [`Redact::new`] uses the default rule, a [`Scrubber`](crate::redact::Scrubber): in every value,
/// secrets and tokens, URLs, e-mail addresses, paths, IP addresses and the
/// current user's names are replaced by `[secret]`, `[url]`, `[email]`,
/// `[path]`, `[ip]` and `[user]`. [`Redact::with_rule`] takes your own.
/// Names, tools, versions and ids are the author's and are left alone.
///
/// Callers remain responsible for what they put in attrs; this is a safety
/// net for free text, not a licence to send it.
///
/// # Example
///
/// ```
/// use rtb_telemetry::{Event, MemorySink, Redact, TelemetrySink};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let memory = MemorySink::new();
/// let sink = Redact::new(memory.clone());
/// let event = Event::new("build", "mytool", "1.0.0", "00".repeat(32))
///     .with_attr("error", "cannot open /home/ada/src/main.rs: ask ada@example.com");
/// sink.emit(&event).await?;
/// assert_eq!(memory.snapshot()[0].attrs["error"], "cannot open [path]: ask [email]");
///
/// // Your own rule: drop one attr, keep the rest.
/// let custom = Redact::with_rule(MemorySink::new(), |key, value| {
///     (key != "hostname").then(|| value.to_owned())
/// });
/// # let _ = custom;
/// # Ok::<(), rtb_telemetry::TelemetryError>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Redact<S> {
    inner: S,
    rule: Arc<Rule>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Redact<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redact")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> Redact<S> {
    /// Wraps `inner` with the default rule (a [`Scrubber`](crate::redact::Scrubber) on every value,
    /// with the current user's names taken from `USER`, `USERNAME`,
    /// `LOGNAME` and the home directory, read once here).
    ///
    /// # Example
    ///
    /// ```
    /// let sink = rtb_telemetry::Redact::new(rtb_telemetry::NoopSink);
    /// # let _ = sink;
    /// ```
    pub fn new(inner: S) -> Self {
        let scrubber = Scrubber::new(&super::current_user_names());
        Self::with_rule(inner, move |_, value| {
            Some(scrubber.scrub_value(value.to_owned()))
        })
    }

    /// Wraps `inner` with your own rule.
    ///
    /// # Example
    ///
    /// ```
    /// let sink = rtb_telemetry::Redact::with_rule(rtb_telemetry::NoopSink, |_, v| Some(v.to_uppercase()));
    /// # let _ = sink;
    /// ```
    pub fn with_rule(
        inner: S,
        rule: impl Fn(&str, &str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner,
            rule: Arc::new(rule),
        }
    }
}

impl<S: TelemetrySink> TelemetrySink for Redact<S> {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        let mut event = event.clone();
        event.attrs = std::mem::take(&mut event.attrs)
            .into_iter()
            .filter_map(|(key, value)| (self.rule)(&key, &value).map(|value| (key, value)))
            .collect();
        self.inner.emit(&event).await
    }

    fn flush(&self) -> impl std::future::Future<Output = Result<(), TelemetryError>> + Send {
        self.inner.flush()
    }
}
