//! What a text holds, checked before any pattern is compiled or run: the
//! shortcut that leaves plain words and numbers alone
//! ([`may_need_scrubbing`]), and each pattern's necessary condition
//! ([`Probe`]).

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
    let lower = text.as_bytes();
    let has = |needle: &[u8]| {
        needle.is_empty()
            || lower
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle))
    };
    let keyword = (0..lower.len()).any(|i| {
        let rest = &lower[i..];
        KEYWORDS
            .iter()
            .any(|k| rest.len() >= k.len() && rest[..k.len()].eq_ignore_ascii_case(k.as_bytes()))
    });
    keyword
        || names
            .iter()
            .any(|n| !n.is_ascii() || has(n.trim().as_bytes()))
}

/// What a text holds that the patterns need: each pattern is tried only on
/// a text with every character or word without which it cannot match (a
/// necessary condition, never a sufficient one; the patterns' own
/// case-insensitivity is ASCII-only, as `regex-lite`'s is).
pub(super) struct Probe<'a> {
    text: &'a [u8],
    lower: Vec<u8>,
}

impl<'a> Probe<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self {
            text: text.as_bytes(),
            lower: text.as_bytes().to_ascii_lowercase(),
        }
    }

    /// `text` holds one of `needles` as written.
    fn has(&self, needles: &[&str]) -> bool {
        needles.iter().any(|n| contains(self.text, n.as_bytes()))
    }

    /// `text` holds one of `needles` (lower case) in any ASCII case.
    fn has_any_case(&self, needles: &[&str]) -> bool {
        needles.iter().any(|n| contains(&self.lower, n.as_bytes()))
    }

    pub(super) fn might_match(&self, group: &str) -> bool {
        // Three dots: four pieces.
        if group == "ipv4" {
            return self.text.split(|&b| b == b'.').count() >= 4;
        }
        // A pattern without a condition here is always tried.
        CONDITIONS
            .iter()
            .find(|c| c.group == group)
            .is_none_or(|c| {
                self.has(c.any_of) && (c.keywords.is_empty() || self.has_any_case(c.keywords))
            })
    }
}

/// A pattern's necessary condition: the text holds one of `any_of` as
/// written, and (when given) one of `keywords` in any ASCII case. Data,
/// not code: one loop checks them all.
struct Condition {
    group: &'static str,
    any_of: &'static [&'static str],
    keywords: &'static [&'static str],
}

const SECRET_WORDS: &[&str] = &["pass", "pwd", "token", "secret", "key"];

const CONDITIONS: &[Condition] = &[
    Condition {
        group: "pem",
        any_of: &["-----BEGIN "],
        keywords: &[],
    },
    Condition {
        group: "flag",
        any_of: &["-"],
        keywords: SECRET_WORDS,
    },
    Condition {
        group: "bearer",
        any_of: &[" ", "\t"],
        keywords: &["bearer", "basic", "token"],
    },
    Condition {
        group: "kv",
        any_of: &["=", ":"],
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
    },
    Condition {
        group: "kvspace",
        any_of: &[" ", "\t"],
        keywords: &["password", "secret", "token", "key"],
    },
    Condition {
        group: "jwt",
        any_of: &["eyJ"],
        keywords: &[],
    },
    Condition {
        group: "github",
        any_of: &["gh", "github_pat_"],
        keywords: &[],
    },
    Condition {
        group: "aws",
        any_of: &[
            "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA",
        ],
        keywords: &[],
    },
    Condition {
        group: "slack",
        any_of: &["xox"],
        keywords: &[],
    },
    Condition {
        group: "vendor",
        any_of: &["sk-", "sk_", "pk_", "rk_", "glpat-", "npm_", "AIza"],
        keywords: &[],
    },
    Condition {
        group: "url",
        any_of: &["://"],
        keywords: &[],
    },
    Condition {
        group: "email",
        any_of: &["@"],
        keywords: &[],
    },
    Condition {
        group: "winpath",
        any_of: &[":\\", ":/", "\\\\"],
        keywords: &[],
    },
    Condition {
        group: "varpath",
        any_of: &["%", "$", "~"],
        keywords: &[],
    },
    Condition {
        group: "relpath",
        any_of: &["./", ".\\"],
        keywords: &[],
    },
    Condition {
        group: "pre",
        any_of: &["/"],
        keywords: &[],
    },
    Condition {
        group: "slashes",
        any_of: &["/", "\\"],
        keywords: &[],
    },
    Condition {
        group: "ipv6",
        any_of: &[":"],
        keywords: &[],
    },
];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}
