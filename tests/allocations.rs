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

use rtb_telemetry::{CollectionPolicy, FileSink, MemorySink, NoopSink, TelemetryContext, erased};

struct Counting;

thread_local! {
    // Per thread, so other tests running in parallel do not add to it.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Bytes allocated and not yet freed, by every thread: what the process
/// really holds on the heap.
static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

fn live(delta: usize, sign: isize) {
    let delta = isize::try_from(delta).unwrap_or(isize::MAX);
    LIVE.fetch_add(sign * delta, std::sync::atomic::Ordering::Relaxed);
}

// SAFETY: defers to `System` for every operation; only counts.
#[expect(
    unsafe_code,
    reason = "a global allocator needs an unsafe impl; this is test-only code"
)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        live(layout.size(), 1);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        live(layout.size(), -1);
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        live(new_size, 1);
        live(layout.size(), -1);
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
fn enabled_record_into_noop_sink_allocates_nothing_in_steady_state() {
    let ctx = TelemetryContext::builder()
        .tool("t")
        .tool_version("1")
        .salt(SALT)
        .enabled();
    // The first call makes the event the context keeps and reuses: a box
    // and its five strings.
    let first = allocations(|| ctx.record("build"));
    assert!((1..=6).contains(&first), "{first} allocations");
    for name in ["build", "test", "build"] {
        let n = allocations(|| ctx.record(name));
        assert_eq!(n, 0, "{name}: {n} allocations after the first call");
    }
    // Attributes are the caller's map, moved in: nothing more.
    let attrs = std::collections::HashMap::from([("k".to_owned(), "v".to_owned())]);
    assert_eq!(allocations(|| ctx.record_with_attrs("build", attrs)), 0);
}

rtb_telemetry::catalog! {
    pub catalog Alloc: version 1;
    pub enum Outcome { Ok = "ok", Failed = "failed" }
    pub buckets Files = [0, 1, 10, 100];
    pub event Build = "build" { outcome: Outcome, files: Files, release: bool }
    pub event Test = "test" { outcome: Outcome }
}

/// A typed record allocates no more than `record_with_attrs` with the same
/// attrs (issue 28): once warm, nothing at all, as the same event's
/// strings are reused; by name, the caller's map and its six strings.
#[test]
fn a_typed_record_allocates_no_more_than_the_same_attrs_by_name() {
    let ctx = TelemetryContext::builder()
        .tool("t")
        .tool_version("1")
        .salt(SALT)
        .enabled();
    let build = || Build {
        outcome: Outcome::Ok,
        files: Files(3),
        release: false,
    };
    allocations(|| ctx.record("warm-up"));
    // Once per context: its first typed record notes the catalogue for the
    // OTLP exporter (an entry and the tool's name; with `otlp` only).
    let registration = allocations(|| {
        ctx.record_event(Test {
            outcome: Outcome::Ok,
        })
    });
    assert!(registration <= 6 + 3, "{registration}");
    allocations(|| ctx.record("warm-up"));
    let by_name = allocations(|| {
        let attrs = std::collections::HashMap::from([
            ("outcome".to_owned(), "ok".to_owned()),
            ("files".to_owned(), "1".to_owned()),
            ("release".to_owned(), "false".to_owned()),
        ]);
        ctx.record_with_attrs("build", attrs)
    });
    let first = allocations(|| ctx.record_event(build()));
    let again = allocations(|| ctx.record_event(build()));
    println!("by name: {by_name}, typed: {first} then {again}");
    assert!(first <= by_name, "typed {first} > by name {by_name}");
    assert_eq!(again, 0, "the same event again reuses its strings");
    // Another event, then back: each switch writes its attrs afresh.
    let other = allocations(|| {
        ctx.record_event(Test {
            outcome: Outcome::Failed,
        })
    });
    assert!(other <= by_name);
}

#[test]
fn the_erased_path_costs_at_most_the_boxed_future() {
    let sink: Arc<dyn erased::TelemetrySink> = Arc::new(NoopSink);
    let dynamic: erased::TelemetryContext = erased::TelemetryContext::builder()
        .tool("t")
        .tool_version("1")
        .salt(SALT)
        .sink(sink)
        .policy(CollectionPolicy::Enabled)
        .build();
    allocations(|| dynamic.record("warm-up"));
    let erased_path = allocations(|| dynamic.record("build"));
    println!("erased: {erased_path}");
    assert_eq!(erased_path, 1, "one boxed future per call");
}

#[test]
fn file_sink_write_through_allocates_nothing_in_steady_state() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = TelemetryContext::builder()
        .tool("t")
        .tool_version("1")
        .salt(SALT)
        .sink(FileSink::new(dir.path().join("events.jsonl")))
        .enabled();
    // The first event opens the file and sizes the line buffer.
    allocations(|| ctx.record("warm-up"));
    let file = allocations(|| ctx.record("build"));
    println!("FileSink: {file} allocations");
    assert_eq!(file, 0, "serialising and writing reuse the sink's buffer");
}

#[test]
fn memory_sink_pays_only_for_the_copy_it_keeps() {
    let memory = MemorySink::new();
    let ctx = TelemetryContext::builder()
        .tool("t")
        .tool_version("1")
        .salt(SALT)
        .sink(memory.clone())
        .enabled();
    allocations(|| ctx.record("warm-up"));
    let n = 100;
    let mut total = 0;
    for _ in 0..n {
        total += allocations(|| ctx.record("build"));
    }
    // A copy is five strings; the store's `Vec` grows by doubling.
    let copies = 5 * n;
    assert!(
        (copies..=copies + 8).contains(&total),
        "{total} allocations for {n} events"
    );
    assert_eq!(memory.len(), n + 1);
}

/// A sink whose first `emit` never returns (until the test ends): the
/// worker is stuck, and everything after queues.
struct Stuck(std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>);

impl rtb_telemetry::TelemetrySink for Stuck {
    async fn emit(
        &self,
        _event: &rtb_telemetry::Event,
    ) -> Result<(), rtb_telemetry::TelemetryError> {
        if let Some(rx) = self.0.lock().unwrap().take() {
            let _ = rx.recv();
        }
        Ok(())
    }
}

#[test]
fn a_stuck_sink_holds_at_most_the_byte_bound_whatever_the_events_carry() {
    let (release, rx) = std::sync::mpsc::channel();
    let background =
        rtb_telemetry::Background::new(Stuck(std::sync::Mutex::new(Some(rx)))).unwrap();
    let before = LIVE.load(std::sync::atomic::Ordering::Relaxed);
    let megabyte = "x".repeat(1 << 20);
    for i in 0..1_100 {
        // The caller's event, 1 MiB in its one attr value, dropped after.
        let event = rtb_telemetry::Event::new(format!("e{i}"), "t", "1", "id")
            .with_attr("big", megabyte.as_str());
        let mut cx = Context::from_waker(Waker::noop());
        let emitted = pin!(rtb_telemetry::TelemetrySink::emit(&background, &event)).poll(&mut cx);
        assert!(matches!(emitted, Poll::Ready(Ok(()))));
    }
    let held = LIVE.load(std::sync::atomic::Ordering::Relaxed) - before;
    println!(
        "1,100 events of 1 MiB behind a stuck sink: {} MB held, {} dropped",
        held / 1_000_000,
        background.dropped()
    );
    assert!(
        held < 30_000_000,
        "{held} bytes held: the byte bound (4 MiB) bounds nothing"
    );
    assert!(background.dropped() > 0, "the bound dropped some");
    release.send(()).unwrap();
}

/// A handle of catalogue `C` in report mode, telemetry on, its files in
/// `dir`.
fn report_mode<C: rtb_telemetry::catalog::Catalog>(
    dir: &std::path::Path,
) -> rtb_telemetry::Telemetry<C> {
    let (file, data) = (dir.join("c.json"), dir.join("d"));
    rtb_telemetry::consent::ConsentStore::at("t", &file, &data)
        .enable()
        .unwrap();
    rtb_telemetry::Telemetry::builder("t", "1")
        .catalog::<C>()
        .reports(rtb_telemetry::Reports::weekly())
        .env(rtb_telemetry::Env::from_vars::<_, &str, &str>([]))
        .paths(file, data)
        .init()
}

/// Report mode (issue 30): an increment allocates nothing once its event
/// was counted, whatever its values; the first count of an event makes its
/// table.
#[test]
fn a_report_increment_allocates_nothing_in_steady_state() {
    let dir = tempfile::tempdir().unwrap();
    let telemetry = report_mode::<Alloc>(dir.path());
    assert!(telemetry.is_enabled());
    let sync = |f: &dyn Fn()| {
        let before = ALLOCATIONS.with(Cell::get);
        f();
        ALLOCATIONS.with(Cell::get) - before
    };
    let build = |files| Build {
        outcome: Outcome::Ok,
        files: Files(files),
        release: files % 2 == 0,
    };
    assert!(
        sync(&|| telemetry.record(build(0))) >= 1,
        "the table is made"
    );
    for files in [0, 3, 42, 1_000, 7] {
        let n = sync(&|| telemetry.record(build(files)));
        assert_eq!(n, 0, "{n} allocations counting files={files}");
    }
    let n = sync(&|| {
        telemetry.record(Test {
            outcome: Outcome::Failed,
        });
    });
    assert!(n >= 1, "another event's table");
    assert_eq!(
        sync(&|| telemetry.record(Test {
            outcome: Outcome::Ok
        })),
        0
    );
}

#[cfg(feature = "clap")]
#[allow(
    unreachable_pub,
    reason = "`catalog!` makes its items `pub`, as a tool's are"
)]
mod clap_values {
    use super::*;

    /// A clap value enum whose variants have docs: clap builds help text
    /// each time it names one.
    #[derive(Clone, Copy, clap::ValueEnum)]
    pub enum Format {
        /// Lines of text.
        Text,
        /// JSON.
        Json,
        /// Never named.
        #[value(skip)]
        Hidden,
        /// Tab-separated.
        Tsv,
    }

    rtb_telemetry::catalog! {
        pub catalog Clapped: version 1;
        value_enum Format;
        pub event Export = "export" { format: Format }
    }

    /// A clap value enum's increment allocates nothing once its event was
    /// counted, and lands on the right name (a skipped variant is no
    /// value: not counted).
    #[test]
    fn a_value_enum_increment_allocates_nothing_and_counts_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d");
        let telemetry = report_mode::<Clapped>(dir.path());
        let count = |format| {
            let before = ALLOCATIONS.with(Cell::get);
            telemetry.record(Export { format });
            ALLOCATIONS.with(Cell::get) - before
        };
        assert!(count(Format::Json) >= 1, "the table is made");
        for format in [Format::Text, Format::Tsv, Format::Json, Format::Hidden] {
            assert_eq!(count(format), 0);
        }
        drop(telemetry);
        let counts = std::fs::read_to_string(data.join("report/counts.json")).unwrap();
        for (name, n) in [("json", 2), ("text", 1), ("tsv", 1)] {
            let counter =
                format!(r#"{{"event":"export","attrs":{{"format":"{name}"}},"count":{n}}}"#);
            assert!(counts.contains(&counter), "{counter} in {counts}");
        }
        assert!(!counts.contains("hidden"), "{counts}");
    }
}
