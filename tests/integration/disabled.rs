//! Disabled is structural: zero-sized, and never reaches its sink, the clock,
//! or the disk. Polled once without a runtime, so nothing can hide behind an
//! executor.

use std::collections::HashMap;
use std::task::Poll;

use rtb_telemetry::{
    CollectionPolicy, Disabled, FileSink, NoopSink, RuntimePolicy, TelemetryContext,
};
use static_assertions::const_assert_eq;

use crate::support::{PanicSink, SALT, poll_once};

const_assert_eq!(size_of::<TelemetryContext<NoopSink, Disabled>>(), 0);
const_assert_eq!(size_of::<TelemetryContext<PanicSink, Disabled>>(), 0);
// A disabled context drops its sink: even a file sink leaves nothing behind.
const_assert_eq!(size_of::<TelemetryContext<FileSink, Disabled>>(), 0);
// The run-time form is one pointer: `None` when disabled.
const_assert_eq!(
    size_of::<TelemetryContext<NoopSink, RuntimePolicy>>(),
    size_of::<usize>()
);

fn exercise<P: rtb_telemetry::Policy>(ctx: &TelemetryContext<PanicSink, P>) {
    let attrs = HashMap::from([("k".to_string(), "v".to_string())]);
    assert!(matches!(
        poll_once(ctx.record("build")),
        Poll::Ready(Ok(()))
    ));
    assert!(matches!(
        poll_once(ctx.record_with_attrs("build", attrs)),
        Poll::Ready(Ok(()))
    ));
    assert!(matches!(poll_once(ctx.flush()), Poll::Ready(Ok(()))));
}

#[test]
fn compile_time_disabled_never_reaches_its_sink() {
    let ctx = TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.0.0")
        .sink(PanicSink)
        .disabled();
    exercise(&ctx);
    assert!(!ctx.is_enabled());
}

#[test]
fn run_time_disabled_never_reaches_its_sink() {
    let ctx = TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.0.0")
        .salt(SALT)
        .sink(PanicSink)
        .policy(CollectionPolicy::Disabled)
        .build();
    exercise(&ctx);
    assert!(!ctx.is_enabled());
}

#[test]
fn the_panic_sink_would_be_noticed() {
    // Guard against a vacuous proof: an enabled context does reach PanicSink.
    let ctx = TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.0.0")
        .salt(SALT)
        .sink(PanicSink)
        .enabled();
    let reached = std::panic::catch_unwind(|| poll_once(ctx.record("build")));
    assert!(reached.is_err(), "an enabled record must reach the sink");
}

#[test]
fn disabled_contexts_create_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/events.jsonl");
    let compile_time = TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.0.0")
        .sink(FileSink::new(&path))
        .disabled();
    let run_time = TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.0.0")
        .salt(SALT)
        .sink(FileSink::new(&path))
        .policy(CollectionPolicy::Disabled)
        .build();
    for _ in 0..3 {
        assert!(poll_once(compile_time.record("build")).is_ready());
        assert!(poll_once(compile_time.flush()).is_ready());
        assert!(poll_once(run_time.record("build")).is_ready());
        assert!(poll_once(run_time.flush()).is_ready());
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn debug_of_a_disabled_context_shows_no_identity() {
    let ctx = TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.0.0")
        .salt(SALT)
        .policy(CollectionPolicy::Disabled)
        .build();
    let debug = format!("{ctx:?}");
    assert!(debug.contains("collecting: false"), "{debug}");
    assert!(!debug.contains("machine_id"), "{debug}");
}
