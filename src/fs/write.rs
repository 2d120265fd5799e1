//! Atomic replacement, and renames tried again while they fail for a
//! reason that passes (a Windows sharing violation).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use super::fits;

/// A temporary name next to `path`, unpredictable to other users.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    path.with_file_name(name)
}

/// Replaces `path` with `bytes` atomically: a new temporary file (mode
/// `mode`, created exclusively, so nothing planted there is followed),
/// synced, then renamed over `path`. Readers see the old or the new
/// content, never a mix.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_replacing(path, bytes, mode, true)
}

/// [`write_atomic`], synced to disk only if `sync` (counters and other
/// state that a crash may lose need not wait for the disk).
pub(crate) fn write_replacing(path: &Path, bytes: &[u8], mode: u32, sync: bool) -> io::Result<()> {
    write_replacing_if(path, bytes, mode, sync, || Ok(()))
}

/// [`write_replacing`], with `still` asked once the new content is ready,
/// just before it replaces `path`: an error there leaves `path` as it was.
pub(crate) fn write_replacing_if(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    sync: bool,
    still: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    let tmp = temp_path(path);
    let written = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        #[cfg(not(unix))]
        let _ = mode;
        fits(0, bytes.len())?;
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        if sync {
            file.sync_all()?;
        }
        still()?;
        rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Whether a failed rename or delete may succeed when tried again soon:
/// on Windows, a file another process has open for a moment (antivirus,
/// the search indexer, a backup tool) fails with a sharing or lock
/// violation, or access denied; anywhere, a busy or interrupted call.
pub(crate) fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ResourceBusy | io::ErrorKind::Interrupted
    ) || (cfg!(windows)
        && (e.kind() == io::ErrorKind::PermissionDenied
            // ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION
            || matches!(e.raw_os_error(), Some(32 | 33))))
}

/// `op`, tried again up to four times over about 150 ms while it fails
/// [transiently](transient); any other result at once.
pub(crate) fn retrying<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut attempt = 0;
    loop {
        match op() {
            Err(e) if transient(&e) && attempt < 4 => {
                thread::sleep(Duration::from_millis(10 << attempt));
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// `fs::rename`, [retried](retrying) while it fails transiently.
pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    retrying(|| fs::rename(from, to))
}
