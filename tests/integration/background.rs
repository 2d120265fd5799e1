//! `Background`: enqueue-only emit, bounded queue, bounded flush and exit.
//!
//! The time bounds asserted here are hang checks with a 10x margin over the
//! configured deadline, not speed measurements.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use rtb_telemetry::{Background, ErrorKind, Event, MemorySink, TelemetryError, TelemetrySink};

use crate::support::{block_on, park_on, poll_once};

fn event(name: &str) -> Event {
    Event::new(name, "mytool", "1.0.0", "ab".repeat(32))
}

/// A sink whose every call blocks its thread for `delay`.
#[derive(Clone)]
struct SlowSink {
    delay: Duration,
    seen: Arc<AtomicUsize>,
}

impl TelemetrySink for SlowSink {
    async fn emit(&self, _: &Event) -> Result<(), TelemetryError> {
        std::thread::sleep(self.delay);
        self.seen.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn flush(&self) -> Result<(), TelemetryError> {
        std::thread::sleep(self.delay);
        Ok(())
    }
}

/// A sink that holds its first `emit` until the test releases it.
#[derive(Clone)]
struct GateSink {
    gate: Arc<Barrier>,
    first: Arc<AtomicUsize>,
    memory: MemorySink,
}

impl TelemetrySink for GateSink {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        if self.first.fetch_add(1, Ordering::SeqCst) == 0 {
            self.gate.wait();
        }
        self.memory.emit(event).await
    }
}

#[test]
fn works_without_any_runtime() {
    let memory = MemorySink::new();
    let sink = Background::new(memory.clone()).unwrap();
    for i in 0..10 {
        assert!(poll_once(sink.emit(&event(&i.to_string()))).is_ready());
    }
    // `flush` suspends until the thread answers: a plain thread-parking
    // loop (no runtime) drives it.
    park_on(sink.flush()).unwrap();
    assert_eq!(memory.len(), 10);
}

#[test]
fn works_on_current_thread_and_multi_thread_runtimes() {
    let memory = MemorySink::new();
    let sink = Background::new(memory.clone()).unwrap();
    block_on(async {
        sink.emit(&event("current")).await.unwrap();
        sink.flush().await.unwrap();
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|t| {
                let sink = sink.clone();
                tokio::spawn(async move { sink.emit(&event(&format!("multi-{t}"))).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        sink.flush().await.unwrap();
    });
    assert_eq!(memory.len(), 5);
}

#[test]
fn a_full_queue_drops_the_newest_counts_it_and_stays_bounded() {
    let gate = Arc::new(Barrier::new(2));
    let memory = MemorySink::new();
    let inner = GateSink {
        gate: Arc::clone(&gate),
        first: Arc::new(AtomicUsize::new(0)),
        memory: memory.clone(),
    };
    let sink = Background::builder(inner).capacity(4).spawn().unwrap();
    // The first event is taken by the thread and held at the gate; give it
    // a moment to be taken, then the queue holds at most 4 more.
    block_on(sink.emit(&event("0"))).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    for i in 1..100 {
        block_on(sink.emit(&event(&i.to_string()))).unwrap(); // never blocks, never errors
    }
    gate.wait();
    // The flush is honest: not everything accepted was delivered.
    let err = block_on(sink.flush()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Delivery, "{err:?}");
    assert!(
        err.to_string()
            .contains("dropped because the background queue was full"),
        "{err}"
    );
    let delivered = memory.len();
    assert!(
        delivered <= 1 + 4,
        "memory is bounded by the queue: {delivered}"
    );
    assert_eq!(
        delivered as u64 + sink.dropped(),
        100,
        "every event delivered or counted"
    );
    // The oldest are kept, the newest dropped.
    let names: Vec<String> = memory.snapshot().into_iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        (0..delivered).map(|i| i.to_string()).collect::<Vec<_>>()
    );
}

#[test]
fn flush_gives_up_at_its_deadline() {
    let inner = SlowSink {
        delay: Duration::from_secs(30),
        seen: Arc::new(AtomicUsize::new(0)),
    };
    let deadline = Duration::from_millis(200);
    let sink = Background::builder(inner)
        .flush_deadline(deadline)
        .drain_deadline(Duration::from_millis(100))
        .spawn()
        .unwrap();
    block_on(sink.emit(&event("stuck"))).unwrap();
    let start = Instant::now();
    let err = block_on(sink.flush()).unwrap_err();
    let waited = start.elapsed();
    assert!(waited >= deadline, "waited the deadline: {waited:?}");
    assert!(waited < deadline * 10, "bounded: {waited:?}");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(err.to_string().contains("did not finish within"), "{err}");
    assert!(err.to_string().contains("stay queued"), "{err}");
    assert_eq!(err.status(), None);
}

#[test]
fn dropping_the_last_handle_waits_at_most_the_drain_deadline() {
    let inner = SlowSink {
        delay: Duration::from_secs(30),
        seen: Arc::new(AtomicUsize::new(0)),
    };
    let deadline = Duration::from_millis(300);
    let sink = Background::builder(inner)
        .drain_deadline(deadline)
        .spawn()
        .unwrap();
    block_on(sink.emit(&event("stuck"))).unwrap();
    let start = Instant::now();
    drop(sink);
    let waited = start.elapsed();
    assert!(waited < deadline * 10, "exit is bounded: {waited:?}");
}

#[test]
fn dropping_the_last_handle_delivers_what_is_queued() {
    let seen = Arc::new(AtomicUsize::new(0));
    let inner = SlowSink {
        delay: Duration::from_millis(1),
        seen: Arc::clone(&seen),
    };
    let sink = Background::new(inner).unwrap();
    let clone = sink.clone();
    for i in 0..20 {
        block_on(sink.emit(&event(&i.to_string()))).unwrap();
    }
    drop(sink);
    drop(clone);
    assert_eq!(seen.load(Ordering::SeqCst), 20);
}

/// A sink that fails every emit.
struct Failing;

impl TelemetrySink for Failing {
    async fn emit(&self, _: &Event) -> Result<(), TelemetryError> {
        Err(TelemetryError::delivery(
            "http://collector.invalid",
            Some(503),
            "HTTP 503",
        ))
    }
}

#[test]
fn flush_is_ok_only_when_everything_accepted_was_delivered() {
    let sink = Background::new(Failing).unwrap();
    block_on(sink.emit(&event("lost"))).unwrap(); // accepted: never fails the caller
    let err = block_on(sink.flush()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Delivery, "{err:?}");
    assert_eq!(err.status(), Some(503));
    // Nothing new since: the next flush has nothing to report.
    block_on(sink.flush()).unwrap();
}

#[test]
fn a_panicking_sink_costs_its_event_not_the_thread() {
    struct Panicky(AtomicUsize, MemorySink);
    impl TelemetrySink for Panicky {
        async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
            assert!(
                self.0.fetch_add(1, Ordering::SeqCst) != 0,
                "the first event panics"
            );
            self.1.emit(event).await
        }
    }
    let memory = MemorySink::new();
    let sink = Background::new(Panicky(AtomicUsize::new(0), memory.clone())).unwrap();
    block_on(sink.emit(&event("boom"))).unwrap();
    let err = block_on(sink.flush()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Thread, "{err:?}");
    assert!(err.to_string().contains("panicked"), "{err}");
    // The thread is alive: later events still go through.
    block_on(sink.emit(&event("after"))).unwrap();
    block_on(sink.flush()).unwrap();
    assert_eq!(memory.snapshot()[0].name, "after");
}

#[test]
fn the_queue_is_bounded_in_bytes_and_long_values_are_cut() {
    let gate = Arc::new(Barrier::new(2));
    let memory = MemorySink::new();
    let first = Arc::new(AtomicUsize::new(0));
    let inner = GateSink {
        gate: Arc::clone(&gate),
        first: Arc::clone(&first),
        memory: memory.clone(),
    };
    // 256 KiB of queue; each event carries 200 attrs of 1 KiB and one of
    // 1 MiB (about 210 KiB after the per-value cut), so at most one fits
    // behind the stuck first.
    let sink = Background::builder(inner)
        .max_bytes(64 * 1024 * 4)
        .spawn()
        .unwrap();
    let big = |name: &str| {
        let mut e = event(name);
        for i in 0..200 {
            e = e.with_attr(format!("k{i}"), "v".repeat(1024));
        }
        e.with_attr("huge", "x".repeat(1 << 20))
    };
    block_on(sink.emit(&big("0"))).unwrap();
    // Taken by the thread and held at the gate (fail, rather than hang at
    // the gate below, if it never arrives).
    let start = Instant::now();
    while first.load(Ordering::SeqCst) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the first event never arrived"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    for i in 1..1100 {
        block_on(sink.emit(&big(&i.to_string()))).unwrap();
    }
    gate.wait();
    let _ = block_on(sink.flush()); // reports the drops
    let delivered = memory.snapshot();
    assert!(
        delivered.len() <= 3,
        "bounded by bytes: {}",
        delivered.len()
    );
    assert_eq!(delivered.len() as u64 + sink.dropped(), 1100);
    for e in &delivered {
        assert!(e.attrs["huge"].len() <= Event::MAX_ATTR_VALUE_BYTES);
        assert!(e.attrs["huge"].ends_with(Event::TRUNCATED));
    }
}

#[test]
fn no_deadline_panics_from_zero_to_max() {
    for deadline in [Duration::ZERO, Duration::from_nanos(1), Duration::MAX] {
        let memory = MemorySink::new();
        let sink = Background::builder(memory.clone())
            .flush_deadline(deadline)
            .drain_deadline(deadline)
            .spawn()
            .unwrap();
        block_on(sink.emit(&event("e"))).unwrap();
        let flushed = block_on(sink.flush());
        if deadline == Duration::MAX {
            flushed.unwrap(); // waits as long as it takes, which is not long
            assert_eq!(memory.len(), 1);
        }
        drop(sink);
    }
}

/// Threads of this process whose name starts with `prefix` (Linux).
#[cfg(target_os = "linux")]
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |tasks| {
        tasks
            .filter_map(Result::ok)
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|comm| comm.trim_end().starts_with(prefix))
            })
            .count()
    })
}

/// 1,000 flushes awaited at once on a runtime, each with its deadline
/// pending: one timer thread wakes them all (there used to be one thread
/// per wait), and every flush still completes once the sink answers.
#[cfg(target_os = "linux")]
#[test]
fn a_thousand_awaited_flushes_share_one_timer_thread() {
    let gate = Arc::new(Barrier::new(2));
    let sink = Background::builder(GateSink {
        gate: gate.clone(),
        first: Arc::new(AtomicUsize::new(0)),
        memory: MemorySink::new(),
    })
    .flush_deadline(Duration::from_secs(60))
    .spawn()
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // The worker holds its first event: every flush below waits.
        sink.emit(&event("held")).await.unwrap();
        let flushes: Vec<_> = (0..1_000)
            .map(|_| {
                let sink = sink.clone();
                tokio::spawn(async move { sink.flush().await })
            })
            .collect();
        // Let every task reach its wait.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let timers = threads_named("rtb-telemetry-t");
        eprintln!("1,000 pending flushes: {timers} timer threads");
        assert_eq!(timers, 1, "timer threads for 1,000 flushes");
        assert!(flushes.iter().all(|f| !f.is_finished()), "they all wait");
        gate.wait();
        for flush in flushes {
            flush.await.unwrap().unwrap();
        }
    });
}
