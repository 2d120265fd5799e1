//! [`Scrubber`]: the default rule — one pass over the text with the
//! patterns it could match, and the user's names in any case.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use regex_lite::{Captures, Regex, RegexBuilder};

#[cfg(test)]
use super::may_need_scrubbing;
use super::probe::Condition;

/// The default rule: one pass over the text, as one leftmost-first regular
/// expression of all the patterns below would make it (`regex-lite`; its
/// `\s`/`\w` widened to Unicode here), and a search for the user's names in
/// any case (Unicode-aware, character by character), so matching never
/// slices a string at a byte offset found in a differently-cased copy.
///
/// Each pattern is its own small expression, compiled the first time a
/// text holds what it needs (a `/` for a path, an `@` for an e-mail, a
/// secret's keyword): a command-line tool's first scrub compiles only
/// what that text could match, and a process compiles each at most once
/// (`benches/scrub_cold.py` measures it in a fresh process per sample).
///
/// What it replaces, in this order of precedence where matches overlap:
///
/// | found | becomes |
/// |---|---|
/// | `Bearer <token>`, `password=…`, `token: …`, `secret=…`, `api_key=…` (any case, any prefix such as `GITHUB_TOKEN=`) | the keyword kept, the value `[secret]` |
/// | JWTs (`eyJ….….…`), GitHub tokens (`ghp_…`, `gho_…`, `github_pat_…`), AWS access key ids (`AKIA…`), Slack tokens (`xoxb-…`) | `[secret]` |
/// | URLs (`scheme://…`) | `[url]` |
/// | e-mail addresses, in any punctuation or list | `[email]` |
/// | absolute, home-relative (`~/…`), environment-variable (`$HOME/…`, `%USERPROFILE%\…`), Windows (`C:\…`, `\\server\…`) and relative paths (`./…`, or two or more `/`) | `[path]` |
/// | IPv4 and IPv6 addresses (checked by parsing them) | `[ip]` |
/// | the user names given (any case, also inside a word) | `[user]` |
///
/// What it cannot catch is in `docs/privacy.md`: free text that identifies
/// someone without any of these shapes (a project name, a customer's name).
///
/// # Example
///
/// ```
/// use rtb_telemetry::redact::Scrubber;
///
/// let scrubber = Scrubber::new(&["ada".to_string()]);
/// assert_eq!(scrubber.scrub("from 10.1.2.3 by ADA"), "from [ip] by [user]");
/// ```
#[derive(Debug, Clone)]
pub struct Scrubber {
    /// The patterns, in order of precedence, each compiled on first need.
    parts: Vec<Part>,
    /// The user's names, longest first, each as its case-folded chars.
    names: Vec<Vec<char>>,
}

/// One pattern, and its expression once a text has needed it.
#[derive(Debug, Clone)]
struct Part {
    /// What a text holds that this pattern could match (`None`: try it).
    condition: Option<&'static Condition>,
    pattern: &'static str,
    regex: OnceLock<Regex>,
}

impl Part {
    fn regex(&self) -> &Regex {
        self.regex.get_or_init(|| compile(self.pattern))
    }
}

/// Unicode's white space (what `char::is_whitespace` says), for the inside
/// of a `[...]` class: stands in for `\s`.
const SPACE: &str =
    r"\t\n\x0B\x0C\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}";
/// A word character for the inside of a `[...]` class: ASCII letters,
/// digits and `_`, and non-ASCII letters (everything from U+00C0 on but
/// white space, general punctuation, CJK punctuation and the BOM): stands
/// in for `\w`.
const WORD: &str = r"0-9A-Za-z_\x{AA}\x{B5}\x{BA}\x{C0}-\x{167F}\x{1681}-\x{1FFF}\x{2070}-\x{2FFF}\x{3005}-\x{3007}\x{3021}-\x{D7FF}\x{E000}-\x{FEFE}\x{FF10}-\x{10FFFF}";

/// The patterns, most specific first: where two could start at the same
/// place, the earlier wins (leftmost-first).
const PATTERNS: &[&str] = &[
    // A PEM private key, whole.
    r"(?P<pem>-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----)",
    // `--password value`: a command-line flag naming a secret.
    r#"(?P<flag>--?(?i:password|passwd|pwd|passphrase|token|secret|api[_-]?key|access[_-]?key|client[_-]?secret)(?:[ \t]+|=))(?:"[^"]*"|'[^']*'|[^\s"']+)"#,
    // `Bearer <token>`: keep the scheme word.
    r"(?P<bearer>(?i:\bbearer|\bbasic|\btoken)[ \t]+)[A-Za-z0-9._~+/-]{8,}=*",
    // `key=value` / `key: value` where the key names a secret.
    // `key=value`, `key: value`, `"key": "value"`, where the key names a
    // secret; the key (and its quotes) kept.
    r#"(?P<kv>(?i:\b[A-Za-z0-9_.-]*(?:password|passwd|pwd|passphrase|token|secret|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth|cookie|session))["']?[ \t]*[=:][ \t]*)(?:"[^"]*"|'[^']*'|[^\s,;&"']+)"#,
    // `aws_secret_access_key <value>`: a secret keyword, a space, and a
    // long token.
    r"(?P<kvspace>(?i:\b[A-Za-z0-9_.-]*(?:password|secret|token|api[_-]?key|access[_-]?key))[ \t]+)[A-Za-z0-9/+=_.-]{16,}",
    r"(?P<jwt>\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)",
    r"(?P<github>\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}))",
    r"(?P<aws>\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b)",
    r"(?P<slack>\bxox[abposr]-[A-Za-z0-9-]{10,})",
    // OpenAI, Stripe, GitLab, npm and Google API keys.
    r"(?P<vendor>\b(?:sk-(?:proj-)?[A-Za-z0-9_-]{20,}|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|glpat-[A-Za-z0-9_-]{20,}|npm_[A-Za-z0-9]{36}|AIza[0-9A-Za-z_-]{35}))",
    r#"(?P<url>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>()\[\]{}]+)"#,
    r"(?P<email>[\w.%+-]+@(?:[\w-]+(?:\.[\w-]+)+|localhost\b))",
    // Paths. A leading `/` counts only at the start or after a delimiter,
    // which is kept (`pre`): `a/b` in prose is not a path.
    // A Windows profile directory may hold spaces and apostrophes
    // (`C:\Users\Sean O'Brien`): that segment is taken whole, to the next
    // separator or a character Windows refuses in a user name
    // (`"/\[]:;|=,+*?<>`), so `C:\Users\bob: denied` keeps `: denied`.
    // `\\?\C:\…` (what `canonicalize` returns) is the same path.
    r#"(?P<winpath>(?:\\\\[?.]\\)?\b[A-Za-z]:[\\/](?:(?i:users|documents and settings)[\\/][^\\/"<>|\r\n:;=,+*?\[\]]+(?:[\\/][^\s"'<>|]*)?|[^\s"'<>|]*)|\\\\[^\s"'<>|]+)"#,
    r#"(?P<varpath>(?:%[A-Za-z_][A-Za-z0-9_]*%|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|~[A-Za-z0-9_.-]*)(?:[\\/][^\s"'<>|]*)?)"#,
    r#"(?P<relpath>\.{1,2}[\\/][^\s"'<>|]*)"#,
    // A Windows profile seen from WSL, Git Bash or Cygwin
    // (`/mnt/c/Users/John Smith/…`, `/c/Users/…`, `/cygdrive/c/Users/…`)
    // is taken whole as above.
    r#"(?P<pre>^|[\s"'(\[<{=,:;])(?P<abspath>/(?:(?:mnt/|cygdrive/)?[A-Za-z]/(?i:users)/[^\\/"<>|\r\n:;=,+*?\[\]]+(?:/[^\s"'<>|)\]}]*)?|[^\s"'<>|)\]}]*))"#,
    r"(?P<slashes>[\w.-]+(?:[\\/][\w.-]+){2,}(?::\d+)*)",
];

/// The address patterns, after the user names: a candidate that turns out
/// not to be an address is skipped one character at a time, and a name
/// inside it must still be found.
const ADDRESSES: &[&str] = &[
    r"(?P<ipv4>\b(?:\d{1,3}\.){3}\d{1,3}\b)",
    r"(?P<ipv6>(?i:\[?(?:[0-9a-f]{1,4}:|:)(?:[0-9a-f]{0,4}:){1,6}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9a-f]{0,4})(?:%[0-9a-z]+)?\]?))",
];

impl Scrubber {
    /// The default patterns plus `user_names` (empty names are ignored).
    ///
    /// # Panics
    ///
    /// Never: the patterns are constants (a unit test compiles them) and
    /// the names are escaped.
    #[must_use]
    pub fn new(user_names: &[String]) -> Self {
        let mut names: Vec<Vec<char>> = user_names
            .iter()
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .map(|n| n.chars().map(fold).collect())
            .collect();
        // Longest first, so a longer name wins over its prefix.
        names.sort_unstable_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        names.dedup();
        let parts = PATTERNS
            .iter()
            .chain(ADDRESSES)
            .map(|&pattern| Part {
                condition: Condition::of(group_of(pattern)),
                pattern,
                regex: OnceLock::new(),
            })
            .collect();
        Self { parts, names }
    }

    /// An attr value, scrubbed and cut to
    /// [`Event::MAX_ATTR_VALUE_BYTES`](crate::Event::MAX_ATTR_VALUE_BYTES):
    /// cut first (with a margin, so a token that crosses the limit is still
    /// seen whole), scrubbed, then cut to the limit. Bounds the cost on any
    /// input.
    pub(crate) fn scrub_value(&self, mut value: String) -> String {
        const MARGIN: usize = 1024;
        let limit = crate::Event::MAX_ATTR_VALUE_BYTES;
        crate::event::truncate(&mut value, limit + MARGIN);
        let mut scrubbed = self.scrub(&value);
        crate::event::truncate(&mut scrubbed, limit);
        scrubbed
    }

    /// `text` with everything the scrubber recognises replaced.
    ///
    /// Meant for attr values, which the crate cuts to
    /// [`Event::MAX_ATTR_VALUE_BYTES`](crate::Event::MAX_ATTR_VALUE_BYTES)
    /// before scrubbing: on adversarial text (long runs that several
    /// patterns could extend) the cost grows with the square of the length,
    /// a few milliseconds at 4 KiB.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        let parts: Vec<&Part> = self
            .parts
            .iter()
            .filter(|p| p.condition.is_none_or(|c| c.holds(text)))
            .collect();
        // Each pattern's next match at or after the last `at` it was
        // searched from (`None` inside: none left); searched again only
        // once `at` has passed its start.
        let mut next: Vec<Option<Option<Captures<'_>>>> = parts.iter().map(|_| None).collect();
        self.scrub_with(text, &mut |at| {
            let mut best: Option<(usize, usize)> = None;
            for (i, part) in parts.iter().enumerate() {
                let stale = match &next[i] {
                    None => true,
                    Some(Some(caps)) => caps.get(0).is_some_and(|m| m.start() < at),
                    Some(None) => false,
                };
                if stale {
                    next[i] = Some(part.regex().captures_at(text, at));
                }
                if let Some(Some(caps)) = &next[i]
                    && let Some(m) = caps.get(0)
                    && best.is_none_or(|(start, _)| m.start() < start)
                {
                    best = Some((m.start(), i));
                }
            }
            // The earliest start wins; at the same start, the earlier
            // pattern (leftmost-first, as one alternation would). Taken
            // from the cache: `at` moves past its start next.
            best.and_then(|(_, i)| next[i].take().flatten())
        })
    }

    /// [`scrub`](Self::scrub) with `find(at)` giving the winning pattern's
    /// match at or after `at`.
    fn scrub_with<'t>(
        &self,
        text: &'t str,
        find: &mut dyn FnMut(usize) -> Option<Captures<'t>>,
    ) -> String {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        let mut at = 0;
        // The next name at or after `at`, as last searched: searched again
        // only once `at` has passed it, so a text without the name is
        // searched once, not once per pattern match.
        let mut next_name: Option<(usize, usize)> = None;
        let mut name_searched = false;
        while at <= text.len() {
            let caps = find(at);
            let found = caps.as_ref().and_then(|c| c.get(0));
            if !name_searched || next_name.is_some_and(|(start, _)| start < at) {
                next_name = self.find_name(text, at);
                name_searched = true;
            }
            let name = next_name;
            // The earliest wins; at the same place a pattern wins over a
            // name, and a name over an address (the order of precedence).
            let take_name = match (found, name) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(m), Some((start, _))) => {
                    start < m.start() || (start == m.start() && is_address(caps.as_ref()))
                }
            };
            if take_name {
                let Some((start, end)) = name else { break };
                out.push_str(&text[last..start]);
                out.push_str("[user]");
                last = end;
                at = end.max(start + 1);
                continue;
            }
            let (Some(caps), Some(whole)) = (caps.as_ref(), found) else {
                break;
            };
            if let Some(replacement) = replace(caps) {
                out.push_str(&text[last..whole.start()]);
                out.push_str(&replacement);
                last = whole.end();
                // Every pattern needs a character, but never loop on an
                // empty match.
                at = whole.end().max(whole.start() + 1);
            } else {
                // Looked like an address but is not one: keep it, and look
                // again from its next character (a name may start there).
                let step = text[whole.start()..]
                    .chars()
                    .next()
                    .map_or(1, char::len_utf8);
                at = whole.start() + step;
            }
        }
        out.push_str(&text[last..]);
        out
    }

    /// The first of the user's names in `text` at or after byte `at`, in
    /// any case: its byte range. At one place the longest name wins.
    fn find_name(&self, text: &str, at: usize) -> Option<(usize, usize)> {
        if self.names.is_empty() || at > text.len() {
            return None;
        }
        let rest = &text[at..];
        for (offset, _) in rest.char_indices() {
            let from = at + offset;
            for name in &self.names {
                let mut chars = text[from..].char_indices();
                let matched = name
                    .iter()
                    .all(|want| chars.next().is_some_and(|(_, c)| fold(c) == *want));
                if matched {
                    let end = chars.next().map_or(text.len(), |(i, _)| from + i);
                    return Some((from, end));
                }
            }
        }
        None
    }
}

/// A character's case-insensitive form: the lower case of its upper case,
/// where each is one character (so `K`, the Kelvin sign and `k` agree, as
/// do `ſ` and `s`), else its lower case, else itself (`İ` stays `İ`).
fn fold(c: char) -> char {
    fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }
    single(c.to_uppercase())
        .and_then(|u| single(u.to_lowercase()))
        .or_else(|| single(c.to_lowercase()))
        .unwrap_or(c)
}

/// Whether the pattern that matched is one of the addresses.
fn is_address(caps: Option<&Captures<'_>>) -> bool {
    caps.is_some_and(|c| c.name("ipv4").is_some() || c.name("ipv6").is_some())
}

/// A pattern (or several, joined by `|`), compiled: `\s` and `\w` widened
/// to Unicode.
fn compile(pattern: &str) -> Regex {
    let pattern = pattern.replace(r"\s", SPACE).replace(r"\w", WORD);
    // Unreachable from input: only the constant patterns above come here
    // (user names are matched by hand, never put in an expression), and
    // `every_pattern_compiles_on_its_own` builds each of them, as `scrub`
    // does, with this limit (far above what any needs).
    RegexBuilder::new(&pattern)
        .size_limit(64 << 20)
        .build()
        .expect("the default patterns compile (a unit test builds each)")
}

/// The name of a pattern's first capture group, `(?P<name>…`.
fn group_of(pattern: &str) -> &str {
    pattern
        .split_once("(?P<")
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or("", |(name, _)| name)
}

/// Trailing punctuation that ends a sentence rather than a path or URL.
fn split_trailing(matched: &str) -> (&str, &str) {
    let core = matched.trim_end_matches(['.', ',', ':', ';', '!', '?']);
    (core, &matched[core.len()..])
}

/// What one match becomes, or `None` to keep it.
fn replace(caps: &Captures<'_>) -> Option<String> {
    let kept = |group: &str, marker: &str| {
        let prefix = caps.name(group).map_or("", |m| m.as_str());
        format!("{prefix}{marker}")
    };
    for group in ["flag", "bearer", "kv", "kvspace"] {
        if caps.name(group).is_some() {
            return Some(kept(group, "[secret]"));
        }
    }
    if ["pem", "jwt", "github", "aws", "slack", "vendor"]
        .iter()
        .any(|g| caps.name(g).is_some())
    {
        return Some("[secret]".to_owned());
    }
    if let Some(m) = caps.name("url") {
        let (_, trail) = split_trailing(m.as_str());
        return Some(format!("[url]{trail}"));
    }
    if caps.name("email").is_some() {
        return Some("[email]".to_owned());
    }
    for group in ["winpath", "varpath", "relpath", "slashes"] {
        if let Some(m) = caps.name(group) {
            let (_, trail) = split_trailing(m.as_str());
            return Some(format!("[path]{trail}"));
        }
    }
    if let Some(m) = caps.name("abspath") {
        let (core, trail) = split_trailing(m.as_str());
        let pre = caps.name("pre").map_or("", |p| p.as_str());
        if core == "/" {
            return None; // a lone slash, as in "read/write"
        }
        return Some(format!("{pre}[path]{trail}"));
    }
    if let Some(m) = caps.name("ipv4") {
        return m
            .as_str()
            .parse::<Ipv4Addr>()
            .is_ok()
            .then(|| "[ip]".to_owned());
    }
    if let Some(m) = caps.name("ipv6") {
        let bare = m.as_str().trim_start_matches('[').trim_end_matches(']');
        let bare = bare.split_once('%').map_or(bare, |(addr, _zone)| addr);
        return bare.parse::<Ipv6Addr>().is_ok().then(|| "[ip]".to_owned());
    }
    caps.name("user").map(|_| "[user]".to_owned())
}

#[cfg(test)]
#[path = "scrubber_tests.rs"]
mod tests;
