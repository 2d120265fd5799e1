//! One timer thread for every deadline the crate waits for (`flush`, a
//! worker's drain): a deadline registers its waker here, and the thread
//! wakes it when the time comes. However many flushes wait at once, one
//! thread, started at the first.
//!
//! Written here rather than taken from `futures-timer` 3.0.4, the
//! well-kept crate for it, which also runs one thread for all timers: when
//! that thread cannot be started (a process or thread limit, a sandbox),
//! its `Delay::poll` panics ("timer has gone away", `native/delay.rs:126`),
//! and its lock is unwrapped on every reset and drop. Telemetry must never
//! panic in its host; here a thread that cannot be started means deadlines
//! are polled instead (`a_timer_without_its_thread_still_ends_waits`). The
//! rest of what it offers (resets, a heap of timers) the crate does not use.
//! docs/design.md, "hand-written, and why".

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// The timer thread's name.
pub(crate) const THREAD: &str = "rtb-telemetry-timer";

#[derive(Default)]
struct Wheel {
    /// Who to wake, and when: unordered (a few entries at a time, a
    /// thousand at most in practice; a scan costs less than a tree's code
    /// in every tool's binary).
    due: Vec<Due>,
    /// The thread could not be started: deadlines are polled instead,
    /// and starting it is tried again a second after (a limit may lift).
    failed: Option<Instant>,
    started: bool,
}

struct Due {
    at: Instant,
    id: u64,
    waker: Waker,
}

impl Wheel {
    /// The entry of `id`, if it waits.
    fn find(&self, id: u64) -> Option<usize> {
        self.due.iter().position(|d| d.id == id)
    }
}

struct Timer {
    wheel: Mutex<Wheel>,
    changed: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<Timer> = OnceLock::new();
    TIMER.get_or_init(|| Timer {
        wheel: Mutex::new(Wheel::default()),
        changed: Condvar::new(),
    })
}

impl Timer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Wheel> {
        // Every critical section leaves the wheel consistent.
        self.wheel.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The thread's loop: wake whoever is due, sleep until the next.
    fn run(&self) {
        let mut wheel = self.lock();
        loop {
            let now = Instant::now();
            let mut i = 0;
            while i < wheel.due.len() {
                if wheel.due[i].at <= now {
                    wheel.due.swap_remove(i).waker.wake();
                } else {
                    i += 1;
                }
            }
            wheel = match wheel.due.iter().map(|d| d.at).min() {
                Some(at) => {
                    self.changed
                        .wait_timeout(wheel, at.saturating_duration_since(now))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(wheel)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

/// A future ready at `deadline`, woken by the timer thread.
pub(crate) struct Deadline {
    at: Instant,
    id: u64,
    registered: bool,
    owner: &'static Timer,
}

impl Deadline {
    pub(crate) fn at(at: Instant) -> Self {
        Self::on(timer(), at)
    }

    fn on(owner: &'static Timer, at: Instant) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self {
            at,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            registered: false,
            owner,
        }
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        let owner = self.owner;
        let mut wheel = owner.lock();
        let retry = wheel
            .failed
            .is_some_and(|at| at.elapsed() >= std::time::Duration::from_secs(1));
        if !wheel.started || retry {
            wheel.started = true;
            let spawned = std::thread::Builder::new()
                .name(THREAD.into())
                .spawn(move || owner.run());
            wheel.failed = spawned.is_err().then(Instant::now);
        }
        if wheel.failed.is_some() {
            // No thread to wake us: come back at once (a busy wait, but
            // never a hang).
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match wheel.find(self.id) {
            Some(i) => wheel.due[i].waker.clone_from(cx.waker()),
            None => wheel.due.push(Due {
                at: self.at,
                id: self.id,
                waker: cx.waker().clone(),
            }),
        }
        self.registered = true;
        drop(wheel);
        owner.changed.notify_one();
        Poll::Pending
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if self.registered {
            let mut wheel = self.owner.lock();
            if let Some(i) = wheel.find(self.id) {
                wheel.due.swap_remove(i);
            }
        }
    }
}

/// `future`, or `None` once `deadline` passed first (`None` deadline:
/// as long as it takes).
pub(crate) async fn until<F: Future>(future: F, deadline: Option<Instant>) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut deadline = deadline.map(Deadline::at);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(out) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if deadline
            .as_mut()
            .is_some_and(|d| Pin::new(d).poll(cx).is_ready())
        {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        super::super::block_on(f)
    }

    #[test]
    fn a_deadline_ends_a_wait_that_never_ends() {
        let start = Instant::now();
        let out = block_on(until(
            std::future::pending::<()>(),
            Some(start + Duration::from_millis(30)),
        ));
        assert_eq!(out, None);
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    /// The thread could not be started: a wait still ends at its deadline
    /// (polled), and nothing panics.
    #[test]
    fn a_timer_without_its_thread_still_ends_waits() {
        let owner: &'static Timer = Box::leak(Box::new(Timer {
            wheel: Mutex::new(Wheel {
                started: true,
                failed: Some(Instant::now()),
                ..Wheel::default()
            }),
            changed: Condvar::new(),
        }));
        let start = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            block_on(Deadline::on(owner, start + Duration::from_millis(20)));
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the wait ended without a timer thread");
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(owner.lock().due.is_empty(), "nothing waits for a thread");
    }

    #[test]
    fn what_comes_first_wins() {
        let out = block_on(until(
            async { 7 },
            Some(Instant::now() + Duration::from_secs(60)),
        ));
        assert_eq!(out, Some(7));
    }
}
