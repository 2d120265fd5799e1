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
        let out = scrub(&text, &[name]);
        let spaces = |s: &str| s.chars().filter(|c| c.is_whitespace()).count();
        proptest::prop_assert_eq!(spaces(&out), spaces(&text));
    }
}
