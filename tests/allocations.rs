//! Heap allocations per `record`, counted by a global allocator: a count, not
//! a timing, so it is exact on any machine.
//!
//! Its own test binary, because it replaces the global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use rtb_telemetry::{CollectionPolicy, FileSink, NoopSink, TelemetryContext, erased};

struct Counting;

thread_local! {
    // Per thread, so other tests running in parallel do not add to it.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers to `System` for every operation; only counts.
#[expect(
    unsafe_code,
    reason = "a global allocator needs an unsafe impl; this is test-only code"
)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations made while creating and polling `make()`'s future once;
/// the future must complete in that one poll.
fn allocations<F: Future<Output = Result<(), rtb_telemetry::TelemetryError>>>(
    make: impl FnOnce() -> F,
) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    let mut cx = Context::from_waker(Waker::noop());
    let poll = pin!(make()).poll(&mut cx);
    let after = ALLOCATIONS.with(Cell::get);
    assert!(matches!(poll, Poll::Ready(Ok(()))), "completes in one poll");
    after - before
}

const SALT: &str = "alloc-test";

#[test]
fn the_counter_counts() {
    let before = ALLOCATIONS.with(Cell::get);
    let b = std::hint::black_box(Box::new(7_u64));
    let after = ALLOCATIONS.with(Cell::get);
    drop(b);
    assert_eq!(after - before, 1);
}

#[test]
fn disabled_record_allocates_nothing() {
    let compile_time = TelemetryContext::builder()
        .tool("t")
        .tool_version("1")
        .disabled();
    let run_time = TelemetryContext::builder()
        .tool("t")
        .tool_version("1")
        .salt(SALT)
        .policy(CollectionPolicy::Disabled)
        .build();
    assert_eq!(allocations(|| compile_time.record("build")), 0);
    assert_eq!(allocations(|| run_time.record("build")), 0);
}

#[test]
fn enabled_record_into_noop_sink_allocates_at_most_five_times() {
    let ctx = TelemetryContext::builder()
        .tool("t")
        .tool_version("1")
        .salt(SALT)
        .enabled();
    let n = allocations(|| ctx.record("build"));
    println!("enabled record into NoopSink: {n} allocations");
    // The floor: the event's five owned strings (name, tool, version, id,
    // timestamp). The empty attrs map allocates nothing.
    assert!((1..=5).contains(&n), "{n} allocations");
}

#[test]
fn the_erased_path_costs_at_most_one_allocation_more() {
    let typed = TelemetryContext::builder()
        .tool("t")
        .tool_version("1")
        .salt(SALT)
        .sink(NoopSink)
        .policy(CollectionPolicy::Enabled)
        .build();
    let sink: Arc<dyn erased::TelemetrySink> = Arc::new(NoopSink);
    let dynamic: erased::TelemetryContext = erased::TelemetryContext::builder()
        .tool("t")
        .tool_version("1")
        .salt(SALT)
        .sink(sink)
        .policy(CollectionPolicy::Enabled)
        .build();
    let static_path = allocations(|| typed.record("build"));
    let erased_path = allocations(|| dynamic.record("build"));
    println!("static: {static_path}, erased: {erased_path}");
    assert!(erased_path > 0);
    assert!(
        erased_path <= static_path + 1,
        "static {static_path}, erased {erased_path}"
    );
}

#[test]
fn file_sink_write_through_allocates_nothing_beyond_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = TelemetryContext::builder()
        .tool("t")
        .tool_version("1")
        .salt(SALT)
        .sink(FileSink::new(dir.path().join("events.jsonl")))
        .enabled();
    let noop = TelemetryContext::builder()
        .tool("t")
        .tool_version("1")
        .salt(SALT)
        .enabled();
    // The first event opens the file and sizes the line buffer.
    allocations(|| ctx.record("warm-up"));
    let file = allocations(|| ctx.record("build"));
    let floor = allocations(|| noop.record("build"));
    println!("FileSink: {file} allocations, NoopSink: {floor}");
    assert_eq!(
        file, floor,
        "serialising and writing reuse the sink's buffer"
    );
}
