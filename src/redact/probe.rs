//! What a text holds, checked before any pattern is compiled or run: the
//! shortcut that leaves plain words and numbers alone
//! ([`may_need_scrubbing`]), and each pattern's necessary condition
//! ([`Condition`]).

/// Words the secret patterns start from (lower case): a text holding none
/// of them, and none of the characters below, cannot match any pattern.
const KEYWORDS: &[&str] = &[
    "pass",
    "pwd",
    "token",
    "secret",
    "key",
    "access",
    "private",
    "client",
    "credential",
    "auth",
    "cookie",
    "session",
    "bearer",
    "basic",
    "eyj",
    "gh",
    "github",
    "xox",
    "sk-",
    "sk_",
    "pk_",
    "rk_",
    "glpat",
    "npm_",
    "aiza",
    "akia",
    "asia",
    "agpa",
    "aida",
    "aroa",
    "anpa",
    "anva",
    "aipa",
    "begin",
];

/// `false` only when `text` certainly holds nothing the default rule
/// would change, so the scrubber need not be compiled for it: short
/// ASCII text of letters, digits, spaces and `_ - . ,`, with no run of 16
/// or more letters and digits (a token), fewer than three dots (an IPv4
/// address has three), none of the secret keywords, and none of the
/// user's names (ASCII, any case). Every path, URL, address and e-mail
/// needs a character outside that set. Anything else (non-ASCII text, a
/// non-ASCII name) goes to the scrubber.
pub(crate) fn may_need_scrubbing(text: &str, names: &[String]) -> bool {
    if text.len() > 256 || !text.is_ascii() {
        return true;
    }
    let mut run = 0;
    let mut dots = 0;
    for b in text.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => {
                run += 1;
                if run >= 16 {
                    return true;
                }
            }
            b' ' | b'_' | b'-' | b',' | b'.' => {
                run = 0;
                dots += usize::from(b == b'.');
            }
            _ => return true,
        }
    }
    if dots >= 3 {
        return true;
    }
    let text = text.as_bytes();
    KEYWORDS
        .iter()
        .any(|k| contains_any_case(text, k.as_bytes()))
        || names
            .iter()
            .any(|n| !n.is_ascii() || contains_any_case(text, n.trim().as_bytes()))
}

/// A pattern's necessary condition: a text it could match holds one of
/// `any_of` as written, at least `dots` dots, and (when given) one of
/// `keywords` in any ASCII case (the patterns' own case-insensitivity is
/// ASCII-only, as `regex-lite`'s is). Never sufficient: the pattern
/// decides. Data, not code: one check serves them all.
#[derive(Debug)]
pub(super) struct Condition {
    group: &'static str,
    any_of: &'static [&'static str],
    keywords: &'static [&'static str],
    dots: usize,
}

impl Condition {
    /// The condition of the pattern whose capture group is `group`; `None`
    /// (always tried) for a pattern without one.
    pub(super) fn of(group: &str) -> Option<&'static Self> {
        CONDITIONS.iter().find(|c| c.group == group)
    }

    /// Whether `text` could hold a match.
    pub(super) fn holds(&self, text: &str) -> bool {
        let text = text.as_bytes();
        self.any_of.iter().any(|n| contains(text, n.as_bytes()))
            && (self.dots == 0
                || text
                    .iter()
                    .filter(|&&b| b == b'.')
                    .nth(self.dots - 1)
                    .is_some())
            && (self.keywords.is_empty()
                || self
                    .keywords
                    .iter()
                    .any(|k| contains_any_case(text, k.as_bytes())))
    }
}

const fn needs(group: &'static str, any_of: &'static [&'static str]) -> Condition {
    Condition {
        group,
        any_of,
        keywords: &[],
        dots: 0,
    }
}

const SECRET_WORDS: &[&str] = &["pass", "pwd", "token", "secret", "key"];
const BLANKS: &[&str] = &[" ", "\t"];

const CONDITIONS: &[Condition] = &[
    needs("pem", &["-----BEGIN "]),
    Condition {
        keywords: SECRET_WORDS,
        ..needs("flag", &["-"])
    },
    Condition {
        keywords: &["bearer", "basic", "token"],
        ..needs("bearer", BLANKS)
    },
    Condition {
        keywords: &[
            "pass",
            "pwd",
            "token",
            "secret",
            "key",
            "credential",
            "auth",
            "cookie",
            "session",
        ],
        ..needs("kv", &["=", ":"])
    },
    Condition {
        keywords: &["password", "secret", "token", "key"],
        ..needs("kvspace", BLANKS)
    },
    needs("jwt", &["eyJ"]),
    needs("github", &["gh", "github_pat_"]),
    needs(
        "aws",
        &[
            "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA",
        ],
    ),
    needs("slack", &["xox"]),
    needs(
        "vendor",
        &["sk-", "sk_", "pk_", "rk_", "glpat-", "npm_", "AIza"],
    ),
    needs("url", &["://"]),
    needs("email", &["@"]),
    needs("winpath", &[":\\", ":/", "\\\\"]),
    needs("varpath", &["%", "$", "~"]),
    needs("relpath", &["./", ".\\"]),
    needs("pre", &["/"]),
    needs("slashes", &["/", "\\"]),
    // Three dots.
    Condition {
        dots: 3,
        ..needs("ipv4", &["."])
    },
    needs("ipv6", &[":"]),
];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// `haystack` holds `needle` in any ASCII case (no lower-case copy made).
fn contains_any_case(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}
