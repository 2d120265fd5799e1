//! Redaction: rewrite or drop attrs before a sink (typically a remote one)
//! sees them.
//!
//! The default rule is [`Scrubber`]; what it catches, and what no rule can,
//! is listed there and in `docs/privacy.md`.

//!
//! - `scrubber.rs`: the default rule, [`Scrubber`];
//! - `probe.rs`: what a text holds, checked before any pattern runs;
//! - `names.rs`: the user's names it removes;
//! - `url.rs`: URLs shown without credentials;
//! - `sink.rs`: [`Redact`](crate::Redact), the sink that applies a rule.

mod names;
mod probe;
mod scrubber;
pub(crate) mod sink;
mod url;

pub(crate) use names::user_names;
pub(crate) use probe::may_need_scrubbing;
pub use scrubber::Scrubber;
pub(crate) use url::redact_url;

/// The default rule's scrubber: replaces what looks like a secret, an
/// address or a path, and the given user names, keeping the punctuation
/// around them. See [`Scrubber`] for the list; `scrub` builds one and
/// applies it once (build a [`Scrubber`] yourself to scrub many values).
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
/// assert_eq!(scrub("mail (ada@example.com).", &names), "mail ([email]).");
/// assert_eq!(scrub("token=ghp_0123456789abcdefghij0123", &names), "token=[secret]");
/// ```
#[must_use]
pub fn scrub(text: &str, user_names: &[String]) -> String {
    Scrubber::new(user_names).scrub(text)
}

/// `text` cut to [`Event::MAX_ATTR_VALUE_BYTES`](crate::Event::MAX_ATTR_VALUE_BYTES).
pub(crate) fn cut(text: &str) -> String {
    let mut out = text.to_owned();
    crate::event::truncate(&mut out, crate::Event::MAX_ATTR_VALUE_BYTES);
    out
}
