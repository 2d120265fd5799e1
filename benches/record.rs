//! `record` next to its baselines, and `FileSink` next to the seed's naive
//! design (a `dyn` sink with a boxed future per call, a run-time branch, and
//! open/append/close per event inside `spawn_blocking`).
//!
//! ```sh
//! cargo bench --bench record
//! ```
//!
//! In-memory paths complete in one poll, so they are polled once with a no-op
//! waker (no executor in the measurement). File paths run on a current-thread
//! tokio runtime, the same one for ours and the seed's.

use std::future::Future;
use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rtb_telemetry::{
    CollectionPolicy, Event, FileSink, MachineId, MemorySink, TelemetryContext, TelemetryError,
    erased,
};

/// Polls a future that is ready at once; no executor involved.
#[inline]
fn poll_once<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("these futures complete in one poll"),
    }
}

const SALT: &str = "rtb-telemetry-bench";

/// The builder with tool, version and salt given. (A macro: the builder's
/// type-state parameters cannot be named, by design.)
macro_rules! builder {
    () => {
        TelemetryContext::builder()
            .tool("mytool")
            .tool_version("1.2.3")
            .salt(SALT)
    };
}

fn record(c: &mut Criterion) {
    let mut group = c.benchmark_group("record");
    group.throughput(Throughput::Elements(1));

    // The same black boxes as the measured calls, around an already-ready
    // future: what is left over is the cost of `record` itself.
    let ctx = builder!().disabled();
    group.bench_function("baseline", |b| {
        b.iter(|| {
            let _ = black_box(&ctx);
            let _ = black_box("build");
            poll_once(std::future::ready(Ok::<(), TelemetryError>(())))
        });
    });

    let disabled = builder!().disabled();
    group.bench_function("disabled", |b| {
        b.iter(|| poll_once(black_box(&disabled).record(black_box("build"))));
    });

    let runtime_disabled = builder!().policy(CollectionPolicy::Disabled).build();
    group.bench_function("runtime_disabled", |b| {
        b.iter(|| poll_once(black_box(&runtime_disabled).record(black_box("build"))));
    });

    let noop = builder!().enabled();
    group.bench_function("enabled/noop", |b| {
        b.iter(|| poll_once(black_box(&noop).record(black_box("build"))));
    });

    let memory = MemorySink::new();
    let enabled_memory = builder!().sink(memory.clone()).enabled();
    group.bench_function("enabled/memory", |b| {
        b.iter(|| {
            poll_once(black_box(&enabled_memory).record(black_box("build")))?;
            memory.clear();
            Ok::<(), TelemetryError>(())
        });
    });

    let erased_memory: erased::TelemetryContext = builder!()
        .sink(Arc::new(memory.clone()) as Arc<dyn erased::TelemetrySink>)
        .policy(CollectionPolicy::Enabled)
        .build();
    group.bench_function("erased/memory", |b| {
        b.iter(|| {
            poll_once(black_box(&erased_memory).record(black_box("build")))?;
            memory.clear();
            Ok::<(), TelemetryError>(())
        });
    });

    let seed_memory = seed::Context::new(Arc::new(memory.clone()), CollectionPolicy::Enabled);
    group.bench_function("seed/memory", |b| {
        b.iter(|| {
            poll_once(black_box(&seed_memory).record(black_box("build")))?;
            memory.clear();
            Ok::<(), TelemetryError>(())
        });
    });
    group.finish();
}

rtb_telemetry::catalog! {
    /// The bench's catalogue.
    pub catalog Bench: version 1;
    /// How it ended.
    pub enum Outcome { Ok = "ok", Failed = "failed" }
    /// A count, by bucket.
    pub buckets Files = [0, 1, 10, 100];
    /// A build ended.
    pub event Build = "build" { outcome: Outcome, files: Files, release: bool }
}

/// A declared event next to the same three attrs by name (issue 28),
/// awaited in an `async fn` on a current-thread runtime, as users call
/// them; the callgrind counts of the same pair are in `.ci/zero-cost`.
fn typed(c: &mut Criterion) {
    let mut group = c.benchmark_group("typed");
    group.throughput(Throughput::Elements(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let noop = builder!().enabled();
    group.bench_function("enabled/typed_noop", |b| {
        b.to_async(&runtime).iter(|| async {
            noop.record_event(Build {
                outcome: black_box(Outcome::Ok),
                files: Files(black_box(42)),
                release: black_box(true),
            })
            .await
        });
    });
    group.bench_function("enabled/attrs_noop", |b| {
        b.to_async(&runtime).iter(|| async {
            let attrs = std::collections::HashMap::from([
                (
                    "outcome".to_owned(),
                    black_box(Outcome::Ok).as_str().to_owned(),
                ),
                ("files".to_owned(), "10".to_owned()),
                ("release".to_owned(), black_box(true).to_string()),
            ]);
            noop.record_with_attrs(black_box("build"), attrs).await
        });
    });
    let disabled = builder!().disabled();
    group.bench_function("disabled/typed", |b| {
        b.to_async(&runtime).iter(|| async {
            disabled
                .record_event(Build {
                    outcome: black_box(Outcome::Ok),
                    files: Files(black_box(42)),
                    release: black_box(true),
                })
                .await
        });
    });
    group.finish();
}

fn file(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("file");
    group.throughput(Throughput::Elements(1));

    let ours = builder!()
        .sink(FileSink::new(dir.path().join("ours.jsonl")))
        .policy(CollectionPolicy::Enabled)
        .build();
    group.bench_function("record", |b| {
        b.to_async(&rt).iter(|| ours.record(black_box("build")));
    });

    let buffered = builder!()
        .sink(FileSink::buffered(
            dir.path().join("buffered.jsonl"),
            64 * 1024,
        ))
        .policy(CollectionPolicy::Enabled)
        .build();
    group.bench_function("record_buffered", |b| {
        b.to_async(&rt).iter(|| buffered.record(black_box("build")));
    });

    let naive = seed::Context::new(
        Arc::new(seed::FileSink {
            path: dir.path().join("seed.jsonl"),
        }),
        CollectionPolicy::Enabled,
    );
    group.bench_function("seed_naive", |b| {
        b.to_async(&rt).iter(|| naive.record(black_box("build")));
    });
    group.finish();
}

/// The seed's design, as the upstream crate ships it, for comparison.
mod seed {
    use super::{
        Arc, CollectionPolicy, Event, MachineId, MemorySink, PathBuf, SALT, TelemetryError, Write,
    };

    #[async_trait::async_trait]
    pub(super) trait Sink: Send + Sync + 'static {
        async fn emit(&self, event: &Event) -> Result<(), TelemetryError>;
    }

    #[async_trait::async_trait]
    impl Sink for MemorySink {
        async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
            rtb_telemetry::TelemetrySink::emit(self, event).await
        }
    }

    /// Opens, appends and closes the file for every event, in `spawn_blocking`.
    pub(super) struct FileSink {
        pub(super) path: PathBuf,
    }

    #[async_trait::async_trait]
    impl Sink for FileSink {
        async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
            let mut line =
                serde_json::to_string(event).map_err(|e| TelemetryError::serde(&event.name, e))?;
            line.push('\n');
            let path = self.path.clone();
            tokio::task::spawn_blocking(move || {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)?;
                file.write_all(line.as_bytes())
            })
            .await
            .map_err(|e| TelemetryError::io("join", "", std::io::Error::other(e)))?
            .map_err(|e| TelemetryError::io("append to", "", e))
        }
    }

    /// The seed's context: owned strings, a dyn sink, a run-time flag.
    pub(super) struct Context {
        tool: String,
        tool_version: String,
        machine_id: String,
        sink: Arc<dyn Sink>,
        policy: CollectionPolicy,
    }

    impl Context {
        pub(super) fn new(sink: Arc<dyn Sink>, policy: CollectionPolicy) -> Self {
            Self {
                tool: "mytool".into(),
                tool_version: "1.2.3".into(),
                machine_id: MachineId::derive(SALT),
                sink,
                policy,
            }
        }

        pub(super) async fn record(&self, name: &str) -> Result<(), TelemetryError> {
            if self.policy == CollectionPolicy::Disabled {
                return Ok(());
            }
            let event = Event::new(name, &self.tool, &self.tool_version, &self.machine_id);
            self.sink.emit(&event).await
        }
    }
}

criterion_group!(benches, record, typed, file);
criterion_main!(benches);
