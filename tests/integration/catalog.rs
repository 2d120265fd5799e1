//! The typed catalogue (issue 28), end to end: typed values on each wire,
//! collectors of two catalogue versions facing clients of the other, and
//! the privacy page's table generated from mytool's declaration.

use std::process::Command;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
use prost::Message as _;
use rtb_telemetry::catalog::{AttrKind, CatalogSpec, Undeclared};
use rtb_telemetry::remote::OtlpSink;
use rtb_telemetry::{Event, MemorySink, TelemetryContext};

use crate::loopback::Server;
use crate::support::block_on;

/// The version a collector deployed last month knows.
mod v1 {
    rtb_telemetry::catalog! {
        pub catalog Tool: version 1;
        /// How a build ended.
        pub enum Outcome { Ok = "ok", Failed = "failed" }
        /// Files read.
        pub buckets Files = [0, 1, 10, 100];
        /// A build ended.
        pub event Build = "build" {
            outcome: Outcome,
            files: Files,
            took: std::time::Duration,
            release: bool,
        }
    }
}

/// The next: a new event, a new enum value, a new attr.
mod v2 {
    rtb_telemetry::catalog! {
        pub catalog Tool: version 2;
        /// How a build ended.
        pub enum Outcome { Ok = "ok", Failed = "failed", Cancelled = "cancelled" }
        /// Files read.
        pub buckets Files = [0, 1, 10, 100];
        /// A build ended.
        pub event Build = "build" {
            outcome: Outcome,
            files: Files,
            took: std::time::Duration,
            release: bool,
            cached: bool,
        }
        /// A deploy ended.
        pub event Deploy = "deploy" { outcome: Outcome }
    }
}

fn context(sink: MemorySink) -> TelemetryContext<MemorySink, rtb_telemetry::Enabled> {
    TelemetryContext::builder()
        .tool("tool")
        .tool_version("2.0.0")
        .salt("s")
        .sink(sink)
        .enabled()
}

/// What a collector receives from `client`, as the JSON wire carries it
/// (and reads back).
fn over_json(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .map(|e| serde_json::from_str(&serde_json::to_string(e).unwrap()).unwrap())
        .collect()
}

/// A collector's catalogue, read from the JSON `show --catalog --json` prints.
fn collector<C: rtb_telemetry::catalog::Catalog>() -> CatalogSpec {
    let json = serde_json::to_string(&CatalogSpec::of::<C>()).unwrap();
    serde_json::from_str(&json).unwrap()
}

#[test]
fn an_older_collector_keeps_what_it_knows_of_a_newer_client() {
    let sink = MemorySink::new();
    let ctx = context(sink.clone());
    block_on(async {
        ctx.record_event(v2::Build {
            outcome: v2::Outcome::Cancelled,
            files: v2::Files(12),
            took: Duration::from_millis(1500),
            release: true,
            cached: false,
        })
        .await
        .unwrap();
        ctx.record_event(v2::Deploy {
            outcome: v2::Outcome::Ok,
        })
        .await
        .unwrap();
    });
    let old = collector::<v1::Tool>();
    let mut kept = Vec::new();
    let mut counted = Vec::new();
    for mut event in over_json(&sink.snapshot()) {
        assert_eq!(event.catalog_version, Some(2));
        match old.filter(&mut event) {
            Ok(dropped) => {
                counted.extend(dropped);
                kept.push(event);
            }
            Err(undeclared) => counted.push(undeclared),
        }
    }
    assert_eq!(kept.len(), 1, "the build is kept: {kept:?}");
    let build = &kept[0];
    assert_eq!(build.attrs["files"], "10");
    assert_eq!(build.attrs["took"], "1500");
    assert_eq!(build.attrs["release"], "true");
    assert!(!build.attrs.contains_key("outcome") && !build.attrs.contains_key("cached"));
    counted.sort_by_key(ToString::to_string);
    assert_eq!(
        counted,
        [
            Undeclared::Value {
                event: "build".into(),
                attr: "outcome".into()
            },
            Undeclared::Attr {
                event: "build".into(),
                attr: "cached".into()
            },
            Undeclared::Event {
                name: "deploy".into()
            },
        ]
    );
}

#[test]
fn a_newer_collector_keeps_everything_an_older_client_sends() {
    let sink = MemorySink::new();
    let ctx = context(sink.clone());
    block_on(async {
        for outcome in [v1::Outcome::Ok, v1::Outcome::Failed] {
            ctx.record_event(v1::Build {
                outcome,
                files: v1::Files(0),
                took: Duration::ZERO,
                release: false,
            })
            .await
            .unwrap();
        }
    });
    let new = collector::<v2::Tool>();
    for mut event in over_json(&sink.snapshot()) {
        let before = event.clone();
        assert_eq!(new.filter(&mut event), Ok(vec![]), "{before:?}");
        assert_eq!(event, before);
    }
}

#[test]
fn a_collector_drops_values_outside_the_declared_sets() {
    let spec = collector::<v1::Tool>();
    let lies = [
        ("files", "12"),  // not a bucket's bound
        ("files", "010"), // not canonical
        ("took", "-1"),   // not a count of milliseconds
        ("took", "1.5"),  // not whole
        ("release", "yes"),
        ("outcome", "OK"),
    ];
    for (key, value) in lies {
        let mut event = Event::new("build", "tool", "1", "00".repeat(32)).with_attr(key, value);
        let dropped = spec.filter(&mut event).unwrap();
        assert_eq!(dropped.len(), 1, "{key}={value} was kept");
        assert!(event.attrs.is_empty());
    }
}

fn any<'a>(attributes: &'a [KeyValue], key: &str) -> &'a Value {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .unwrap_or_else(|| panic!("no attribute {key} in {attributes:?}"))
}

#[test]
fn otlp_carries_typed_values_and_the_catalogue_version() {
    let server = Server::start(vec![]);
    let otlp = OtlpSink::builder(&server.url).build().unwrap();
    let ctx = TelemetryContext::builder()
        .tool("typed-tool")
        .tool_version("1.0.0")
        .salt("s")
        .sink(otlp)
        .enabled();
    block_on(async {
        ctx.record_event(v1::Build {
            outcome: v1::Outcome::Ok,
            files: v1::Files(42),
            took: Duration::from_millis(1234),
            release: true,
        })
        .await
        .unwrap();
        ctx.record_with_attrs("plain", [("files".into(), "42".into())].into())
            .await
            .unwrap();
        ctx.flush().await.unwrap();
    });
    let requests = server.requests();
    let export = ExportLogsServiceRequest::decode(requests[0].body.as_slice()).unwrap();
    assert_eq!(export.resource_logs.len(), 2, "typed and untyped apart");
    let typed = &export.resource_logs[0];
    let resource = &typed.resource.as_ref().unwrap().attributes;
    assert_eq!(any(resource, "rtb.catalog.version"), &Value::IntValue(1));
    let record = &typed.scope_logs[0].log_records[0];
    assert_eq!(record.event_name, "build");
    let attrs = &record.attributes;
    assert_eq!(any(attrs, "files"), &Value::IntValue(10));
    assert_eq!(any(attrs, "took"), &Value::IntValue(1234));
    assert_eq!(any(attrs, "release"), &Value::BoolValue(true));
    assert_eq!(any(attrs, "outcome"), &Value::StringValue("ok".into()));

    let plain = &export.resource_logs[1];
    let resource = &plain.resource.as_ref().unwrap().attributes;
    assert!(!resource.iter().any(|kv| kv.key == "rtb.catalog.version"));
    let attrs = &plain.scope_logs[0].log_records[0].attributes;
    assert_eq!(any(attrs, "files"), &Value::StringValue("42".into()));
}

#[test]
fn json_keeps_string_attrs_and_names_the_catalogue_version() {
    let sink = MemorySink::new();
    block_on(context(sink.clone()).record_event(v1::Build {
        outcome: v1::Outcome::Failed,
        files: v1::Files(1),
        took: Duration::from_micros(2500),
        release: false,
    }))
    .unwrap();
    let line = serde_json::to_string(&sink.snapshot()[0]).unwrap();
    assert!(
        line.ends_with(
            r#""attrs":{"files":"1","outcome":"failed","release":"false","took":"2"},"catalog_version":1}"#
        ),
        "{line}"
    );
}

/// Runs mytool (which declares its catalogue) with a home of its own.
fn mytool(args: &[&str]) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(crate::support::mytool())
        .args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap()
}

#[test]
fn mytool_shows_its_catalogue_and_its_json_reads_back() {
    let text = mytool(&["telemetry", "show", "--catalog"]);
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    for line in [
        "mytool can send these events (catalogue version 1), and nothing else:",
        "  run — `mytool run` ended.",
        "      format: one of text, json — The output format asked for (`--format`).",
        "      inputs: a count by bucket: 0, 1, 2–9, 10–99, 100+",
        "  usage_error — clap refused the command line",
        "      place: a place in the code, crate@version/path:line:column",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
    let json = mytool(&["telemetry", "show", "--catalog", "--json"]);
    assert!(json.status.success());
    let spec: CatalogSpec = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(spec.version, 1);
    let names: Vec<&str> = spec.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["run", "usage_error", "help", "version", "panic"]);
    // The panic event's kinds read back as what they are (a collector
    // checks places and counts by them).
    let panic = spec.event("panic").unwrap();
    let kinds: Vec<&AttrKind> = panic.attrs.iter().map(|a| &a.kind).collect();
    assert_eq!(kinds, [&AttrKind::Place, &AttrKind::Count]);
    // `--json` alone is clap's usage error, not a silent `show`.
    assert_eq!(
        mytool(&["telemetry", "show", "--json"]).status.code(),
        Some(2)
    );
}

/// docs/privacy.md's table for mytool is `to_markdown()` of what mytool
/// declares: any difference (a changed declaration, a hand edit) fails.
#[test]
fn the_privacy_pages_table_is_generated_from_mytools_catalogue() {
    let json = mytool(&["telemetry", "show", "--catalog", "--json"]);
    let spec: CatalogSpec = serde_json::from_slice(&json.stdout).unwrap();
    let expected = spec.to_markdown();
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/privacy.md")).unwrap();
    let (start, end) = ("<!-- catalog: mytool -->\n", "<!-- /catalog -->");
    let from = page.find(start).expect("the table's start marker") + start.len();
    let to = from + page[from..].find(end).expect("the table's end marker");
    assert_eq!(
        &page[from..to],
        expected,
        "docs/privacy.md's table differs from mytool's catalogue; it should read:\n{expected}"
    );
}

/// The detached uploader — the tool started again — encodes OTLP with the
/// catalogue's types, as the run itself would (the adversary found it sent
/// strings: the catalogue was noted only after the uploader had run).
#[test]
fn the_uploader_sends_typed_otlp_values() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(vec![]);
    let run = |args: &[&str]| {
        Command::new(crate::support::mytool())
            .args(args)
            .env_clear()
            .env("HOME", home.path())
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &server.url)
            .output()
            .unwrap()
    };
    assert!(run(&["telemetry", "enable"]).status.success());
    assert!(run(&["run", "a", "b", "--format", "json"]).status.success());
    let start = std::time::Instant::now();
    while server.requests().is_empty() && start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let requests = server.requests();
    assert!(!requests.is_empty(), "the uploader sent nothing");
    assert_eq!(requests[0].path, "/v1/logs");
    let export = ExportLogsServiceRequest::decode(requests[0].body.as_slice()).unwrap();
    let logs = &export.resource_logs[0];
    let resource = &logs.resource.as_ref().unwrap().attributes;
    assert_eq!(any(resource, "rtb.catalog.version"), &Value::IntValue(1));
    let attrs = &logs.scope_logs[0].log_records[0].attributes;
    assert_eq!(any(attrs, "inputs"), &Value::IntValue(2));
    assert_eq!(any(attrs, "dry_run"), &Value::BoolValue(false));
    assert_eq!(any(attrs, "format"), &Value::StringValue("json".into()));
    assert!(matches!(any(attrs, "duration_ms"), Value::IntValue(_)));
}

/// Two catalogues' events of the same name through one context: each
/// carries its own attrs, never the other's left in the reused event.
#[test]
fn events_of_the_same_name_keep_their_own_attrs() {
    mod other {
        rtb_telemetry::catalog! {
            pub catalog Other: version 1;
            pub event Build = "build" { cached: bool }
        }
    }
    let sink = MemorySink::new();
    let ctx = context(sink.clone());
    let v1 = || v1::Build {
        outcome: v1::Outcome::Ok,
        files: v1::Files(1),
        took: Duration::ZERO,
        release: true,
    };
    block_on(async {
        ctx.record_event(v1()).await.unwrap();
        ctx.record_event(other::Build { cached: true })
            .await
            .unwrap();
        ctx.record_with_attrs("build", [("x".into(), "y".into())].into())
            .await
            .unwrap();
        ctx.record_event(v1()).await.unwrap();
    });
    let keys: Vec<Vec<String>> = sink
        .snapshot()
        .iter()
        .map(|e| {
            let mut k: Vec<String> = e.attrs.keys().cloned().collect();
            k.sort();
            k
        })
        .collect();
    assert_eq!(
        keys,
        [
            vec!["files", "outcome", "release", "took"],
            vec!["cached"],
            vec!["x"],
            vec!["files", "outcome", "release", "took"],
        ]
    );
}

/// A tool that takes subcommands it does not define (`git foo`): what the
/// user typed there is never a value; it is named `(external)`, a value
/// the catalogue declares.
#[test]
fn an_external_subcommand_is_never_named() {
    use clap::Parser;
    use rtb_telemetry::catalog::{AttrKind, AttrValue, CommandName};

    #[derive(Parser)]
    #[command(name = "gitlike", allow_external_subcommands = true)]
    enum Cli {
        Status,
        #[command(external_subcommand)]
        Other(Vec<String>),
    }
    let dir = tempfile::tempdir().unwrap();
    let telemetry = rtb_telemetry::Telemetry::builder("gitlike", "1.0.0")
        .env(rtb_telemetry::Env::from_vars::<_, &str, &str>([]))
        .paths(dir.path().join("c.json"), dir.path().join("d"))
        .init();
    let typed = "/home/ada/secret-project token=abcdef1234567890";
    let parsed = telemetry
        .try_parse_from::<Cli, _, _>(["gitlike", typed, "x"])
        .unwrap();
    assert_eq!(parsed.command, "(external)");
    // The tool still gets what was typed; telemetry does not.
    assert!(matches!(&parsed.cli, Cli::Other(args) if args[0] == typed));
    let known = telemetry
        .try_parse_from::<Cli, _, _>(["gitlike", "status"])
        .unwrap();
    assert_eq!(known.command, "status");
    assert_eq!(
        <CommandName<Cli> as AttrValue>::kind(),
        AttrKind::Enum(vec!["(external)".into(), "status".into()])
    );
}

/// A clap value that is skipped, or a name a catalogue refuses (a
/// terminal's escape sequence), is never written.
#[test]
fn only_declared_value_enum_names_are_written() {
    use rtb_telemetry::catalog::{AttrKind, AttrValue};

    #[derive(Clone, Copy, clap::ValueEnum)]
    enum Mode {
        Fast,
        #[value(skip)]
        Hidden,
        #[value(name = "\u{1b}]0;pwned\u{7}")]
        Escape,
    }
    rtb_telemetry::catalog! {
        pub catalog Modes: version 1;
        value_enum Mode;
        pub event Ran = "ran" { mode: Mode }
    }
    assert_eq!(
        <Mode as AttrValue>::kind(),
        AttrKind::Enum(vec!["fast".into()])
    );
    let sink = MemorySink::new();
    let ctx = context(sink.clone());
    block_on(async {
        for mode in [Mode::Fast, Mode::Hidden, Mode::Escape] {
            ctx.record_event(Ran { mode }).await.unwrap();
        }
    });
    let values: Vec<String> = sink
        .snapshot()
        .iter()
        .map(|e| e.attrs["mode"].clone())
        .collect();
    assert_eq!(values, ["fast", "", ""]);
}

/// A tool that declares an event named as one the crate records itself
/// (`help`) keeps its own; the catalogue lists the name once.
#[test]
fn a_declared_event_wins_over_the_crates_own_of_that_name() {
    rtb_telemetry::catalog! {
        pub catalog Helpful: version 1;
        /// The tool's own help event.
        pub event Help = "help" { verbose: bool }
    }
    let dir = tempfile::tempdir().unwrap();
    let telemetry = rtb_telemetry::Telemetry::builder("helpful", "1.0.0")
        .catalog::<Helpful>()
        .env(rtb_telemetry::Env::from_vars::<_, &str, &str>([]))
        .paths(dir.path().join("c.json"), dir.path().join("d"))
        .init();
    let json = telemetry
        .command(rtb_telemetry::consent::TelemetryCommand::Show {
            catalog: true,
            json: true,
        })
        .to_string();
    let spec: CatalogSpec = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> = spec.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["help", "usage_error", "version"]);
    assert_eq!(spec.events[0].attrs[0].name, "verbose");
}
