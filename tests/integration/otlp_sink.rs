//! `OtlpSink` against a loopback server; bodies decoded with the official
//! OTLP proto types and checked field by field.

use std::time::{Duration, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message as _;
use rtb_telemetry::remote::{OtlpSink, Retry};
use rtb_telemetry::{Env, Event, TelemetrySink};

use crate::loopback::{Answer, Server};
use crate::support::block_on;

fn text(value: Option<&AnyValue>) -> &str {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s,
        other => panic!("expected a string value, got {other:?}"),
    }
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> &'a str {
    let kv = attributes
        .iter()
        .find(|kv| kv.key == key)
        .unwrap_or_else(|| panic!("no attribute {key} in {attributes:?}"));
    text(kv.value.as_ref())
}

fn decode(server: &Server) -> Vec<ExportLogsServiceRequest> {
    server
        .requests()
        .iter()
        .map(|r| ExportLogsServiceRequest::decode(r.body.as_slice()).expect("an OTLP logs request"))
        .collect()
}

#[test]
fn events_become_log_records_under_a_service_resource() {
    let server = Server::start(vec![]);
    let otlp = OtlpSink::builder(&server.url).build().unwrap();
    let at = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_000);
    let a = Event::new("build", "mytool", "1.2.3", "ab".repeat(32))
        .with_attr("outcome", "ok")
        .with_attr("tool", "clash")
        .with_attr("attr.tool", "own")
        .at(at);
    let b = Event::new("test", "mytool", "1.2.3", "ab".repeat(32)).at(at);
    let c = Event::new("init", "mytool", "1.3.0", "cd".repeat(32)).at(at);
    block_on(async {
        for e in [&a, &b, &c] {
            otlp.emit(e).await.unwrap();
        }
        otlp.flush().await.unwrap();
    });

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/logs");
    assert_eq!(
        requests[0].header("content-type"),
        Some("application/x-protobuf")
    );
    let export = &decode(&server)[0];
    assert_eq!(
        export.resource_logs.len(),
        2,
        "one resource per tool version"
    );

    let first = &export.resource_logs[0];
    let resource = first.resource.as_ref().unwrap();
    assert_eq!(attr(&resource.attributes, "service.name"), "mytool");
    assert_eq!(attr(&resource.attributes, "service.version"), "1.2.3");
    let records = &first.scope_logs[0].log_records;
    assert_eq!(records.len(), 2);
    let r = &records[0];
    assert_eq!(text(r.body.as_ref()), "build");
    assert_eq!(r.event_name, "build");
    assert_eq!(r.time_unix_nano, 1_700_000_000_123_456_000);
    assert!(r.observed_time_unix_nano > r.time_unix_nano);
    assert_eq!(attr(&r.attributes, "tool"), "mytool");
    assert_eq!(attr(&r.attributes, "tool_version"), "1.2.3");
    assert_eq!(attr(&r.attributes, "machine_id"), "ab".repeat(32));
    assert_eq!(attr(&r.attributes, "outcome"), "ok");
    assert_eq!(
        attr(&r.attributes, "attr.tool"),
        "clash",
        "a clashing attr is prefixed"
    );
    assert_eq!(
        attr(&r.attributes, "attr.attr.tool"),
        "own",
        "and so is one with the prefix"
    );
    let mut keys: Vec<&str> = r.attributes.iter().map(|a| a.key.as_str()).collect();
    let all = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), all, "attribute keys are unique: {keys:?}");
    assert_eq!(text(records[1].body.as_ref()), "test");

    let second = &export.resource_logs[1];
    let resource = second.resource.as_ref().unwrap();
    assert_eq!(attr(&resource.attributes, "service.version"), "1.3.0");
    assert_eq!(
        attr(
            &second.scope_logs[0].log_records[0].attributes,
            "machine_id"
        ),
        "cd".repeat(32)
    );
}

#[test]
fn the_standard_environment_variables_configure_it() {
    let server = Server::start(vec![]);
    let env = Env::from_vars([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("{}/", server.url)),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=a%2Cb%3Dc, team = blue".to_owned(),
        ),
    ]);
    let otlp = OtlpSink::from_env(&env).unwrap().expect("configured");
    assert_eq!(otlp.endpoint(), format!("{}/v1/logs", server.url));
    block_on(async {
        otlp.emit(&Event::new("e", "t", "1", "m")).await.unwrap();
        otlp.flush().await.unwrap();
    });
    let r = &server.requests()[0];
    assert_eq!(r.header("api-key"), Some("a,b=c"), "percent-decoded");
    assert_eq!(r.header("team"), Some("blue"));
    assert!(
        !format!("{otlp:?}").contains("a,b=c"),
        "header values stay out of Debug"
    );

    // The logs-specific endpoint is used as it is.
    let env = Env::from_vars([("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://c:4318/custom")]);
    let otlp = OtlpSink::from_env(&env).unwrap().unwrap();
    assert_eq!(otlp.endpoint(), "http://c:4318/custom");

    // Disabled, or nothing configured: no sink.
    let disabled = Env::from_vars([
        ("OTEL_SDK_DISABLED", "TRUE"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
    ]);
    assert!(OtlpSink::from_env(&disabled).unwrap().is_none());
    assert!(
        OtlpSink::from_env(&Env::from_vars::<_, &str, &str>([]))
            .unwrap()
            .is_none()
    );

    // A scheme-less gRPC-style value is a clear configuration error.
    let grpc = Env::from_vars([("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317")]);
    let err = OtlpSink::from_env(&grpc).unwrap_err();
    assert_eq!(err.kind(), rtb_telemetry::ErrorKind::Config);
    assert!(err.to_string().contains("no http:// or https://"), "{err}");

    // A malformed header list is a clear error.
    let bad = Env::from_vars([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
    ]);
    let err = OtlpSink::from_env(&bad).unwrap_err();
    assert!(
        err.to_string().contains("OTEL_EXPORTER_OTLP_HEADERS"),
        "{err}"
    );
}

#[test]
fn a_503_then_200_exports_exactly_once() {
    let server = Server::start(vec![Answer::Status(503, vec![])]);
    let otlp = OtlpSink::builder(&server.url)
        .retry(Retry {
            attempts: 3,
            first_delay: Duration::from_millis(20),
            max_delay: Duration::from_secs(1),
        })
        .build()
        .unwrap();
    block_on(async {
        otlp.emit(&Event::new("once", "t", "1", "m")).await.unwrap();
        otlp.flush().await.unwrap();
        otlp.flush().await.unwrap(); // nothing left to send
    });
    let exports = decode(&server);
    assert_eq!(exports.len(), 2);
    assert_eq!(exports[0], exports[1], "the same export, retried once");
}
