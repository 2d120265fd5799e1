//! `Redact<S>`: the sink wrapper, published at the crate root.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use super::Scrubber;
use crate::{Event, TelemetryError, TelemetrySink};

/// What a redaction rule makes of one attr: `Some(value)` keeps it (possibly
/// rewritten), `None` drops it.
pub(crate) type Custom = dyn Fn(&str, &str) -> Option<String> + Send + Sync;

#[derive(Clone)]
enum Rule {
    /// The default: a [`Scrubber`] on the event name, every attr key and
    /// every attr value, built at the first text that needs it.
    Default(Arc<OnceLock<Scrubber>>),
    /// The author's rule, on attrs.
    Custom(Arc<Custom>),
}

/// A sink wrapper that rewrites an event before the inner sink sees it.
///
/// [`Redact::new`] uses the default rule, a [`Scrubber`](crate::redact::Scrubber),
/// on the event's **name**, every attr **key** and every attr **value**:
/// secrets and tokens, URLs, e-mail addresses, paths, IP addresses and the
/// current user's names are replaced by `[secret]`, `[url]`, `[email]`,
/// `[path]`, `[ip]` and `[user]`, and each is cut to
/// [`Event::MAX_ATTR_VALUE_BYTES`]. The scrubber is built at the first
/// text that could hold any of these, and each of its patterns compiled
/// the first time a text holds what that pattern needs: a number or a
/// plain word costs nothing. [`Redact::with_rule`] takes your own rule, which sees each attr
/// (key and value) and leaves the name alone. The tool, its version, the
/// id and the time are the crate's and are never rewritten.
///
/// An event of a declared [catalogue](mod@crate::catalog) (its
/// `catalog_version` set) passes unchanged: its values come from declared
/// sets, and the scrubber is not even started for it.
///
/// Callers remain responsible for what they put in events; this is a
/// safety net for free text, not a licence to send it.
///
/// # Example
///
/// ```
/// use rtb_telemetry::{Event, MemorySink, Redact, TelemetrySink};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let memory = MemorySink::new();
/// let sink = Redact::new(memory.clone());
/// let event = Event::new("deploy ada@example.com", "mytool", "1.0.0", "00".repeat(32))
///     .with_attr("error", "cannot open /home/ada/src/main.rs: ask ada@example.com");
/// sink.emit(&event).await?;
/// let seen = &memory.snapshot()[0];
/// assert_eq!(seen.name, "deploy [email]");
/// assert_eq!(seen.attrs["error"], "cannot open [path]: ask [email]");
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
    rule: Rule,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Redact<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rule = match &self.rule {
            Rule::Default(_) => "default",
            Rule::Custom(_) => "custom",
        };
        f.debug_struct("Redact")
            .field("inner", &self.inner)
            .field("rule", &rule)
            .finish()
    }
}

impl<S> Redact<S> {
    /// Wraps `inner` with the default rule (a [`Scrubber`](crate::redact::Scrubber)
    /// on the name, keys and values, with the current user's names taken
    /// from `USER`, `USERNAME`, `LOGNAME` and the home directory when it is
    /// first needed).
    ///
    /// # Example
    ///
    /// ```
    /// let sink = rtb_telemetry::Redact::new(rtb_telemetry::NoopSink);
    /// # let _ = sink;
    /// ```
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            rule: Rule::Default(Arc::new(OnceLock::new())),
        }
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
            rule: Rule::Custom(Arc::new(rule)),
        }
    }

    /// The sink inside.
    pub(crate) fn inner(&self) -> &S {
        &self.inner
    }
}

/// One text through the default rule: left alone (no copy of the scrubber
/// made) when it cannot hold anything the rule would change.
fn scrub_text(scrubber: &OnceLock<Scrubber>, text: &str) -> String {
    let names = super::user_names();
    if !super::may_need_scrubbing(text, names) {
        return super::cut(text);
    }
    scrubber
        .get_or_init(|| Scrubber::new(names))
        .scrub_value(text.to_owned())
}

impl<S: TelemetrySink> TelemetrySink for Redact<S> {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        // A typed event's values come from its catalogue's declared sets
        // (see `catalog`): there is nothing to scrub.
        if event.catalog_version.is_some() {
            return self.inner.emit(event).await;
        }
        let mut event = event.clone();
        match &self.rule {
            Rule::Default(scrubber) => {
                event.name = scrub_text(scrubber, &event.name);
                event.attrs = std::mem::take(&mut event.attrs)
                    .into_iter()
                    .map(|(k, v)| (scrub_text(scrubber, &k), scrub_text(scrubber, &v)))
                    .collect::<HashMap<_, _>>();
            }
            Rule::Custom(rule) => {
                event.attrs = std::mem::take(&mut event.attrs)
                    .into_iter()
                    .filter_map(|(key, value)| rule(&key, &value).map(|value| (key, value)))
                    .collect();
            }
        }
        self.inner.emit(&event).await
    }

    fn flush(&self) -> impl std::future::Future<Output = Result<(), TelemetryError>> + Send {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemorySink;

    /// A typed event never starts the scrubber (issue 28): its values come
    /// from declared sets. The same text, untyped, does.
    #[test]
    fn a_typed_event_is_never_scrubbed() {
        let run = |catalog_version| {
            let memory = MemorySink::new();
            let sink = Redact::new(memory.clone());
            let mut event = Event::new("build", "mytool", "1.0.0", "00".repeat(32))
                .with_attr("outcome", "token=abcdef1234567890 at /home/ada/x");
            event.catalog_version = catalog_version;
            crate::pipeline::worker::block_on(sink.emit(&event)).unwrap();
            let Rule::Default(scrubber) = &sink.rule else {
                unreachable!("Redact::new uses the default rule")
            };
            (
                scrubber.get().is_some(),
                memory.snapshot()[0].attrs["outcome"].clone(),
            )
        };
        let (compiled, value) = run(Some(1));
        assert!(!compiled, "a typed record started the scrubber");
        assert_eq!(value, "token=abcdef1234567890 at /home/ada/x");
        let (compiled, value) = run(None);
        assert!(
            compiled,
            "an untyped record with a secret in it must be scrubbed"
        );
        assert!(!value.contains("abcdef1234567890"), "{value}");
    }
}
