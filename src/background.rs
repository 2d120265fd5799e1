//! Background delivery: a dedicated thread owns a sink, so recording never
//! waits on I/O and exit is bounded.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::{Event, TelemetryError, TelemetrySink};

/// The default queue capacity, in events.
pub(crate) const DEFAULT_CAPACITY: usize = 1024;
/// The default bound on how long dropping the last handle waits for delivery.
pub(crate) const DEFAULT_DRAIN_DEADLINE: Duration = Duration::from_millis(500);
/// The default bound on how long `flush` waits for delivery.
pub(crate) const DEFAULT_FLUSH_DEADLINE: Duration = Duration::from_secs(2);

enum Message {
    Event(Box<Event>),
    Flush(mpsc::Sender<Result<(), TelemetryError>>),
}

struct Handle {
    // `Option` so `Drop` can close the queue before waiting.
    queue: Mutex<Option<SyncSender<Message>>>,
    done: Mutex<Option<Receiver<()>>>,
    dropped: Arc<AtomicU64>,
    flush_deadline: Duration,
    drain_deadline: Duration,
}

/// Runs any sink on a dedicated thread behind a bounded queue.
///
/// - `emit` only enqueues: it never waits on I/O. When the queue is full the
///   new event is dropped and counted ([`dropped`](Self::dropped)).
/// - The thread hands events to the inner sink and calls its `flush` whenever
///   the queue runs dry, so a batching sink sends batches.
/// - [`flush`](TelemetrySink::flush) waits for delivery up to a deadline
///   (2 s by default), blocking the calling thread; it is meant for the end
///   of a command.
/// - Dropping the last clone closes the queue and waits for the thread to
///   deliver what is queued, at most 500 ms by default; after that it
///   returns anyway and the process may exit.
///
/// It behaves the same on a multi-thread runtime, a current-thread runtime
/// and with no runtime at all: the thread runs the inner sink's futures
/// itself.
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
    flush_deadline: Duration,
    drain_deadline: Duration,
}

impl<S: TelemetrySink + Send + 'static> BackgroundBuilder<S> {
    /// How many events may wait in the queue (at least 1; default 1024).
    pub fn capacity(mut self, events: usize) -> Self {
        self.capacity = events.max(1);
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
    /// When the operating system refuses to start a thread.
    pub fn spawn(self) -> Result<Background<S>, TelemetryError> {
        let (queue, inbox) = mpsc::sync_channel(self.capacity);
        let (done_tx, done) = mpsc::channel();
        let sink = self.sink;
        thread::Builder::new()
            .name("rtb-telemetry".into())
            .spawn(move || {
                deliver(&sink, &inbox);
                drop(sink);
                let _ = done_tx.send(());
            })
            .map_err(|e| TelemetryError::io("start the delivery thread for", "rtb-telemetry", e))?;
        Ok(Background {
            handle: Arc::new(Handle {
                queue: Mutex::new(Some(queue)),
                done: Mutex::new(Some(done)),
                dropped: Arc::new(AtomicU64::new(0)),
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
    ///
    /// # Example
    ///
    /// ```
    /// let sink = rtb_telemetry::Background::builder(rtb_telemetry::NoopSink).capacity(8).spawn()?;
    /// # let _ = sink;
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    pub fn builder(sink: S) -> BackgroundBuilder<S> {
        BackgroundBuilder {
            sink,
            capacity: DEFAULT_CAPACITY,
            flush_deadline: DEFAULT_FLUSH_DEADLINE,
            drain_deadline: DEFAULT_DRAIN_DEADLINE,
        }
    }
}

impl<S> Background<S> {
    /// How many events were dropped because the queue was full.
    ///
    /// # Example
    ///
    /// ```
    /// let sink = rtb_telemetry::Background::new(rtb_telemetry::NoopSink)?;
    /// assert_eq!(sink.dropped(), 0);
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.handle.dropped.load(Ordering::Relaxed)
    }

    fn sender(&self) -> Option<SyncSender<Message>> {
        self.handle
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl<S: TelemetrySink + Send + 'static> TelemetrySink for Background<S> {
    /// Enqueues a copy of `event`; never waits. A full queue drops it (and
    /// counts it) and returns `Ok`: telemetry never slows the tool.
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        if let Some(queue) = self.sender() {
            match queue.try_send(Message::Event(Box::new(event.clone()))) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    self.handle.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    /// Waits until everything queued before this call was handed to the
    /// inner sink and the inner sink flushed, up to the flush deadline.
    async fn flush(&self) -> Result<(), TelemetryError> {
        let Some(queue) = self.sender() else {
            return Ok(());
        };
        let deadline = Instant::now() + self.handle.flush_deadline;
        let (reply, answer) = mpsc::channel();
        // The flush request waits for room like an event would not: it must
        // not be dropped, but it may not wait past the deadline either.
        let mut message = Message::Flush(reply);
        loop {
            match queue.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return Ok(()),
                Err(TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return Err(timed_out(self.handle.flush_deadline));
                    }
                    message = back;
                    thread::sleep(Duration::from_millis(1));
                }
            }
        }
        match answer.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(timed_out(self.handle.flush_deadline)),
            Err(RecvTimeoutError::Disconnected) => Ok(()),
        }
    }
}

fn timed_out(deadline: Duration) -> TelemetryError {
    TelemetryError::delivery(
        "the background delivery thread",
        None,
        format!(
            "not delivered within the {} ms flush deadline; the events stay queued \
             and are sent while the process runs",
            deadline.as_millis()
        ),
    )
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Closing the queue tells the thread to deliver what is left and stop.
        drop(
            self.queue
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        if let Some(done) = self
            .done
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            // At most the drain deadline; then the thread is left to the
            // process's exit.
            let _ = done.recv_timeout(self.drain_deadline);
        }
    }
}

/// The thread's loop: hand events to the sink, flush when the queue runs
/// dry or when asked, stop when every handle is gone.
fn deliver<S: TelemetrySink>(sink: &S, inbox: &Receiver<Message>) {
    let mut pending = false;
    loop {
        let message = if pending {
            match inbox.try_recv() {
                Ok(message) => message,
                Err(mpsc::TryRecvError::Empty) => {
                    // The queue ran dry: deliver the batch.
                    let _ = block_on(sink.flush());
                    pending = false;
                    continue;
                }
                Err(mpsc::TryRecvError::Disconnected) => break,
            }
        } else {
            match inbox.recv() {
                Ok(message) => message,
                Err(_) => break,
            }
        };
        match message {
            Message::Event(event) => {
                let _ = block_on(sink.emit(&event));
                pending = true;
            }
            Message::Flush(reply) => {
                let _ = reply.send(block_on(sink.flush()));
                pending = false;
            }
        }
    }
    if pending {
        let _ = block_on(sink.flush());
    }
}

/// Wakes the delivery thread.
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
/// polls: the sink's futures need no runtime.
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
