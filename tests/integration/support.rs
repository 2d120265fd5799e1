//! Helpers shared by the integration tests.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use rtb_telemetry::{Event, TelemetryError, TelemetrySink};

/// Runs `fut` to completion on a fresh current-thread runtime.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
        .block_on(fut)
}

/// Runs `fut` to completion with nothing but `std`: poll, park until woken.
pub(crate) fn park_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// Runs `f` on its own thread and fails the test if it has not returned
/// within `secs` seconds: a hang check, so a regression that blocks (on a
/// FIFO, a lock) fails instead of hanging the test run.
pub(crate) fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("hung: no answer within {secs} s"))
}

/// The mytool example binary, if this test run built it (`cargo test
/// --all-features` does).
pub(crate) fn mytool() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples/mytool");
    path.exists().then_some(path)
}

/// Polls `fut` exactly once with a no-op waker: no runtime involved.
pub(crate) fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    pin!(fut).poll(&mut cx)
}

/// A sink that panics if it is ever reached.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PanicSink;

impl TelemetrySink for PanicSink {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        panic!("PanicSink::emit reached with event {:?}", event.name)
    }

    async fn flush(&self) -> Result<(), TelemetryError> {
        panic!("PanicSink::flush reached")
    }
}

pub(crate) const SALT: &str = "rtb-telemetry-tests";

/// A 64-character lowercase hex string.
pub(crate) fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
