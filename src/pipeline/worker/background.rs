//! [`Background`]: any sink behind the worker's bounded queue and thread.

use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use super::{Drive, Settings, SinceFlush, Worker, block_on};
use crate::{Event, TelemetryError, TelemetrySink};

/// Drives a [`TelemetrySink`]: each event emitted, then the sink flushed
/// (so a batching sink sends batches). A sink that panics costs its event,
/// not the thread.
struct SinkDriver<S>(S);

impl<S: TelemetrySink + Send + 'static> Drive for SinkDriver<S> {
    fn deliver(&mut self, batch: Vec<Event>, failures: &mut SinceFlush) {
        for event in &batch {
            failures.note(guarded("emit", self.0.emit(event)));
        }
        failures.note(guarded("flush", self.0.flush()));
    }

    fn flush(&mut self, failures: &mut SinceFlush) {
        failures.note(guarded("flush", self.0.flush()));
    }

    fn thread_name(&self) -> &'static str {
        "rtb-telemetry"
    }
}

/// Runs one call of the sink, turning a panic into an error.
fn guarded(
    name: &str,
    call: impl Future<Output = Result<(), TelemetryError>>,
) -> Result<(), TelemetryError> {
    match catch_unwind(AssertUnwindSafe(|| block_on(call))) {
        Ok(result) => result,
        Err(_) => Err(TelemetryError::sink_panicked(name)),
    }
}

/// Runs any sink on a dedicated thread behind a bounded queue.
///
/// - `emit` only enqueues a copy (attr values cut to
///   [`Event::MAX_ATTR_VALUE_BYTES`]): it never waits on I/O. The queue is
///   bounded in events (1024 by default) and in bytes (4 MiB by default);
///   when either is full the new event is dropped and counted
///   ([`dropped`](Self::dropped)), and `emit` still returns `Ok`.
/// - The thread hands events to the inner sink and calls its `flush` whenever
///   the queue runs dry, so a batching sink sends batches. A sink that
///   panics costs its event, not the thread.
/// - [`flush`](TelemetrySink::flush) waits for delivery up to a deadline
///   (2 s by default). It suspends an async caller (never blocks its thread)
///   and returns `Ok` only when every event accepted since the previous
///   flush was delivered: a failed or dropped event, a dead thread or the
///   deadline give the error that says which.
/// - Dropping the last clone closes the queue and waits for the thread to
///   deliver what is queued, at most 500 ms by default; after that it
///   returns anyway and the process may exit.
///
/// No deadline panics: `Duration::ZERO` gives up at once, `Duration::MAX`
/// waits as long as it takes.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use rtb_telemetry::{Background, Event, MemorySink, TelemetrySink};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let memory = MemorySink::new();
/// let sink = Background::builder(memory.clone())
///     .capacity(256)
///     .drain_deadline(Duration::from_millis(200))
///     .spawn()?;
/// sink.emit(&Event::new("build", "mytool", "1.0.0", "00".repeat(32))).await?; // enqueued
/// sink.flush().await?; // delivered
/// assert_eq!(memory.len(), 1);
/// assert_eq!(sink.dropped(), 0);
/// # Ok::<(), rtb_telemetry::TelemetryError>(()) }).unwrap();
/// ```
pub struct Background<S> {
    worker: Worker,
    _sink: PhantomData<fn() -> S>,
}

impl<S> Clone for Background<S> {
    fn clone(&self) -> Self {
        Self {
            worker: self.worker.clone(),
            _sink: PhantomData,
        }
    }
}

impl<S> std::fmt::Debug for Background<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let settings = &self.worker.handle.shared.settings;
        f.debug_struct("Background")
            .field("dropped", &self.dropped())
            .field("flush_deadline", &settings.flush_deadline)
            .field("drain_deadline", &settings.drain_deadline)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Background`] sink; see [`Background::builder`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use rtb_telemetry::{Background, NoopSink};
///
/// let sink = Background::builder(NoopSink)
///     .capacity(64)
///     .max_bytes(256 * 1024)
///     .flush_deadline(Duration::from_secs(1))
///     .spawn()?;
/// # let _ = sink;
/// # Ok::<(), rtb_telemetry::TelemetryError>(())
/// ```
#[must_use = "nothing runs until `.spawn()`"]
#[derive(Debug)]
pub struct BackgroundBuilder<S> {
    sink: S,
    settings: Settings,
}

impl<S: TelemetrySink + Send + 'static> BackgroundBuilder<S> {
    /// How many events may wait in the queue (at least 1; default 1024).
    pub fn capacity(mut self, events: usize) -> Self {
        self.settings.capacity = events.max(1);
        self
    }

    /// How many bytes of events may wait in the queue (default 4 MiB). An
    /// event is counted by what its queued copy holds: its strings, each
    /// cut to [`Event::MAX_ATTR_VALUE_BYTES`], plus a small overhead.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_bytes = bytes;
        self
    }

    /// How long `flush` waits for delivery (default 2 s).
    pub fn flush_deadline(mut self, deadline: Duration) -> Self {
        self.settings.flush_deadline = deadline;
        self
    }

    /// How long dropping the last handle waits for delivery (default 500 ms).
    pub fn drain_deadline(mut self, deadline: Duration) -> Self {
        self.settings.drain_deadline = deadline;
        self
    }

    /// Starts the thread.
    ///
    /// # Errors
    ///
    /// A [`Thread`](crate::ErrorKind::Thread) error when the operating
    /// system refuses to start a thread.
    pub fn spawn(self) -> Result<Background<S>, TelemetryError> {
        let worker = Worker::new(Box::new(SinkDriver(self.sink)), self.settings);
        worker.start()?;
        Ok(Background {
            worker,
            _sink: PhantomData,
        })
    }
}

impl<S: TelemetrySink + Send + 'static> Background<S> {
    /// Starts `sink` on its own thread with the default settings.
    ///
    /// # Errors
    ///
    /// When the operating system refuses to start a thread.
    ///
    /// # Example
    ///
    /// ```
    /// let sink = rtb_telemetry::Background::new(rtb_telemetry::NoopSink)?;
    /// # let _ = sink;
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    pub fn new(sink: S) -> Result<Self, TelemetryError> {
        Self::builder(sink).spawn()
    }

    /// Configures the queue and the deadlines before starting.
    pub fn builder(sink: S) -> BackgroundBuilder<S> {
        BackgroundBuilder {
            sink,
            settings: Settings::default(),
        }
    }
}

impl<S> Background<S> {
    /// How many events were dropped because the queue was full (or the
    /// thread had stopped).
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.worker.dropped()
    }
}

impl<S: TelemetrySink + Send + 'static> TelemetrySink for Background<S> {
    /// Enqueues a bounded copy of `event`; never waits. A full queue drops
    /// it (and counts it) and returns `Ok`: telemetry never slows the tool.
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        self.worker.enqueue(event)
    }

    /// Waits until everything queued before this call was handed to the
    /// inner sink and the inner sink flushed, up to the flush deadline.
    async fn flush(&self) -> Result<(), TelemetryError> {
        self.worker.flush().await
    }
}
