//! How errors read: every kind, made the way it really happens, rendered by
//! miette and snapshot-tested.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::ErrorKind as IoKind;
use std::time::Duration;

use miette::Diagnostic;
use rtb_telemetry::consent::ConsentStore;
use rtb_telemetry::{Background, ErrorKind, Event, TelemetryError, TelemetrySink};

use crate::support::block_on;

fn render(err: &TelemetryError) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(200);
    let mut out = String::new();
    handler.render_report(&mut out, err).unwrap();
    out
}

/// A sink that never finishes in time, or panics.
struct Stubborn {
    panic: bool,
}

impl TelemetrySink for Stubborn {
    async fn emit(&self, _: &Event) -> Result<(), TelemetryError> {
        assert!(!self.panic, "a sink with a bug");
        std::thread::sleep(Duration::from_millis(300));
        Ok(())
    }
}

fn background_error(panic: bool) -> TelemetryError {
    // A panic's report (with a backtrace) can take a while to print.
    let deadline = Duration::from_millis(if panic { 5000 } else { 50 });
    let sink = Background::builder(Stubborn { panic })
        .flush_deadline(deadline)
        .drain_deadline(Duration::ZERO)
        .spawn()
        .unwrap();
    block_on(sink.emit(&Event::new("e", "t", "1", "id"))).unwrap();
    block_on(sink.flush()).unwrap_err()
}

/// Every kind of error, each made by the failure it describes.
fn every_kind(dir: &std::path::Path) -> Vec<(&'static str, TelemetryError)> {
    let path = "/home/user/.local/share/mytool/telemetry/events.jsonl";
    let mut errors = Vec::new();
    for (action, kind) in [
        ("open", IoKind::PermissionDenied),
        ("open", IoKind::ReadOnlyFilesystem),
        ("create the parent directory of", IoKind::NotFound),
        ("create the parent directory of", IoKind::NotADirectory),
        ("open", IoKind::IsADirectory),
        ("open", IoKind::InvalidInput),
        ("write to", IoKind::StorageFull),
        ("sync", IoKind::Other),
    ] {
        errors.push(("io", TelemetryError::io(action, path, kind.into())));
    }
    errors.push((
        "io, by `?` in a sink",
        TelemetryError::from(std::io::Error::other("disk on fire")),
    ));
    errors.push((
        "serde",
        TelemetryError::serde("event `build`", "key must be a string"),
    ));

    let store = ConsentStore::at("mytool", dir.join("telemetry.json"), dir.join("data"));
    std::fs::write(store.file(), "{ not json").unwrap();
    errors.push(("consent: damaged", store.load().unwrap_err()));
    std::fs::write(store.file(), r#"{"version":7,"state":"enabled"}"#).unwrap();
    errors.push(("consent: newer format", store.enable().unwrap_err()));
    std::fs::remove_file(store.file()).unwrap();
    std::fs::create_dir(store.file()).unwrap();
    errors.push(("consent: unwritable", store.disable().unwrap_err()));

    errors.push((
        "delivery: refused",
        TelemetryError::delivery("https://collector.example/v1/logs", Some(401), "HTTP 401"),
    ));
    errors.push((
        "delivery: unreachable",
        TelemetryError::delivery(
            "https://collector.example/v1/logs",
            None,
            "connection refused",
        ),
    ));
    errors.push(("timeout", background_error(false)));
    errors.push(("thread", background_error(true)));
    #[cfg(feature = "http")]
    errors.push((
        "config",
        rtb_telemetry::remote::HttpSink::builder("ftp://user:pw@collector.example/x?key=s3cret")
            .build()
            .unwrap_err(),
    ));
    errors
}

#[test]
fn every_error_renders_with_what_where_code_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let shown_dir = dir.path().display().to_string();
    let mut all = String::new();
    let mut codes = BTreeSet::new();
    for (label, err) in every_kind(dir.path()) {
        let code = err.code().unwrap().to_string();
        assert_eq!(code, err.kind().code());
        codes.insert(code.clone());
        let text = render(&err).replace(&shown_dir, "<dir>");
        assert!(text.contains(&code), "{text}");
        assert!(text.contains("help:"), "{text}");
        if let Some(path) = err.path() {
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{err}"
            );
        }
        // Credentials never reach a message.
        for secret in ["pw@", "s3cret"] {
            assert!(!text.contains(secret), "{text}");
        }
        writeln!(all, "--- {label}\n{text}").unwrap();
    }
    let expected: &[&str] = if cfg!(feature = "http") {
        &[
            "rtb::telemetry::config",
            "rtb::telemetry::consent",
            "rtb::telemetry::delivery",
            "rtb::telemetry::io",
            "rtb::telemetry::serde",
            "rtb::telemetry::thread",
            "rtb::telemetry::timeout",
        ]
    } else {
        &[
            "rtb::telemetry::consent",
            "rtb::telemetry::delivery",
            "rtb::telemetry::io",
            "rtb::telemetry::serde",
            "rtb::telemetry::thread",
            "rtb::telemetry::timeout",
        ]
    };
    assert_eq!(
        codes.iter().map(String::as_str).collect::<Vec<_>>(),
        expected
    );
    if cfg!(feature = "http") {
        insta::assert_snapshot!(all);
    }
}

#[test]
fn the_kinds_say_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    for (label, err) in every_kind(dir.path()) {
        let expected = match label.split(':').next().unwrap() {
            "io" | "io, by `?` in a sink" => ErrorKind::Io,
            "serde" => ErrorKind::Serde,
            "consent" => ErrorKind::Consent,
            "delivery" => ErrorKind::Delivery,
            "timeout" => ErrorKind::Timeout,
            "thread" => ErrorKind::Thread,
            "config" => ErrorKind::Config,
            other => panic!("unlabelled {other}"),
        };
        assert_eq!(err.kind(), expected, "{label}: {err}");
    }
    // A consent problem is not a sink I/O error.
    let store = ConsentStore::at("t", dir.path().join("c.json"), dir.path().join("d"));
    std::fs::write(store.file(), "[]").unwrap();
    let err = store.load().unwrap_err();
    assert!(!err.to_string().contains("sink"), "{err}");
    assert!(!err.help().unwrap().to_string().contains("telemetry path"));
}
