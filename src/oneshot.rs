//! A one-shot reply from a thread the crate owns to a caller who may be an
//! async task (woken, never blocked) or a plain thread (parked), with an
//! optional deadline. What lets `flush` wait for delivery without blocking
//! an executor, and without needing a runtime's timer.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Instant;

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
    /// The sender is gone, with or without a value.
    closed: bool,
    /// The receiver is gone: nobody waits any more.
    abandoned: bool,
    /// The thread that wakes the receiver at its deadline, if one runs: it
    /// is told, and ends, as soon as the wait is over either way.
    timer: Option<Arc<Timer>>,
}

/// What the sender and receiver share with a timer thread (not the value:
/// it need not be `Send`).
#[derive(Default)]
struct Timer {
    over: std::sync::atomic::AtomicBool,
    thread: Mutex<Option<thread::Thread>>,
}

impl Timer {
    /// The wait is over: the timer thread ends now instead of at its
    /// deadline.
    fn stop(&self) {
        self.over.store(true, std::sync::atomic::Ordering::Release);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            thread.unpark();
        }
    }

    fn is_over(&self) -> bool {
        self.over.load(std::sync::atomic::Ordering::Acquire)
    }
}

type Shared<T> = Arc<Mutex<Slot<T>>>;

fn lock<T>(shared: &Shared<T>) -> std::sync::MutexGuard<'_, Slot<T>> {
    // Every critical section leaves the slot consistent.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The sending half; dropping it unsent wakes the receiver with `None`.
pub(crate) struct Sender<T> {
    shared: Shared<T>,
}

/// The receiving half: a future of `Some(value)`, or `None` if the sender
/// was dropped (its thread died) or the deadline passed.
pub(crate) struct Receiver<T> {
    shared: Shared<T>,
    deadline: Option<Instant>,
    timer_started: bool,
}

pub(crate) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
        closed: false,
        abandoned: false,
        timer: None,
    }));
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver {
            shared,
            deadline: None,
            timer_started: false,
        },
    )
}

impl<T> Sender<T> {
    pub(crate) fn send(self, value: T) {
        lock(&self.shared).value = Some(value);
        // `Drop` closes and wakes.
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let (waker, timer) = {
            let mut slot = lock(&self.shared);
            slot.closed = true;
            (slot.waker.take(), slot.timer.take())
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        if let Some(timer) = timer {
            timer.stop();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let timer = {
            let mut slot = lock(&self.shared);
            slot.abandoned = true;
            slot.timer.take()
        };
        if let Some(timer) = timer {
            timer.stop();
        }
    }
}

impl<T> Receiver<T> {
    /// Gives up at `deadline` (`None`: waits as long as it takes).
    pub(crate) fn until(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// `true` once the deadline has passed.
    fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Why a reply did not come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoReply {
    /// The other thread dropped its sender without answering.
    Gone,
    /// The deadline passed first.
    TimedOut,
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, NoReply>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        {
            let mut slot = lock(&self.shared);
            if let Some(value) = slot.value.take() {
                return Poll::Ready(Ok(value));
            }
            if slot.closed {
                return Poll::Ready(Err(NoReply::Gone));
            }
            if self.expired() {
                return Poll::Ready(Err(NoReply::TimedOut));
            }
            slot.waker = Some(cx.waker().clone());
        }
        if let Some(deadline) = self.deadline
            && !self.timer_started
        {
            // No runtime timer to lean on: a short-lived thread wakes us at
            // the deadline, or ends at once when the reply comes first (the
            // sender unparks it). If it cannot start, poll again at once
            // rather than wait forever.
            self.timer_started = true;
            let waker = cx.waker().clone();
            let control = Arc::new(Timer::default());
            lock(&self.shared).timer = Some(Arc::clone(&control));
            let timer = thread::Builder::new()
                .name("rtb-telemetry-timer".into())
                .spawn(move || {
                    *control
                        .thread
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(thread::current());
                    loop {
                        if control.is_over() {
                            return; // answered, or nobody waits: nothing to wake
                        }
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        thread::park_timeout(left);
                    }
                    waker.wake();
                });
            if timer.is_err() {
                cx.waker().wake_by_ref();
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::background::block_on;

    #[test]
    fn a_reply_arrives_from_another_thread() {
        let (tx, rx) = channel();
        thread::spawn(move || tx.send(7));
        assert_eq!(block_on(rx), Ok(7));
    }

    #[test]
    fn a_dropped_sender_is_gone_not_a_hang() {
        let (tx, rx) = channel::<u8>();
        thread::spawn(move || drop(tx));
        assert_eq!(block_on(rx), Err(NoReply::Gone));
    }

    /// Threads of this process whose name is `name` (Linux: from /proc).
    #[cfg(target_os = "linux")]
    fn threads_named(name: &str) -> usize {
        std::fs::read_dir("/proc/self/task").map_or(0, |tasks| {
            tasks
                .filter_map(Result::ok)
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|comm| comm.trim_end() == name)
                })
                .count()
        })
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_timer_ends_as_soon_as_its_reply_comes() {
        let before = threads_named("rtb-telemetry-t");
        for _ in 0..1000 {
            let (tx, rx) = channel();
            let rx = rx.until(Some(Instant::now() + Duration::from_secs(60)));
            // Poll once (the timer starts), then answer: the timer must go.
            let mut rx = std::pin::pin!(rx);
            let waker = std::task::Waker::noop();
            assert!(
                rx.as_mut()
                    .poll(&mut Context::from_waker(waker))
                    .is_pending()
            );
            tx.send(1);
            assert_eq!(block_on(rx), Ok(1));
        }
        let mut live = threads_named("rtb-telemetry-t");
        for _ in 0..200 {
            if live <= before {
                break;
            }
            thread::sleep(Duration::from_millis(10));
            live = threads_named("rtb-telemetry-t");
        }
        // Timers of other tests may run meanwhile; a thousand sleeping ones
        // would not fit under this.
        assert!(
            live <= before + 16,
            "{live} timer threads still alive after 1000 answered flushes"
        );
    }

    #[test]
    fn the_deadline_ends_the_wait() {
        let (_tx, rx) = channel::<u8>();
        let rx = rx.until(Some(Instant::now() + Duration::from_millis(20)));
        assert_eq!(block_on(rx), Err(NoReply::TimedOut));
    }
}
