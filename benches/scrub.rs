//! What scrubbing a run's first attr costs, compilation included: the
//! scrubber as it is (`regex-lite`, names searched by hand), side by side
//! with the one it replaced (`regex`, the same patterns with the names in
//! the expression, compiled the same way), in one run.
//!
//! ```sh
//! cargo bench --bench scrub
//! ```
//!
//! Each iteration builds a scrubber and scrubs one attr, as the first
//! record of a run does; a value with nothing to scrub (`12`) is also
//! measured through `Redact`, which does not compile anything for it.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rtb_telemetry::redact::Scrubber;
use rtb_telemetry::{Event, NoopSink, Redact, TelemetrySink};

/// The scrubber before this change, verbatim.
mod before {
    pub(super) const PATTERNS: &[&str] = &[
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
        r#"(?P<winpath>\b[A-Za-z]:[\\/][^\s"'<>|]*|\\\\[^\s"'<>|]+)"#,
        r#"(?P<varpath>(?:%[A-Za-z_][A-Za-z0-9_]*%|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|~[A-Za-z0-9_.-]*)(?:[\\/][^\s"'<>|]*)?)"#,
        r#"(?P<relpath>\.{1,2}[\\/][^\s"'<>|]*)"#,
        r#"(?P<pre>^|[\s"'(\[<{=,:;])(?P<abspath>/[^\s"'<>|)\]}]*)"#,
        r"(?P<slashes>[\w.-]+(?:[\\/][\w.-]+){2,}(?::\d+)*)",
    ];
    pub(super) const ADDRESSES: &[&str] = &[
        r"(?P<ipv4>\b(?:\d{1,3}\.){3}\d{1,3}\b)",
        r"(?P<ipv6>(?i:\[?(?:[0-9a-f]{1,4}:|:)(?:[0-9a-f]{0,4}:){1,6}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9a-f]{0,4})(?:%[0-9a-z]+)?\]?))",
    ];

    /// Its constructor: the names (escaped, case-insensitive) between the
    /// patterns and the addresses, one expression.
    pub(super) fn compile(names: &[String]) -> regex::Regex {
        let mut parts: Vec<String> = PATTERNS.iter().map(|p| (*p).to_owned()).collect();
        let names: Vec<String> = names.iter().map(|n| regex::escape(n)).collect();
        parts.push(format!("(?P<user>(?i:{}))", names.join("|")));
        parts.extend(ADDRESSES.iter().map(|p| (*p).to_owned()));
        regex::RegexBuilder::new(&parts.join("|"))
            .size_limit(64 << 20)
            .build()
            .unwrap()
    }
}

const ATTR: &str = "cannot open /home/ada/projects/app/src/main.rs: permission denied";

fn first_scrub(c: &mut Criterion) {
    let names = vec!["ada".to_owned(), "lovelace".to_owned()];
    let mut group = c.benchmark_group("first scrub (compile + one attr)");
    group.sample_size(20);
    group.bench_function("before: regex", |b| {
        b.iter(|| {
            let regex = before::compile(black_box(&names));
            black_box(regex.captures_at(black_box(ATTR), 0).map(|c| c.len()))
        });
    });
    group.bench_function("now: regex-lite + name search", |b| {
        b.iter(|| Scrubber::new(black_box(&names)).scrub(black_box(ATTR)));
    });
    group.finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let event =
        Event::new("run", "mytool", "1.0.0", "00".repeat(32)).with_attr("duration_ms", "12");
    c.bench_function(
        "Redact over a number and a plain word (a new sink each time)",
        |b| {
            b.iter(|| runtime.block_on(Redact::new(NoopSink).emit(black_box(&event))));
        },
    );
}

/// Long attrs with many pattern matches and no name in them: each match
/// once searched the rest of the text for a name again (quadratic); now
/// the next name is searched once and kept until passed. Side by side
/// with the old one-pass `regex` (compiled outside the loop, as both are).
fn many_matches(c: &mut Criterion) {
    let names = vec!["ada".to_owned(), "lovelace".to_owned()];
    let before = before::compile(&names);
    let now = Scrubber::new(&names);
    let mut group = c.benchmark_group("scrub ~5 KB, many matches, no name");
    group.sample_size(20);
    for (label, text) in [
        ("'::1 ' x1280", "::1 ".repeat(1280)),
        (
            "log lines with addresses",
            "GET /api/v1/items from 10.1.2.3 200; ".repeat(135),
        ),
    ] {
        group.bench_function(format!("before: regex, {label}"), |b| {
            b.iter(|| before.replace_all(black_box(&text), "[x]").len());
        });
        group.bench_function(format!("now: {label}"), |b| {
            b.iter(|| now.scrub(black_box(&text)).len());
        });
    }
    group.finish();
}

criterion_group!(benches, first_scrub, many_matches);
criterion_main!(benches);
