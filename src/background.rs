//! Background delivery: a dedicated thread owns a sink, so recording never
//! waits on I/O and exit is bounded.

use std::collections::VecDeque;
use std::future::Future;
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

type Reply = oneshot::Sender<Result<(), TelemetryError>>;

enum Item {
    Event(Box<Event>, usize),
    Flush(Reply),
}

/// The queue between the handles and the thread.
struct Queue {
    items: VecDeque<Item>,
    events: usize,
    bytes: usize,
    closed: bool,
    /// Events dropped since the last flush request was queued.
    dropped_since_flush: u64,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    dropped: AtomicU64,
    capacity: usize,
    max_bytes: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Every critical section leaves the queue consistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Handle {
    shared: Arc<Shared>,
    done: Mutex<Option<oneshot::Receiver<()>>>,
    flush_deadline: Duration,
    drain_deadline: Duration,
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
    handle: Arc<Handle>,
    _sink: std::marker::PhantomData<fn() -> S>,
}

impl<S> Clone for Background<S> {
    fn clone(&self) -> Self {
        Self {
            handle: Arc::clone(&self.handle),
            _sink: std::marker::PhantomData,
        }
    }
}

impl<S> std::fmt::Debug for Background<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("dropped", &self.dropped())
            .field("flush_deadline", &self.handle.flush_deadline)
            .field("drain_deadline", &self.handle.drain_deadline)
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
    capacity: usize,
    max_bytes: usize,
    flush_deadline: Duration,
    drain_deadline: Duration,
}

impl<S: TelemetrySink + Send + 'static> BackgroundBuilder<S> {
    /// How many events may wait in the queue (at least 1; default 1024).
    pub fn capacity(mut self, events: usize) -> Self {
        self.capacity = events.max(1);
        self
    }

    /// How many bytes of events may wait in the queue (default 4 MiB). An
    /// event is counted by the length of its strings plus a small overhead.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// How long `flush` waits for delivery (default 2 s).
    pub fn flush_deadline(mut self, deadline: Duration) -> Self {
        self.flush_deadline = deadline;
        self
    }

    /// How long dropping the last handle waits for delivery (default 500 ms).
    pub fn drain_deadline(mut self, deadline: Duration) -> Self {
        self.drain_deadline = deadline;
        self
    }

    /// Starts the thread.
    ///
    /// # Errors
    ///
    /// A [`Thread`](crate::ErrorKind::Thread) error when the operating
    /// system refuses to start a thread.
    pub fn spawn(self) -> Result<Background<S>, TelemetryError> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                events: 0,
                bytes: 0,
                closed: false,
                dropped_since_flush: 0,
            }),
            ready: Condvar::new(),
            dropped: AtomicU64::new(0),
            capacity: self.capacity,
            max_bytes: self.max_bytes,
        });
        let (done_tx, done) = oneshot::channel();
        let worker = Arc::clone(&shared);
        let sink = self.sink;
        thread::Builder::new()
            .name("rtb-telemetry".into())
            .spawn(move || {
                let _closing = Closing(Arc::clone(&worker));
                deliver(&sink, &worker);
                drop(sink);
                done_tx.send(());
            })
            .map_err(|e| TelemetryError::thread("start its delivery thread", Some(e)))?;
        Ok(Background {
            handle: Arc::new(Handle {
                shared,
                done: Mutex::new(Some(done)),
                flush_deadline: self.flush_deadline,
                drain_deadline: self.drain_deadline,
            }),
            _sink: std::marker::PhantomData,
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
            capacity: DEFAULT_CAPACITY,
            max_bytes: DEFAULT_MAX_BYTES,
            flush_deadline: DEFAULT_FLUSH_DEADLINE,
            drain_deadline: DEFAULT_DRAIN_DEADLINE,
        }
    }
}

impl<S> Background<S> {
    /// How many events were dropped because the queue was full (or the
    /// thread had stopped).
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.handle.shared.dropped.load(Ordering::Relaxed)
    }
}

impl<S: TelemetrySink + Send + 'static> TelemetrySink for Background<S> {
    /// Enqueues a copy of `event`; never waits. A full queue drops it (and
    /// counts it) and returns `Ok`: telemetry never slows the tool.
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        let shared = &self.handle.shared;
        let size = crate::event::approx_size(event);
        let mut queue = shared.lock();
        if queue.closed
            || queue.events >= shared.capacity
            || queue.bytes.saturating_add(size) > shared.max_bytes
        {
            queue.dropped_since_flush += 1;
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let copy = Box::new(crate::event::bounded_copy(event));
        queue.items.push_back(Item::Event(copy, size));
        queue.events += 1;
        queue.bytes += size;
        drop(queue);
        shared.ready.notify_one();
        Ok(())
    }

    /// Waits until everything queued before this call was handed to the
    /// inner sink and the inner sink flushed, up to the flush deadline.
    async fn flush(&self) -> Result<(), TelemetryError> {
        let handle = &*self.handle;
        let (reply, answer) = oneshot::channel();
        {
            let mut queue = handle.shared.lock();
            if queue.closed {
                return Err(stopped());
            }
            // A flush request is never dropped: it is not an event.
            queue.items.push_back(Item::Flush(reply));
        }
        handle.shared.ready.notify_one();
        let deadline = Instant::now().checked_add(handle.flush_deadline);
        match answer.until(deadline).await {
            Ok(result) => result,
            Err(NoReply::Gone) => Err(stopped()),
            Err(NoReply::TimedOut) => Err(TelemetryError::timeout(
                "background delivery",
                handle.flush_deadline,
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
        if let Some(done) = self
            .done
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            // At most the drain deadline; then the thread is left to the
            // process's exit.
            let _ = block_on(done.until(Instant::now().checked_add(self.drain_deadline)));
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
struct Failures {
    count: u64,
    last: Option<TelemetryError>,
}

impl Failures {
    fn note(&mut self, result: Result<(), TelemetryError>) {
        if let Err(e) = result {
            self.count += 1;
            self.last = Some(e);
        }
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

/// The thread's loop: hand events to the sink, flush when the queue runs
/// dry or when asked, stop when every handle is gone.
fn deliver<S: TelemetrySink>(sink: &S, shared: &Shared) {
    let mut pending = false;
    let mut failures = Failures::default();
    loop {
        let item = {
            let mut queue = shared.lock();
            loop {
                if let Some(item) = queue.items.pop_front() {
                    let dropped = match &item {
                        Item::Event(_, size) => {
                            queue.events -= 1;
                            queue.bytes -= size;
                            0
                        }
                        Item::Flush(_) => std::mem::take(&mut queue.dropped_since_flush),
                    };
                    break Some((item, dropped));
                }
                if pending || queue.closed {
                    break None;
                }
                queue = shared
                    .ready
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        match item {
            // The queue ran dry: deliver the batch, or stop when closed.
            None if pending => {
                failures.note(guarded("flush", sink.flush()));
                pending = false;
            }
            None => return,
            Some((Item::Event(event, _), _)) => {
                failures.note(guarded("emit", sink.emit(&event)));
                pending = true;
            }
            Some((Item::Flush(reply), dropped)) => {
                failures.note(guarded("flush", sink.flush()));
                pending = false;
                reply.send(answer(std::mem::take(&mut failures), dropped));
            }
        }
    }
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
