//! Redaction: rewrite or drop attrs before a sink (typically a remote one)
//! sees them.

use std::sync::Arc;

use crate::{Event, TelemetryError, TelemetrySink};

/// What a redaction rule makes of one attr: `Some(value)` keeps it (possibly
/// rewritten), `None` drops it.
pub type Rule = dyn Fn(&str, &str) -> Option<String> + Send + Sync;

/// A sink wrapper that passes every attr through a rule before the inner
/// sink sees the event.
///
/// [`Redact::new`] uses the default rule, [`scrub`]: in every value, words
/// that look like file paths, URLs or e-mail addresses, and the current
/// user's name, are replaced by `[path]`, `[email]` and `[user]`.
/// [`Redact::with_rule`] takes your own. Names, tools, versions and ids are
/// the author's and are left alone.
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
    /// Wraps `inner` with the default rule ([`scrub`] on every value, with the
    /// current user's names taken from `USER`, `USERNAME`, `LOGNAME` and the
    /// home directory, read once here).
    ///
    /// # Example
    ///
    /// ```
    /// let sink = rtb_telemetry::Redact::new(rtb_telemetry::NoopSink);
    /// # let _ = sink;
    /// ```
    pub fn new(inner: S) -> Self {
        let names = current_user_names();
        Self::with_rule(inner, move |_, value| Some(scrub(value, &names)))
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

/// The default rule's scrubber: replaces, word by word, what looks like a
/// file path or URL (`[path]`), an e-mail address (`[email]`), or one of
/// `user_names` (`[user]`, any case, also inside a word such as a path). A
/// word is a run of non-whitespace; surrounding punctuation is kept.
///
/// # Example
///
/// ```
/// use rtb_telemetry::redact::scrub;
///
/// let names = vec!["ada".to_string()];
/// assert_eq!(scrub("ok", &names), "ok");
/// assert_eq!(scrub("failed: C:\\Users\\Ada\\x.txt", &names), "failed: [path]");
/// assert_eq!(scrub("by Ada, twice", &names), "by [user], twice");
/// assert_eq!(scrub("mail (ada@example.com)", &names), "mail ([email])");
/// ```
#[must_use]
pub fn scrub(text: &str, user_names: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.push_str(&scrub_word(&rest[..end], user_names));
        rest = &rest[end..];
    }
    out
}

fn scrub_word(word: &str, user_names: &[String]) -> String {
    const PUNCT: &[char] = &[
        '"', '\'', '(', ')', '[', ']', '<', '>', ',', ';', '`', '{', '}',
    ];
    let core = word.trim_matches(PUNCT);
    let core = core.strip_suffix([':', '.', '!', '?']).unwrap_or(core);
    if core.is_empty() {
        return word.to_owned();
    }
    let lead = &word[..word.find(core).unwrap_or(0)];
    let trail = &word[lead.len() + core.len()..];
    let replaced = if looks_like_email(core) {
        "[email]".to_owned()
    } else if looks_like_path(core) {
        "[path]".to_owned()
    } else if let Some(name) = user_names.iter().find(|n| contains_ignore_case(core, n)) {
        replace_ignore_case(core, name, "[user]")
    } else {
        return word.to_owned();
    };
    format!("{lead}{replaced}{trail}")
}

fn looks_like_email(word: &str) -> bool {
    let Some((local, domain)) = word.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
}

fn looks_like_path(word: &str) -> bool {
    let bytes = word.as_bytes();
    word.starts_with('/')
        || word.starts_with("~/")
        || word.starts_with("./")
        || word.starts_with("../")
        || word.starts_with("\\\\")
        || word.contains("://")
        || (bytes.len() > 2
            && bytes[0].is_ascii_alphabetic()
            && bytes[1] == b':'
            && matches!(bytes[2], b'\\' | b'/'))
        || word.matches(['/', '\\']).count() >= 2
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

fn replace_ignore_case(text: &str, needle: &str, with: &str) -> String {
    let lower = text.to_lowercase();
    let needle = needle.to_lowercase();
    // Lower-casing can change byte lengths outside ASCII; then replace the
    // whole word rather than risk cutting a character.
    if lower.len() != text.len() {
        return with.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in lower.match_indices(&needle) {
        out.push_str(&text[last..at]);
        out.push_str(with);
        last = at + needle.len();
    }
    out.push_str(&text[last..]);
    out
}

/// The current user's names, from the environment and the home directory;
/// names shorter than 3 characters are ignored (too many false matches).
fn current_user_names() -> Vec<String> {
    let mut names: Vec<String> = ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .collect();
    if let Some(home) = directories::BaseDirs::new()
        && let Some(last) = home.home_dir().file_name()
    {
        names.push(last.to_string_lossy().into_owned());
    }
    names.retain(|n| n.chars().count() >= 3);
    names.sort();
    names.dedup();
    names
}
