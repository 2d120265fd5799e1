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
        err.to_string().contains("while the queue was full"),
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
