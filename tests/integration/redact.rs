//! Redaction before a sink sees the event.

use rtb_telemetry::redact::scrub;
use rtb_telemetry::{Event, MemorySink, Redact, TelemetrySink};

use crate::support::block_on;

fn names() -> Vec<String> {
    vec!["ada".into(), "lovelace".into()]
}

#[test]
fn the_default_scrubber_removes_paths_emails_and_the_user_name() {
    let cases = [
        ("open /etc/passwd failed", "open [path] failed"),
        ("see ~/notes.txt", "see [path]"),
        ("in ./target/debug", "in [path]"),
        ("at C:\\Users\\Ada\\proj", "at [path]"),
        ("at D:/work/proj", "at [path]"),
        ("share \\\\server\\share", "share [path]"),
        ("from https://example.com/x?y=1", "from [url]"),
        ("src/lib/mod.rs:12", "[path]"),
        ("mail ada.l@example.co.uk now", "mail [email] now"),
        ("\"ada@example.com\"", "\"[email]\""),
        ("by Ada Lovelace.", "by [user] [user]."),
        ("ADA did it", "[user] did it"),
        ("branch ada-fix", "branch [user]-fix"),
    ];
    for (input, expected) in cases {
        assert_eq!(scrub(input, &names()), expected, "{input:?}");
    }
}

#[test]
fn ordinary_values_pass_unchanged() {
    for value in [
        "ok",
        "1.2.3",
        "x86_64-unknown-linux-gnu",
        "exit code 2",
        "42ms",
        "build --release",
        "a/b",
        "",
        "  spaced  out  ",
        "naïve café",
    ] {
        assert_eq!(scrub(value, &names()), value);
    }
}

#[test]
fn a_rule_can_rewrite_and_drop_attrs_and_leaves_the_rest_of_the_event() {
    let memory = MemorySink::new();
    let sink = Redact::with_rule(memory.clone(), |key, value| match key {
        "hostname" => None,
        "error" => Some(scrub(value, &["ada".to_string()])),
        _ => Some(value.to_owned()),
    });
    let event = Event::new("build", "mytool", "1.0.0", "ab".repeat(32))
        .with_attr("hostname", "ada-laptop")
        .with_attr("error", "ada: cannot read /tmp/x")
        .with_attr("outcome", "failed");
    block_on(sink.emit(&event)).unwrap();
    let got = &memory.snapshot()[0];
    assert_eq!(got.attrs.len(), 2);
    assert!(!got.attrs.contains_key("hostname"));
    assert_eq!(got.attrs["error"], "[user]: cannot read [path]");
    assert_eq!(got.attrs["outcome"], "failed");
    assert_eq!(
        (&got.name, &got.machine_id),
        (&event.name, &event.machine_id)
    );
}

#[cfg(feature = "http")]
#[test]
fn nothing_sensitive_reaches_the_collector() {
    use crate::loopback::Server;
    use rtb_telemetry::remote::HttpSink;

    let server = Server::start(vec![]);
    let http = HttpSink::builder(format!("{}/e", server.url))
        .build()
        .unwrap();
    let sink = Redact::with_rule(http, |_, v| Some(scrub(v, &["ada".to_string()])));
    let event = Event::new("build", "mytool", "1.0.0", "ab".repeat(32))
        .with_attr("error", "ada@example.com could not open /home/ada/x.rs");
    block_on(async {
        sink.emit(&event).await.unwrap();
        sink.flush().await.unwrap();
    });
    let body = String::from_utf8(server.requests()[0].body.clone()).unwrap();
    // Record ids are 32 random hex digits, which may spell "ada": only
    // what the event says is checked.
    let mut records: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    for record in &mut records {
        record["id"] = "".into();
    }
    let body = serde_json::to_string(&records).unwrap();
    for secret in ["ada", "example.com", "/home"] {
        assert!(
            !body.contains(secret),
            "{secret} reached the collector: {body}"
        );
    }
    assert!(body.contains("[email] could not open [path]"), "{body}");
}

proptest::proptest! {
    #[test]
    fn scrubbing_any_text_never_panics_and_keeps_its_whitespace(
        text in "\\PC{0,64}",
        name in "\\PC{3,8}",
    ) {
        // (A Windows profile directory is scrubbed whole, spaces and all:
        // the one place whitespace goes.)
        let lower = text.to_lowercase();
        proptest::prop_assume!(!lower.contains("users") && !lower.contains("settings"));
        let out = scrub(&text, &[name]);
        let spaces = |s: &str| s.chars().filter(|c| c.is_whitespace()).count();
        proptest::prop_assert_eq!(spaces(&out), spaces(&text));
    }

    #[test]
    fn a_windows_profile_with_spaces_leaves_no_part_of_the_name(
        drive in "[A-Za-z]",
        sep in "[\\\\/]",
        users in "[Uu][Ss][Ee][Rr][Ss]|[Dd][Oo]cuments and [Ss]ettings",
        first in "[A-Z][a-z]{2,8}",
        rest in proptest::collection::vec("[A-Z]'?[a-z]{2,8}", 1..3),
        file in "[a-z]{1,8}\\.txt",
        tail in "(|: denied| and more|\\n)",
        form in 0..5u8,
    ) {
        let name = format!("{first} {}", rest.join(" "));
        // As Windows writes it, as `canonicalize` returns it, and as WSL,
        // Git Bash and Cygwin show it.
        let lower = drive.to_ascii_lowercase();
        let path = match form {
            0 => format!("{drive}:{sep}{users}{sep}{name}{sep}{file}"),
            1 => format!("\\\\?\\{drive}:\\{users}\\{name}\\{file}"),
            2 => format!("/mnt/{lower}/Users/{name}/{file}"),
            3 => format!("/{lower}/Users/{name}/{file}"),
            _ => format!("/cygdrive/{lower}/Users/{name}/{file}"),
        };
        let text = format!("failed: {path}{tail}");
        // No name is configured: the path alone must take it.
        let out = scrub(&text, &[]);
        for part in std::iter::once(&first).chain(&rest) {
            proptest::prop_assert!(!out.contains(part.as_str()), "{text:?} -> {out:?}");
        }
        proptest::prop_assert!(out.starts_with("failed: [path]"), "{out:?}");
    }
}

mod properties {
    use proptest::prelude::*;
    use rtb_telemetry::redact::Scrubber;

    /// Characters whose case mapping changes length or folds across
    /// scripts: what broke offset-based matching.
    fn tricky() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("İ".to_owned()),        // lower-cases to two chars
            Just("\u{212A}".to_owned()), // Kelvin sign K, folds to k
            Just("\u{2126}".to_owned()), // Ohm sign Ω, folds to ω
            Just("\u{212B}".to_owned()), // Angstrom sign Å, folds to å
            Just("ẞ".to_owned()),        // capital sharp s
            Just("ß".to_owned()),
            Just("ı".to_owned()),
            Just("ﬃ".to_owned()),
            Just(" ".to_owned()),
            Just("/".to_owned()),
            Just("\\".to_owned()),
            Just(":".to_owned()),
            Just(".".to_owned()),
            Just("@".to_owned()),
            Just("(".to_owned()),
            Just(")".to_owned()),
            Just(",".to_owned()),
            Just("/home/".to_owned()),
            Just("C:\\Users\\".to_owned()),
            Just("~/".to_owned()),
            ".{0,4}",
        ]
    }

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{3,8}",
            Just("åsa".to_owned()),
            Just("ωmega".to_owned()),
            Just("kåre".to_owned()),
            Just("straße".to_owned()),
        ]
    }

    /// The name as it may appear: any case per character.
    fn spelled(name: &str, mask: u64) -> String {
        name.chars()
            .enumerate()
            .map(|(i, c)| {
                if mask >> (i % 64) & 1 == 1 {
                    c.to_uppercase().collect::<String>()
                } else {
                    c.to_string()
                }
            })
            .collect()
    }

    /// The output with every marker cut out, so the check never finds the
    /// name in `[user]` or across two markers.
    fn without_markers(text: &str) -> String {
        let mut text = text.to_owned();
        for marker in ["[user]", "[path]", "[email]", "[url]", "[secret]", "[ip]"] {
            text = text.replace(marker, "\u{0}");
        }
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]

        #[test]
        fn the_name_is_gone_and_nothing_panics(
            name in name(),
            mask in any::<u64>(),
            before in prop::collection::vec(tricky(), 0..6),
            after in prop::collection::vec(tricky(), 0..6),
            twice in any::<bool>(),
        ) {
            let scrubber = Scrubber::new(std::slice::from_ref(&name));
            let word = spelled(&name, mask);
            let mut text = format!("{}{word}{}", before.concat(), after.concat());
            if twice {
                text = format!("{text} {word}/x");
            }
            let out = scrubber.scrub(&text);
            let folded = without_markers(&out).to_lowercase();
            let needle = name.to_lowercase();
            // Only a name spelled with an upper case that lower-cases to more
            // than the original (none of these) could hide; assert it is gone.
            prop_assert!(!folded.contains(&needle), "{text:?} -> {out:?}");
        }

        #[test]
        fn anything_scrubs_without_panicking_and_keeps_clean_text(text in ".{0,200}") {
            let scrubber = Scrubber::new(&["ada".to_owned()]);
            let out = scrubber.scrub(&text);
            // Text with nothing to find comes back unchanged.
            if !out.contains('[') {
                prop_assert_eq!(out, text);
            }
        }
    }

    /// Something the default rule must take out, wherever it appears.
    fn sensitive() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{2,8}@[a-z]{2,8}\\.(com|org|example)",
            "/home/[a-z]{3,8}/[a-z]{1,8}",
            "C:\\\\Users\\\\[A-Za-z]{3,8}\\\\x",
            "10\\.[1-9][0-9]?\\.[1-9][0-9]?\\.[1-9][0-9]?",
            "ghp_[A-Za-z0-9]{24}",
            "https://[a-z]{3,8}\\.example/[a-z]{0,6}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The default `Redact` rule scrubs event names and attr keys as it
        /// does values: amid characters whose case changes length, and in
        /// any place.
        #[test]
        fn names_and_keys_are_scrubbed_like_values(
            secret in sensitive(),
            before in prop::collection::vec(tricky(), 0..4),
            after in prop::collection::vec(tricky(), 0..4),
        ) {
            use rtb_telemetry::{Event, MemorySink, Redact, TelemetrySink};
            let text = format!("{} {secret} {}", before.concat(), after.concat());
            let memory = MemorySink::new();
            let sink = Redact::new(memory.clone());
            let event = Event::new(text.clone(), "t", "1", "id").with_attr(text.clone(), "v");
            crate::support::block_on(sink.emit(&event)).unwrap();
            let seen = &memory.snapshot()[0];
            prop_assert!(!seen.name.contains(&secret), "name {text:?} -> {:?}", seen.name);
            for key in seen.attrs.keys() {
                prop_assert!(!key.contains(&secret), "key {text:?} -> {key:?}");
            }
        }
    }
}
