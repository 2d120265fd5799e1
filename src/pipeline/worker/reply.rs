//! A one-shot reply from the worker's thread to a caller who may be an
//! async task (woken, never blocked) or a plain thread (parked), with an
//! optional deadline kept by the one timer thread ([`super::timer`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
    /// The sender is gone, with or without a value.
    closed: bool,
}

type SlotRef<T> = Arc<Mutex<Slot<T>>>;

fn lock<T>(shared: &SlotRef<T>) -> std::sync::MutexGuard<'_, Slot<T>> {
    // Every critical section leaves the slot consistent.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The sending half; dropping it unsent wakes the receiver with
/// [`NoReply::Gone`].
pub(crate) struct Sender<T> {
    shared: SlotRef<T>,
}

/// The receiving half: a future of the value.
pub(crate) struct Receiver<T> {
    shared: SlotRef<T>,
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
        Receiver { shared },
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

/// Why a reply did not come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoReply {
    /// The other thread dropped its sender without answering.
    Gone,
    /// The deadline passed first.
    TimedOut,
}

impl<T> Receiver<T> {
    /// The reply, or [`NoReply::TimedOut`] once `deadline` passed first
    /// (`None`: as long as it takes).
    pub(crate) async fn until(self, deadline: Option<Instant>) -> Result<T, NoReply> {
        super::timer::until(self, deadline)
            .await
            .unwrap_or(Err(NoReply::TimedOut))
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, NoReply>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = lock(&self.shared);
        if let Some(value) = slot.value.take() {
            return Poll::Ready(Ok(value));
        }
        if slot.closed {
            return Poll::Ready(Err(NoReply::Gone));
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::thread;
    use std::time::Duration;

    use super::*;
    use crate::pipeline::worker::block_on;

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

    /// A thousand waits with a deadline, all pending at once, then all
    /// answered: one timer thread for all of them (before: one each).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_thousand_waits_share_one_timer_thread() {
        let waker = std::task::Waker::noop();
        let mut waits = Vec::new();
        let mut senders = Vec::new();
        for _ in 0..1000 {
            let (tx, rx) = channel::<u8>();
            let mut wait = Box::pin(rx.until(Some(Instant::now() + Duration::from_secs(60))));
            assert!(
                wait.as_mut()
                    .poll(&mut Context::from_waker(waker))
                    .is_pending()
            );
            waits.push(wait);
            senders.push(tx);
        }
        // The thread name is cut to 15 bytes in /proc (and set by the
        // thread itself as it starts).
        let name = &super::super::timer::THREAD[..15];
        let mut timers = threads_named(name);
        for _ in 0..100 {
            if timers > 0 {
                break;
            }
            thread::sleep(Duration::from_millis(10));
            timers = threads_named(name);
        }
        assert_eq!(timers, 1, "{timers} timer threads for 1000 waits");
        for (tx, wait) in senders.into_iter().zip(waits) {
            tx.send(1);
            assert_eq!(block_on(wait), Ok(1));
        }
    }

    #[test]
    fn the_deadline_ends_the_wait() {
        let (_tx, rx) = channel::<u8>();
        let rx = rx.until(Some(Instant::now() + Duration::from_millis(20)));
        assert_eq!(block_on(rx), Err(NoReply::TimedOut));
    }
}
