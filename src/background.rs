//! The one delivery worker: a bounded queue and a thread that drains it
//! into a sink or an exporter. [`Background`] is it over any sink; the
//! remote sinks are it over an exporter.

use std::collections::VecDeque;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::oneshot::{self, NoReply};
use crate::{Event, TelemetryError, TelemetrySink};

/// The default queue capacity, in events.
pub(crate) const DEFAULT_CAPACITY: usize = 1024;
/// The default queue capacity, in bytes (see [`crate::event::approx_size`]).
pub(crate) const DEFAULT_MAX_BYTES: usize = 4 * 1024 * 1024;
/// The default bound on how long dropping the last handle waits for delivery.
pub(crate) const DEFAULT_DRAIN_DEADLINE: Duration = Duration::from_millis(500);
/// The default bound on how long `flush` waits for delivery.
pub(crate) const DEFAULT_FLUSH_DEADLINE: Duration = Duration::from_secs(2);

/// What the worker's thread drives: a sink, or an exporter.
pub(crate) trait Drive: Send + 'static {
    /// Delivers `batch`, in order, noting what failed. Runs on the worker's
    /// thread only, so it may block.
    fn deliver(&mut self, batch: Vec<Event>, failures: &mut Failures);

    /// Delivers whatever the driven thing buffers (a flush was asked for).
    fn flush(&mut self, failures: &mut Failures) {
        let _ = failures;
    }

    /// What the thread is called.
    fn thread_name(&self) -> &'static str;
}

/// How a worker queues and hands out events.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// The most events waiting.
    pub(crate) capacity: usize,
    /// The most bytes of events waiting.
    pub(crate) max_bytes: usize,
    /// The most events handed over at once.
    pub(crate) batch: usize,
    /// The most bytes handed over at once (a larger event goes alone).
    pub(crate) batch_bytes: usize,
    /// How long a batch that is not full waits for more events (zero:
    /// hand over at once).
    pub(crate) linger: Duration,
    pub(crate) flush_deadline: Duration,
    pub(crate) drain_deadline: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_CAPACITY,
            max_bytes: DEFAULT_MAX_BYTES,
            batch: 512,
            batch_bytes: 1024 * 1024,
            linger: Duration::ZERO,
            flush_deadline: DEFAULT_FLUSH_DEADLINE,
            drain_deadline: DEFAULT_DRAIN_DEADLINE,
        }
    }
}

type Reply = oneshot::Sender<Result<(), TelemetryError>>;

enum Item {
    Event(Event, usize),
    Flush(Reply),
}

/// The queue between the handles and the thread.
#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    events: usize,
    bytes: usize,
    flushes: usize,
    /// When the oldest waiting event arrived (for the linger).
    oldest: Option<Instant>,
    closed: bool,
    /// Events dropped since the last flush request was queued.
    dropped_since_flush: u64,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    dropped: AtomicU64,
    settings: Settings,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Every critical section leaves the queue consistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The thread's side, until it is started.
struct Start {
    driver: Box<dyn Drive>,
    done: oneshot::Sender<()>,
}

struct Handle {
    shared: Arc<Shared>,
    /// Taken when the thread starts (at the first event, or eagerly).
    start: Mutex<Option<Start>>,
    done: Mutex<Option<oneshot::Receiver<()>>>,
}

/// The worker: cheap to clone; the last clone's drop closes the queue and
/// waits (up to the drain deadline) for what is queued to be delivered.
#[derive(Clone)]
pub(crate) struct Worker {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let settings = &self.handle.shared.settings;
        f.debug_struct("Worker")
            .field("dropped", &self.dropped())
            .field("flush_deadline", &settings.flush_deadline)
            .field("drain_deadline", &settings.drain_deadline)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker for `driver`; its thread starts at the first event or
    /// flush, or at [`start`](Self::start).
    pub(crate) fn new(driver: Box<dyn Drive>, settings: Settings) -> Self {
        let settings = Settings {
            capacity: settings.capacity.max(1),
            batch: settings.batch.max(1),
            batch_bytes: settings.batch_bytes.max(1),
            ..settings
        };
        let (done_tx, done) = oneshot::channel();
        Self {
            handle: Arc::new(Handle {
                shared: Arc::new(Shared {
                    queue: Mutex::new(Queue::default()),
                    ready: Condvar::new(),
                    dropped: AtomicU64::new(0),
                    settings,
                }),
                start: Mutex::new(Some(Start {
                    driver,
                    done: done_tx,
                })),
                done: Mutex::new(Some(done)),
            }),
        }
    }

    /// Starts the thread now, if it is not running yet.
    pub(crate) fn start(&self) -> Result<(), TelemetryError> {
        let mut start = self
            .handle
            .start
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(Start { mut driver, done }) = start.take() else {
            return Ok(());
        };
        let shared = Arc::clone(&self.handle.shared);
        let name = driver.thread_name();
        thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _closing = Closing(Arc::clone(&shared));
                run(&mut *driver, &shared);
                drop(driver);
                done.send(());
            })
            .map(drop)
            .map_err(|e| {
                // Nothing will ever drain the queue: refuse from now on.
                self.handle.shared.lock().closed = true;
                TelemetryError::thread("start its delivery thread", Some(e))
            })
    }

    fn started(&self) -> bool {
        self.handle
            .start
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// Events dropped because the queue was full (or the thread had
    /// stopped).
    pub(crate) fn dropped(&self) -> u64 {
        self.handle.shared.dropped.load(Ordering::Relaxed)
    }

    /// Queues a bounded copy of `event`; never waits. A full queue drops it
    /// and counts it.
    pub(crate) fn enqueue(&self, event: &Event) -> Result<(), TelemetryError> {
        let shared = &self.handle.shared;
        let settings = &shared.settings;
        let size = crate::event::approx_size(event);
        let wake = {
            let mut queue = shared.lock();
            if queue.closed
                || queue.events >= settings.capacity
                || queue.bytes.saturating_add(size) > settings.max_bytes
            {
                queue.dropped_since_flush += 1;
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            queue
                .items
                .push_back(Item::Event(crate::event::bounded_copy(event), size));
            queue.events += 1;
            queue.bytes += size;
            queue.oldest.get_or_insert_with(Instant::now);
            settings.linger.is_zero()
                || queue.events >= settings.batch
                || queue.bytes >= settings.batch_bytes
        };
        self.start()?;
        if wake {
            shared.ready.notify_one();
        }
        Ok(())
    }

    /// Waits until everything queued before this call was delivered (and
    /// the driven sink flushed), up to the flush deadline, without blocking
    /// the caller's thread. `Ok` only when every event accepted since the
    /// previous flush was delivered.
    pub(crate) async fn flush(&self) -> Result<(), TelemetryError> {
        let shared = &self.handle.shared;
        if !self.started() {
            let queue = shared.lock();
            if queue.closed {
                return Err(stopped());
            }
            if queue.dropped_since_flush == 0 {
                return Ok(()); // nothing was ever accepted
            }
        }
        let (reply, answer) = oneshot::channel();
        {
            let mut queue = shared.lock();
            if queue.closed {
                return Err(stopped());
            }
            // A flush request is never dropped: it is not an event.
            queue.items.push_back(Item::Flush(reply));
            queue.flushes += 1;
        }
        self.start()?;
        shared.ready.notify_one();
        let deadline = Instant::now().checked_add(shared.settings.flush_deadline);
        match answer.until(deadline).await {
            Ok(result) => result,
            Err(NoReply::Gone) => Err(stopped()),
            Err(NoReply::TimedOut) => Err(TelemetryError::timeout(
                "background delivery",
                shared.settings.flush_deadline,
                "stay queued and are sent while the process runs",
            )),
        }
    }
}

fn stopped() -> TelemetryError {
    TelemetryError::thread_stopped("delivery")
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Closing the queue tells the thread to deliver what is left and stop.
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
        let never_started = self
            .start
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        if never_started {
            return;
        }
        if let Some(done) = self
            .done
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            // At most the drain deadline; then the thread is left to the
            // process's exit.
            let deadline = Instant::now().checked_add(self.shared.settings.drain_deadline);
            let _ = block_on(done.until(deadline));
        }
    }
}

/// Marks the queue closed and empties it when the thread ends, however it
/// ends, so waiting flushes learn at once that nobody will answer.
struct Closing(Arc<Shared>);

impl Drop for Closing {
    fn drop(&mut self) {
        let mut queue = self.0.lock();
        queue.closed = true;
        let left = std::mem::take(&mut queue.items);
        drop(queue);
        drop(left); // drops the flush replies: their waiters see `Gone`
    }
}

/// What went wrong since the last flush request, for its answer.
#[derive(Default)]
pub(crate) struct Failures {
    count: u64,
    last: Option<TelemetryError>,
}

impl Failures {
    pub(crate) fn note(&mut self, result: Result<(), TelemetryError>) {
        if let Err(e) = result {
            self.count += 1;
            self.last = Some(e);
        }
    }
}

/// The thread's loop: wait for a batch (full, lingered long enough, asked
/// for by a flush, or the last before closing), deliver it, answer flushes,
/// stop when every handle is gone and the queue is empty.
fn run(driver: &mut dyn Drive, shared: &Shared) {
    let settings = &shared.settings;
    let mut failures = Failures::default();
    loop {
        let (batch, flush) = {
            let mut queue = shared.lock();
            loop {
                let lingered = queue.oldest.map(|t| t.elapsed() >= settings.linger);
                let full = queue.events >= settings.batch || queue.bytes >= settings.batch_bytes;
                if queue.flushes > 0 || full || queue.closed || lingered == Some(true) {
                    break;
                }
                queue = match queue.oldest {
                    Some(t) => {
                        let left = settings.linger.saturating_sub(t.elapsed());
                        shared
                            .ready
                            .wait_timeout(queue, left)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0
                    }
                    None => shared
                        .ready
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner),
                };
            }
            if queue.closed && queue.items.is_empty() {
                return;
            }
            take(settings, &mut queue)
        };
        if !batch.is_empty() {
            driver.deliver(batch, &mut failures);
        }
        if let Some((reply, dropped)) = flush {
            driver.flush(&mut failures);
            reply.send(answer(std::mem::take(&mut failures), dropped));
        }
    }
}

/// The events at the front of the queue, up to one batch or the first
/// flush request; and that request with the drops it answers for, if it
/// came first.
fn take(settings: &Settings, queue: &mut Queue) -> (Vec<Event>, Option<(Reply, u64)>) {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while let Some(item) = queue.items.front() {
        match item {
            Item::Event(_, size) => {
                if !batch.is_empty()
                    && (batch.len() >= settings.batch || bytes + size > settings.batch_bytes)
                {
                    break;
                }
                let Some(Item::Event(event, size)) = queue.items.pop_front() else {
                    unreachable!("the front item was an event")
                };
                queue.events -= 1;
                queue.bytes -= size;
                bytes += size;
                batch.push(event);
            }
            Item::Flush(_) => {
                if !batch.is_empty() {
                    break; // send what came before it first; answer next round
                }
                let Some(Item::Flush(reply)) = queue.items.pop_front() else {
                    unreachable!("the front item was a flush")
                };
                queue.flushes -= 1;
                let dropped = std::mem::take(&mut queue.dropped_since_flush);
                queue.oldest = (queue.events > 0).then(Instant::now);
                return (batch, Some((reply, dropped)));
            }
        }
    }
    queue.oldest = (queue.events > 0).then(Instant::now);
    (batch, None)
}

/// A flush's answer: `Ok` only if nothing failed or was dropped.
fn answer(failures: Failures, dropped: u64) -> Result<(), TelemetryError> {
    if let Some(last) = failures.last {
        return Err(last.repeated(failures.count));
    }
    if dropped > 0 {
        return Err(TelemetryError::dropped(
            dropped,
            "the background queue",
            "the sink is slower than events arrive; raise the queue's `capacity` or \
             `max_bytes`, or flush more often. The tool itself is not affected",
        ));
    }
    Ok(())
}

/// Drives a [`TelemetrySink`]: each event emitted, then the sink flushed
/// (so a batching sink sends batches). A sink that panics costs its event,
/// not the thread.
struct SinkDriver<S>(S);

impl<S: TelemetrySink + Send + 'static> Drive for SinkDriver<S> {
    fn deliver(&mut self, batch: Vec<Event>, failures: &mut Failures) {
        for event in &batch {
            failures.note(guarded("emit", self.0.emit(event)));
        }
        failures.note(guarded("flush", self.0.flush()));
    }

    fn flush(&mut self, failures: &mut Failures) {
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

/// Wakes the thread that is blocked in [`block_on`].
struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives a future to completion on the current thread, parking between
/// polls: the sink's futures need no runtime. Only ever called on threads
/// the crate owns, or from synchronous code.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}
