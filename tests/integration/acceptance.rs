//! The spec's unit tests T1–T12.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use rtb_telemetry::{
    CollectionPolicy, Disabled, Enabled, Event, FileSink, MachineId, MemorySink, NoopSink,
    RuntimePolicy, TelemetryContext, TelemetrySink, erased,
};
use static_assertions::assert_impl_all;

use crate::support::{PanicSink, SALT, block_on, is_hex64};

fn event(name: &str) -> Event {
    Event::new(name, "mytool", "1.2.3", "ab".repeat(32))
}

fn enabled_into(sink: MemorySink) -> TelemetryContext<MemorySink, Enabled> {
    TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.2.3")
        .salt(SALT)
        .sink(sink)
        .enabled()
}

#[test]
fn t01_telemetry_sink_is_object_safe() {
    let memory = MemorySink::new();
    let sink: Arc<dyn erased::TelemetrySink> = Arc::new(memory.clone());
    let boxed: Box<dyn erased::TelemetrySink> = Box::new(memory.clone());
    block_on(async {
        erased::TelemetrySink::emit(&*sink, &event("a"))
            .await
            .unwrap();
        // Both pointer forms are static sinks again.
        TelemetrySink::emit(&sink, &event("b")).await.unwrap();
        TelemetrySink::emit(&boxed, &event("c")).await.unwrap();
    });
    let names: Vec<_> = memory.snapshot().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["a", "b", "c"]);
}

#[test]
fn t02_noop_sink_emit_is_ok_and_does_nothing_observable() {
    assert_eq!(size_of::<NoopSink>(), 0, "no state to change");
    block_on(async {
        assert!(NoopSink.emit(&event("a")).await.is_ok());
        assert!(NoopSink.flush().await.is_ok());
    });
    // And as the default sink of an enabled context.
    let ctx = TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.2.3")
        .salt(SALT)
        .enabled();
    let _: &TelemetryContext<NoopSink, Enabled> = &ctx;
    block_on(ctx.record("build")).unwrap();
}

#[test]
fn t03_memory_sink_emit_records_the_event() {
    let sink = MemorySink::new();
    let e = event("build").with_attr("outcome", "ok");
    block_on(sink.emit(&e)).unwrap();
    assert_eq!(sink.snapshot(), vec![e]);
    assert_eq!(sink.len(), 1);
    assert!(!sink.is_empty());
    sink.clear();
    assert!(sink.is_empty());
}

#[test]
fn t04_file_sink_appends_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let sink = FileSink::new(&path);
    let (first, second) = (event("init"), event("build").with_attr("k", "v"));
    block_on(async {
        sink.emit(&first).await.unwrap();
        sink.emit(&second).await.unwrap();
    });
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let parsed: Vec<Event> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("a well-formed JSON event"))
        .collect();
    assert_eq!(parsed, [first, second]);
}

#[test]
fn t05_file_sink_creates_parent_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/c/events.jsonl");
    let sink = FileSink::new(&path);
    assert!(!dir.path().join("a").exists(), "new() touches nothing");
    block_on(sink.emit(&event("init"))).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
}

#[test]
fn t06_event_serialises_with_the_expected_field_names() {
    let e = Event::new("build", "mytool", "1.2.3", "ab".repeat(32))
        .with_attr("zeta", "last")
        .with_attr("alpha", "first")
        .with_attr("mid", "dle")
        .at(UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789));
    insta::assert_snapshot!(serde_json::to_string(&e).unwrap());
}

#[test]
fn t07_machine_id_is_hex_64() {
    let id = MachineId::derive(SALT);
    assert!(is_hex64(&id), "{id:?}");
}

#[test]
fn t08_machine_id_is_stable_for_a_fixed_salt() {
    assert_eq!(MachineId::derive(SALT), MachineId::derive(SALT));
    assert_ne!(MachineId::derive(SALT), MachineId::derive("another salt"));
}

#[test]
fn t09_record_emits_through_the_sink_when_enabled() {
    // Compile-time Enabled.
    let sink = MemorySink::new();
    let ctx = enabled_into(sink.clone());
    block_on(ctx.record("build")).unwrap();
    let events = sink.snapshot();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e.name.as_str(), e.tool.as_str(), e.tool_version.as_str()),
        ("build", "mytool", "1.2.3")
    );
    assert_eq!(e.machine_id, MachineId::derive(SALT));
    assert_eq!(e.machine_id, ctx.machine_id());
    assert!(e.attrs.is_empty());

    // Run-time Enabled.
    let sink = MemorySink::new();
    let ctx = TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.2.3")
        .salt(SALT)
        .sink(sink.clone())
        .policy(CollectionPolicy::Enabled)
        .build();
    assert!(ctx.is_enabled());
    block_on(ctx.record("build")).unwrap();
    assert_eq!(sink.len(), 1);
    assert_eq!(sink.snapshot()[0].machine_id, MachineId::derive(SALT));
}

#[test]
fn t10_record_is_a_no_op_when_disabled() {
    // Run-time Disabled, with a sink that would show any emit.
    let sink = MemorySink::new();
    let ctx = TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.2.3")
        .salt(SALT)
        .sink(sink.clone())
        .policy(CollectionPolicy::Disabled)
        .build();
    assert!(!ctx.is_enabled());
    block_on(async {
        ctx.record("build").await.unwrap();
        ctx.record_with_attrs("build", HashMap::from([("k".into(), "v".into())]))
            .await
            .unwrap();
        ctx.flush().await.unwrap();
    });
    assert!(sink.is_empty());

    // `.build()` without a policy is Disabled, like the spec's default.
    let ctx = TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.2.3")
        .sink(PanicSink)
        .build();
    block_on(ctx.record("build")).unwrap();

    // Compile-time Disabled.
    let ctx = TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.2.3")
        .sink(PanicSink)
        .disabled();
    block_on(ctx.record("build")).unwrap();
}

#[test]
fn t11_record_with_attrs_attaches_the_attrs() {
    let sink = MemorySink::new();
    let ctx = enabled_into(sink.clone());
    let attrs = HashMap::from([
        ("outcome".to_string(), "ok".to_string()),
        ("cached".to_string(), "true".to_string()),
    ]);
    block_on(ctx.record_with_attrs("build", attrs.clone())).unwrap();
    assert_eq!(sink.snapshot()[0].attrs, attrs);
}

#[test]
fn t12_telemetry_context_is_clone_send_sync() {
    assert_impl_all!(TelemetryContext<MemorySink, Enabled>: Clone, Send, Sync);
    assert_impl_all!(TelemetryContext<FileSink, RuntimePolicy>: Clone, Send, Sync);
    assert_impl_all!(TelemetryContext<NoopSink, Disabled>: Clone, Send, Sync, Copy);
    assert_impl_all!(erased::TelemetryContext: Clone, Send, Sync);

    // Clones share the sink.
    let sink = MemorySink::new();
    let ctx = enabled_into(sink.clone());
    let clone = ctx.clone();
    std::thread::spawn(move || block_on(clone.record("from a thread")).unwrap())
        .join()
        .unwrap();
    block_on(ctx.record("from main")).unwrap();
    assert_eq!(sink.len(), 2);
}
