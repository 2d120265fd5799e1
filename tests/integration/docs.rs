//! The docs name only what exists: no removed type, no `_with` twin, no
//! stale file, and only error codes the crate has.

use std::path::Path;

/// Names the crate had and no longer has.
const GONE: &[&str] = &[
    "IoError",
    "SerdeError",
    "ConfigError",
    "DeliveryError",
    "EnvLookup",
    "effective_policy_with",
    "salt_with",
    "context_with",
    "show_notice_once_with",
    "run_with",
    "from_env_with",
    "debug_mode_with",
    "TelemetryError::Io(",
    "TelemetryError::Serde(",
    "builder::Unset",
    "src/context.rs",
    "src/builder.rs",
    "unix_nanos",
];

/// Every error code, one per `ErrorKind` (the crate's own test keeps this
/// list complete).
const CODES: &[&str] = &[
    "io", "serde", "consent", "config", "delivery", "timeout", "thread",
];

fn documents() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md"), root.join("CHANGELOG.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "md") {
            files.push(path);
        }
    }
    files
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_docs_name_nothing_that_is_gone() {
    for (file, text) in documents() {
        // The changelog's "Breaking" section names what went, on purpose.
        let text = match text.split_once("### Added") {
            Some((breaking, rest)) if file.ends_with("CHANGELOG.md") => {
                let _ = breaking;
                rest.to_owned()
            }
            _ => text,
        };
        if file.ends_with("migrating.md") {
            continue; // it names upstream's API, on purpose
        }
        for gone in GONE {
            assert!(!text.contains(gone), "{file} mentions `{gone}`");
        }
    }
}

#[test]
fn the_docs_name_only_error_codes_that_exist() {
    for (file, text) in documents() {
        for (i, _) in text.match_indices("rtb::telemetry::") {
            let rest = &text[i + "rtb::telemetry::".len()..];
            let code: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
            if code.is_empty() || file.ends_with("migrating.md") {
                continue; // `rtb::telemetry::<kind>`, or upstream's codes
            }
            assert!(
                CODES.contains(&code.as_str()),
                "{file} names rtb::telemetry::{code}"
            );
        }
    }
}

/// Paths the docs show as sample input (what the scrubber rewrites), not
/// as files of the crate.
const EXAMPLE_PATHS: &[&str] = &["src/lib/mod.rs"];

/// Every file path the README and `docs/` name (`src/…`, `tests/…`,
/// `examples/…`, `benches/…`, `docs/…`, `.ci/…`) exists: a moved or
/// renamed file cannot leave the docs pointing at nothing.
#[test]
fn every_path_the_docs_name_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    let mut missing = Vec::new();
    for (file, text) in documents() {
        if file.ends_with("CHANGELOG.md") || file.ends_with("migrating.md") {
            continue; // history, and upstream's layout
        }
        for prefix in ["src/", "tests/", "examples/", "benches/", "docs/", ".ci/"] {
            for (i, _) in text.match_indices(prefix) {
                // Part of a longer path or word (`../shared/…`, `a/src/`).
                let before = text[..i].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || "/._-".contains(c)) {
                    continue;
                }
                let path: String = text[i..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || "/._-".contains(*c))
                    .collect();
                let path = path.trim_end_matches(['.', '-']);
                if path.len() == prefix.len() {
                    continue; // the folder itself, named in prose
                }
                if !EXAMPLE_PATHS.contains(&path) && !root.join(path).exists() {
                    missing.push(format!("{file}: {path}"));
                }
                checked += 1;
            }
        }
    }
    assert!(
        missing.is_empty(),
        "paths named that do not exist:\n{}",
        missing.join("\n")
    );
    assert!(
        checked > 30,
        "only {checked} paths found: is the scan broken?"
    );
}
