//! The process's file-size limit (`ulimit -f`): a write past it does not
//! fail, the kernel ends the process (`SIGXFSZ`), so every write of the
//! crate is checked against it first.

use std::io::{self, Write};
use std::time::Duration;

/// The process's file-size limit (the soft `RLIMIT_FSIZE`, `ulimit -f`),
/// read once: `None` when there is none. A write that would take a file
/// past it does not fail — the kernel kills the process with `SIGXFSZ` —
/// so every write of the crate is checked against it first
/// ([`fits`]), and one that would not fit is not made.
pub(crate) fn size_limit() -> Option<u64> {
    static LIMIT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        #[cfg(unix)]
        {
            use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit};
            match getrlimit(Resource::RLIMIT_FSIZE) {
                #[allow(clippy::useless_conversion, reason = "rlim_t is not u64 everywhere")]
                Ok((soft, _)) if soft != RLIM_INFINITY => Some(u64::from(soft)),
                _ => None,
            }
        }
        #[cfg(not(unix))]
        None
    })
}

/// `Ok` when writing `len` bytes at offset `at` of a regular file stays
/// within the process's [file-size limit](size_limit); else a
/// `FileTooLarge` error that says so (and nothing may be written).
pub(crate) fn fits(at: u64, len: usize) -> io::Result<()> {
    match size_limit() {
        Some(limit) if at.saturating_add(len as u64) > limit => Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "the process's file-size limit (`ulimit -f`: {limit} bytes) leaves no room; \
                 nothing was written, as the write would have ended the process"
            ),
        )),
        _ => Ok(()),
    }
}

/// Writes `bytes` to stderr, best effort: nothing when stderr is a regular
/// file that the [file-size limit](size_limit) leaves no room in (a
/// tool's `2>log` under `ulimit -f`), or when it is closed.
pub(crate) fn to_stderr(bytes: &[u8]) {
    let _ = write_stderr(bytes);
}

/// Writes `bytes` to stderr. Under a file-size limit, when stderr is a
/// regular file: with the file locked (other runs of the crate writing
/// to the same file wait), only if they fit, and with one `write` — a
/// short write is not retried, as the retry would start at the limit.
pub(crate) fn write_stderr(bytes: &[u8]) -> io::Result<()> {
    if size_limit().is_none() {
        return std::io::stderr().lock().write_all(bytes);
    }
    #[cfg(unix)]
    {
        use std::io::Seek as _;
        use std::os::fd::AsFd as _;
        let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
            return Ok(()); // closed: nothing to write to
        };
        let file = std::fs::File::from(fd);
        match file.metadata() {
            Ok(meta) if meta.is_file() => {
                let _held = super::hold(&file, LIMIT_PATIENCE)?;
                let len = file.metadata()?.len();
                // Appended (`2>>`) or written at its offset: past either is
                // past the limit.
                let at = (&file).stream_position().unwrap_or(0);
                fits(at.max(len), bytes.len())?;
                (&file).write(bytes).map(drop)
            }
            _ => std::io::stderr().lock().write_all(bytes), // a terminal or a pipe
        }
    }
    #[cfg(not(unix))]
    std::io::stderr().lock().write_all(bytes)
}

/// How long a write under a file-size limit waits for another process's
/// write to the same file.
pub(crate) const LIMIT_PATIENCE: Duration = Duration::from_millis(200);

/// A test seam, in debug builds only: when `RTB_TELEMETRY_TEST_PAUSE` is
/// `<point>=<ms>`, the process sleeps that long at `point` — standing in
/// for a process stopped (`kill -STOP`) or starved at a moment strace
/// cannot single out. Release builds have no such code.
#[cfg(all(debug_assertions, feature = "upload"))]
pub(crate) fn test_pause(point: &str) {
    let Ok(setting) = std::env::var("RTB_TELEMETRY_TEST_PAUSE") else {
        return;
    };
    if let Some((at, ms)) = setting.split_once('=')
        && at == point
        && let Ok(ms) = ms.parse()
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

#[cfg(all(not(debug_assertions), feature = "upload"))]
#[inline]
pub(crate) fn test_pause(_point: &str) {}
