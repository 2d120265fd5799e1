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
#[cfg(any(unix, feature = "http"))]
pub(crate) fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("hung: no answer within {secs} s"))
}

/// The mytool example binary, built from this tree.
#[cfg(all(feature = "clap", feature = "otlp"))]
pub(crate) fn mytool() -> std::path::PathBuf {
    example("mytool")
}

/// An example binary, built from the tree under test with this test
/// binary's features (once per example and test run: `cargo build` is a
/// no-op when it is up to date), so a test never runs a stale binary left
/// in `target/`. Fails the test, with cargo's message, if it cannot build.
#[cfg(all(feature = "clap", feature = "otlp"))]
pub(crate) fn example(name: &str) -> std::path::PathBuf {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static BUILT: OnceLock<Mutex<HashMap<String, std::path::PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> → target/<profile>/examples/<name>
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>");
    let features: Vec<&str> = [
        (cfg!(feature = "clap"), "clap"),
        (cfg!(feature = "http"), "http"),
        (cfg!(feature = "otlp"), "otlp"),
    ]
    .iter()
    .filter_map(|&(on, f)| on.then_some(f))
    .collect();
    let mut cargo = std::process::Command::new(env!("CARGO"));
    cargo
        .args(["build", "--quiet", "--example", name, "--features"])
        .arg(features.join(","))
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        cargo.arg("--release");
    }
    let out = cargo.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "cannot build example `{name}` from this tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "cargo built `{name}` but {} is missing",
        path.display()
    );
    built.insert(name.to_owned(), path.clone());
    path
}

/// Whether this process runs as root.
#[cfg(unix)]
pub(crate) fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

#[cfg(all(feature = "clap", feature = "otlp"))]
/// Fails the test unless `program` runs: for tests marked `#[ignore]`
/// because they need a tool a fresh machine may lack, which CI installs
/// and runs with `--ignored`.
pub(crate) fn require_tool(program: &str, why: &str) {
    let found = std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok();
    assert!(found, "`{program}` is needed ({why}); install it (CI does)");
}

/// Fails the test unless it runs as root: for `#[ignore]`d tests that
/// mount a file system or act as another user, which CI runs with
/// `--ignored` as root.
#[cfg(unix)]
pub(crate) fn require_root(why: &str) {
    assert!(
        is_root(),
        "this test needs root ({why}); run it as root with --ignored (CI does)"
    );
}

#[cfg(all(feature = "clap", feature = "otlp"))]
/// Runs `command`, killing it if it has not ended within `secs` seconds
/// (a hang check, with std alone: no `timeout` program needed).
pub(crate) fn output_within(
    command: &mut std::process::Command,
    secs: u64,
) -> std::process::Output {
    use std::io::Read;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the command starts");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hung: the command did not end within {secs} s: {command:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
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

/// How many launch tokens (`launch-*`) wait in the spool directory `spool`
/// (0 when it is not there).
#[cfg(feature = "http")]
pub(crate) fn launch_tokens(spool: &std::path::Path) -> usize {
    std::fs::read_dir(spool).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("launch-"))
            .count()
    })
}

/// `file`'s exclusive advisory lock, held (as another process would hold
/// it) until dropped.
pub(crate) struct HeldLock {
    #[cfg(unix)]
    _lock: nix::fcntl::Flock<std::fs::File>,
    #[cfg(not(unix))]
    _lock: std::fs::File,
}

/// Takes `file`'s exclusive lock, waiting for it: `flock` on Unix (as the
/// crate does), `LockFileEx` through std on Windows.
pub(crate) fn hold_lock(file: std::fs::File) -> HeldLock {
    #[cfg(unix)]
    {
        use nix::fcntl::{Flock, FlockArg};
        HeldLock {
            _lock: Flock::lock(file, FlockArg::LockExclusive).expect("the lock"),
        }
    }
    #[cfg(not(unix))]
    {
        file.lock().expect("the lock");
        HeldLock { _lock: file }
    }
}

/// Every file under `dir`, sorted (directories followed, as `is_dir` does).
#[cfg(all(feature = "clap", feature = "otlp"))]
pub(crate) fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}
