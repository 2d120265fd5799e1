//! No secret in any `Debug`: every public builder and sink that can hold a
//! credential, configured with one in every field that can hold it.

use rtb_telemetry::remote::{HttpSink, OtlpSink};
use rtb_telemetry::{Background, Env, Redact, Telemetry};

/// What the secrets are; none may appear in any rendering.
const SECRETS: &[&str] = &[
    "hunter2pw",
    "APIKEY123",
    "BEARERSECRET",
    "OTELHEADER9",
    "topsecretuser",
];

const URL: &str =
    "https://topsecretuser:hunter2pw@collector.example:4318/v1/events?api_key=APIKEY123&x=1";

fn clean(what: &str, shown: &str) {
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{what} shows `{secret}`: {shown}");
    }
}

#[test]
fn no_public_debug_shows_a_secret() {
    let http_builder = HttpSink::builder(URL).header("Authorization", "Bearer BEARERSECRET");
    clean("HttpSinkBuilder", &format!("{http_builder:?}"));
    clean("HttpSinkBuilder {:#?}", &format!("{http_builder:#?}"));
    let http = http_builder.build().unwrap();
    clean("HttpSink", &format!("{http:?}"));
    let background = Background::new(
        HttpSink::builder(URL)
            .header("x-api-key", "BEARERSECRET")
            .build()
            .unwrap(),
    )
    .unwrap();
    clean("Background<HttpSink>", &format!("{background:?}"));
    clean("Redact<HttpSink>", &format!("{:?}", Redact::new(http)));

    let otlp_builder = OtlpSink::builder(URL).header("x-honeycomb-team", "BEARERSECRET");
    clean("OtlpSinkBuilder", &format!("{otlp_builder:#?}"));
    clean("OtlpSink", &format!("{:?}", otlp_builder.build().unwrap()));
    let env = Env::from_vars([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", URL),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=OTELHEADER9"),
        ("MYTOOL_TELEMETRY_ENDPOINT", URL),
    ]);
    clean("Env", &format!("{env:?}"));
    clean(
        "OtlpSink::from_env",
        &format!("{:?}", OtlpSink::from_env(&env).unwrap()),
    );

    let dir = tempfile::tempdir().unwrap();
    let builder = Telemetry::builder("mytool", "1.0.0")
        .endpoint(URL)
        .otlp_endpoint(URL)
        .env(env.clone())
        .paths(dir.path().join("c.json"), dir.path().join("d"));
    clean("TelemetryBuilder", &format!("{builder:#?}"));
    let telemetry = builder.init();
    clean("Telemetry", &format!("{telemetry:?}"));
    let store = rtb_telemetry::consent::ConsentStore::at(
        "mytool",
        dir.path().join("c.json"),
        dir.path().join("d"),
    )
    .with_env(env);
    clean("ConsentStore", &format!("{store:?}"));
    store.enable().unwrap();
    let telemetry = Telemetry::builder("mytool", "1.0.0")
        .endpoint(URL)
        .env(Env::from_vars([("MYTOOL_TELEMETRY_ENDPOINT", URL)]))
        .paths(dir.path().join("c.json"), dir.path().join("d"))
        .detached_upload(false)
        .init();
    let status = telemetry.status();
    clean("StatusReport", &format!("{status:?}"));
    clean("status", &status.to_string());
    telemetry.record("e");
    let err = telemetry.upload_now().unwrap_err();
    clean("TelemetryError", &format!("{err:?}"));
    clean("TelemetryError (Display)", &err.to_string());
    // What `show` prints: the endpoint of each upload, without credentials.
    let shown = telemetry
        .command(rtb_telemetry::consent::TelemetryCommand::Show {
            catalog: false,
            json: false,
        })
        .to_string();
    assert!(shown.contains("last uploads"), "{shown}");
    clean("telemetry show", &shown);
    // An attr held for a timed event is scrubbed only when recorded: its
    // `Debug` shows no value.
    let timed = telemetry.timed("deploy").attr("token", "BEARERSECRET");
    clean("Timed", &format!("{timed:?}"));
    let with = telemetry
        .timed("deploy")
        .attr("key", "APIKEY123")
        .outcome(|_: &Result<(), ()>| "ok".to_owned());
    clean("TimedWith", &format!("{with:?}"));
}
