//! The seed's code, as the spec (rtb-telemetry v0.1, `shared/spec`) writes
//! it. Nothing here differs from the spec's usage but the `use` lines: the
//! spec's `TelemetrySink` and `TelemetryContext` are this crate's `erased`
//! ones. If this file stops compiling, code written against the seed broke.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use miette::Diagnostic;
use rtb_telemetry::erased::{TelemetryContext, TelemetrySink};
use rtb_telemetry::{
    CollectionPolicy, Event, FileSink, MachineId, MemorySink, NoopSink, TelemetryError,
};

// §3.3: a custom sink, `#[async_trait]`, `flush` left to its default.
struct CountingSink {
    count: AtomicUsize,
}

#[async_trait::async_trait]
impl TelemetrySink for CountingSink {
    async fn emit(&self, _event: &Event) -> Result<(), TelemetryError> {
        self.count.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

// `?` on a `std::io::Error` inside a sink (the spec's `Io(#[from] io::Error)`).
struct LogSink {
    path: PathBuf,
}

#[async_trait::async_trait]
impl TelemetrySink for LogSink {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(file, "{}", event.name)?;
        Ok(())
    }
}

// §3.5: the context stored in a struct, without type parameters.
struct App {
    telemetry: TelemetryContext,
}

impl App {
    fn new(sink: Arc<dyn TelemetrySink>, consent: CollectionPolicy) -> Self {
        Self {
            telemetry: TelemetryContext::builder()
                .tool("mytool")
                .tool_version("1.0.0")
                .salt("mytool-salt")
                .sink(sink)
                .policy(consent)
                .build(),
        }
    }
}

#[test]
fn t1_sink_is_object_safe() {
    let _erased: Arc<dyn TelemetrySink> = Arc::new(NoopSink);
}

#[tokio::test]
async fn a_concrete_sink_in_an_arc_goes_into_a_struct_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let app = App {
        telemetry: TelemetryContext::builder()
            .tool("mytool")
            .tool_version("1.0.0")
            .salt("mytool-salt")
            .sink(Arc::new(FileSink::new(&path)))
            .policy(CollectionPolicy::Enabled)
            .build(),
    };
    app.telemetry.record("init").await.unwrap();
    app.telemetry.flush().await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
}

#[tokio::test]
async fn the_seeds_unit_test_shapes() {
    // T9 / T11: an `Arc`'d memory sink, the context not annotated.
    let sink = Arc::new(MemorySink::new());
    let ctx = TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.0.0")
        .salt("t9-salt")
        .sink(sink.clone())
        .policy(CollectionPolicy::Enabled)
        .build();
    ctx.record("test.enabled").await.unwrap();
    let mut attrs = HashMap::new();
    attrs.insert("command".to_string(), "deploy".to_string());
    ctx.record_with_attrs("test.attrs", attrs).await.unwrap();
    assert_eq!(sink.len(), 2);
    assert_eq!(sink.snapshot()[1].attrs["command"], "deploy");
    assert_eq!(sink.snapshot()[0].machine_id, MachineId::derive("t9-salt"));

    // T10: the policy defaults to Disabled, and then no salt is needed.
    let sink = Arc::new(MemorySink::new());
    let ctx = TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.0.0")
        .sink(sink.clone())
        .build();
    ctx.record("should.not.emit").await.unwrap();
    assert!(sink.is_empty());
}

#[tokio::test]
async fn custom_sinks_written_as_the_spec_writes_them() {
    let counting = Arc::new(CountingSink {
        count: AtomicUsize::new(0),
    });
    let app = App::new(counting.clone(), CollectionPolicy::Enabled);
    app.telemetry.record("one").await.unwrap();
    app.telemetry.flush().await.unwrap(); // the default flush
    assert_eq!(counting.count.load(Ordering::SeqCst), 1);

    let dir = tempfile::tempdir().unwrap();
    let log = LogSink {
        path: dir.path().join("log.txt"),
    };
    let app = App::new(Arc::new(log), CollectionPolicy::Enabled);
    app.telemetry.record("logged").await.unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("log.txt")).unwrap(),
        "logged\n"
    );
}

#[tokio::test]
async fn errors_are_matched_by_the_spec_codes() {
    let dir = tempfile::tempdir().unwrap();
    // A sink whose `?` meets a directory where its file should be.
    let log = LogSink {
        path: dir.path().to_path_buf(),
    };
    let app = App::new(Arc::new(log), CollectionPolicy::Enabled);
    let err = app.telemetry.record("x").await.unwrap_err();
    match err.code().map(|c| c.to_string()).as_deref() {
        Some("rtb::telemetry::io") => {}
        other => panic!("expected rtb::telemetry::io, got {other:?}: {err}"),
    }
    let serde = TelemetryError::serde("event `x`", "bad");
    assert_eq!(serde.code().unwrap().to_string(), "rtb::telemetry::serde");
}

#[test]
fn t12_context_is_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync>() {}
    assert_traits::<TelemetryContext>();
}
