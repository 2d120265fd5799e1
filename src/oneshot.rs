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
        let waker = {
            let mut slot = lock(&self.shared);
            slot.closed = true;
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
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
            // the deadline. If it cannot start, poll again at once rather
            // than wait forever.
            self.timer_started = true;
            let waker = cx.waker().clone();
            let timer = thread::Builder::new()
                .name("rtb-telemetry-timer".into())
                .spawn(move || {
                    thread::sleep(deadline.saturating_duration_since(Instant::now()));
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

    #[test]
    fn the_deadline_ends_the_wait() {
        let (_tx, rx) = channel::<u8>();
        let rx = rx.until(Some(Instant::now() + Duration::from_millis(20)));
        assert_eq!(block_on(rx), Err(NoReply::TimedOut));
    }
}
