//! The one delivery worker: a bounded queue and a thread that drains it
//! into a sink or an exporter. [`Background`] is it over any sink; the
//! remote sinks are it over an exporter.
//!
//! - `mod.rs`: the queue and its thread ([`Worker`]);
//! - `background.rs`: the public [`Background`] sink;
//! - `reply.rs`: a flush's answer from the thread;
//! - `timer.rs`: the one timer thread behind every deadline;
//! - `block_on.rs`: running the crate's own futures on a plain thread.

mod background;
mod block_on;
pub(crate) mod reply;
pub(crate) mod timer;

pub use background::{Background, BackgroundBuilder};
pub(crate) use block_on::block_on;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self};
use std::time::{Duration, Instant};

use self::reply::NoReply;
use crate::{Event, TelemetryError};

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
    fn deliver(&mut self, batch: Vec<Event>, failures: &mut SinceFlush);

    /// Delivers whatever the driven thing buffers (a flush was asked for).
    fn flush(&mut self, failures: &mut SinceFlush) {
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

type Reply = reply::Sender<Result<(), TelemetryError>>;

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

struct QueueState {
    queue: Mutex<Queue>,
    ready: Condvar,
    dropped: AtomicU64,
    settings: Settings,
}

impl QueueState {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Every critical section leaves the queue consistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The thread's side, until it is started.
struct Start {
    driver: Box<dyn Drive>,
    done: reply::Sender<()>,
}

struct Handle {
    shared: Arc<QueueState>,
    /// Taken when the thread starts (at the first event, or eagerly).
    start: Mutex<Option<Start>>,
    done: Mutex<Option<reply::Receiver<()>>>,
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
        let (done_tx, done) = reply::channel();
        Self {
            handle: Arc::new(Handle {
                shared: Arc::new(QueueState {
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
        let (reply, answer) = reply::channel();
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
struct Closing(Arc<QueueState>);

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
pub(crate) struct SinceFlush {
    count: u64,
    last: Option<TelemetryError>,
}

impl SinceFlush {
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
fn run(driver: &mut dyn Drive, shared: &QueueState) {
    let settings = &shared.settings;
    let mut failures = SinceFlush::default();
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
fn answer(failures: SinceFlush, dropped: u64) -> Result<(), TelemetryError> {
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
