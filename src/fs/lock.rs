//! Advisory locks that give up instead of hanging, on separate `*.lock`
//! files (the data files themselves are never locked), and on an open file
//! while it is appended to.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use super::{hostile_safe, not_regular, planted, remove_planted, symlink_refused};

/// An advisory lock held on a lock file until dropped.
#[derive(Debug)]
pub(crate) struct Lock {
    _held: Flocked,
}

/// Exclusive (one holder) or shared (many holders, no exclusive one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Exclusive,
    Shared,
}

/// Takes the exclusive advisory lock on `path` (created 0600 if missing),
/// trying until `patience` runs out. `Ok(None)` when another process holds
/// it that long: the caller decides whether to go on without it.
///
/// Something that is not a regular file at `path` (a directory, FIFO or
/// symlink, planted or left by a crash) is removed once and the lock file
/// made again, so such a thing cannot stop the crate for good.
pub(crate) fn lock(path: &Path, patience: Duration) -> io::Result<Option<Lock>> {
    lock_as(path, Mode::Exclusive, patience)
}

/// [`lock`], shared or exclusive.
pub(crate) fn lock_as(path: &Path, mode: Mode, patience: Duration) -> io::Result<Option<Lock>> {
    let start = Instant::now();
    loop {
        let file = match open_lock_file(path) {
            Ok(file) => file,
            Err(e) if planted(&e) => {
                remove_planted(path)?;
                open_lock_file(path)?
            }
            Err(e) => return Err(e),
        };
        let Some(held) = wait_for_lock(file, mode, start, patience)? else {
            return Ok(None);
        };
        // `reset` removes the lock file (holding it): a lock on a file no
        // longer at `path` locks out nobody, so take the one there now.
        if still_at(held.file(), path) {
            return Ok(Some(Lock { _held: held }));
        }
        if start.elapsed() >= patience {
            return Ok(None);
        }
    }
}

/// Waits for `file`'s lock until `patience` (counted from `start`) runs
/// out: `Some` while it is held.
fn wait_for_lock(
    mut file: File,
    mode: Mode,
    start: Instant,
    patience: Duration,
) -> io::Result<Option<Flocked>> {
    loop {
        file = match try_lock(file, mode) {
            Ok(held) => return Ok(Some(held)),
            // A file system without locks (NFS or SMB mounted without them):
            // go on unlocked, as cargo does, rather than never work there.
            Err((file, Tried::Error(e))) if no_locking_here(&e) => {
                return Ok(Some(Flocked::Unlocked(file)));
            }
            Err((file, Tried::WouldBlock)) => {
                let waited = start.elapsed();
                if waited >= patience {
                    return Ok(None);
                }
                // Short waits stay short (a panic hook's few milliseconds
                // are tried a dozen times); a long one polls a few times a
                // second at most.
                let first = (patience / 16).min(Duration::from_millis(1));
                let pause = (waited / 8).clamp(first, Duration::from_millis(50));
                thread::sleep(pause.min(patience.saturating_sub(waited)));
                file
            }
            Err((_, Tried::Error(e))) => return Err(e),
        }
    }
}

/// Why one try at a lock failed.
enum Tried {
    /// Someone else holds it.
    WouldBlock,
    Error(io::Error),
}

/// A file whose advisory lock is held, let go when dropped; or one on a
/// file system without locks, held unlocked.
#[derive(Debug)]
enum Flocked {
    /// `flock(2)`: nix's, safe (std's `File::lock` needs Rust 1.89, above
    /// the crate's MSRV, and fs4's `rustix` moves hosts' `errno`). Always
    /// `Some` until dropped (see `Drop`).
    #[cfg(unix)]
    Locked(Option<nix::fcntl::Flock<File>>),
    /// `LockFileEx`, through std: on Windows the crate needs Rust 1.89
    /// (Cargo.toml, `rust-version`).
    #[cfg(not(unix))]
    Locked(File),
    Unlocked(File),
}

impl Flocked {
    fn file(&self) -> &File {
        match self {
            #[cfg(unix)]
            Self::Locked(Some(held)) => held,
            #[cfg(unix)]
            Self::Locked(None) => unreachable!("taken only when dropped"),
            #[cfg(not(unix))]
            Self::Locked(held) => held,
            Self::Unlocked(file) => file,
        }
    }
}

#[cfg(unix)]
impl Drop for Flocked {
    /// nix's `Flock` panics when its own `Drop` cannot unlock (`EIO` from
    /// NFS or a FUSE file system), in whatever thread drops it — the
    /// host's, for `FileSink`. So it is unlocked here, and one that cannot
    /// be is forgotten: its descriptor stays open (the kernel lets go of
    /// the lock with the process), and nothing panics
    /// (`file_sink::an_unlock_that_fails_is_no_panic`).
    fn drop(&mut self) {
        if let Self::Locked(held) = self
            && let Some(flock) = held.take()
            && let Err((flock, _)) = flock.unlock()
        {
            std::mem::forget(flock);
        }
    }
}

#[cfg(not(unix))]
impl Drop for Flocked {
    fn drop(&mut self) {
        if let Self::Locked(file) = self {
            #[allow(clippy::incompatible_msrv, reason = "Windows needs 1.89: Cargo.toml")]
            let _ = file.unlock();
        }
    }
}

/// One try at `file`'s lock, giving the file back when it fails. (Tests
/// inject the error a file system without locks gives.)
fn try_lock(file: File, mode: Mode) -> Result<Flocked, (File, Tried)> {
    #[cfg(all(test, unix))]
    if let Some(code) = super::tests::INJECTED_LOCK_ERROR.get() {
        return Err((file, Tried::Error(io::Error::from_raw_os_error(code))));
    }
    #[cfg(unix)]
    {
        use nix::errno::Errno;
        use nix::fcntl::{Flock, FlockArg};
        let arg = match mode {
            Mode::Exclusive => FlockArg::LockExclusiveNonblock,
            Mode::Shared => FlockArg::LockSharedNonblock,
        };
        Flock::lock(file, arg)
            .map(|held| Flocked::Locked(Some(held)))
            .map_err(|(file, errno)| {
                if errno == Errno::EWOULDBLOCK {
                    (file, Tried::WouldBlock)
                } else {
                    (file, Tried::Error(errno.into()))
                }
            })
    }
    #[cfg(not(unix))]
    {
        #[allow(clippy::incompatible_msrv, reason = "Windows needs 1.89: Cargo.toml")]
        let tried = match mode {
            Mode::Exclusive => file.try_lock(),
            Mode::Shared => file.try_lock_shared(),
        };
        match tried {
            Ok(()) => Ok(Flocked::Locked(file)),
            Err(fs::TryLockError::WouldBlock) => Err((file, Tried::WouldBlock)),
            Err(fs::TryLockError::Error(e)) => Err((file, Tried::Error(e))),
        }
    }
}

/// Whether a lock failed because the file system has no locks at all:
/// `ENOTSUP`/`EOPNOTSUPP` (`flock` on NFS, SMB or AFP on macOS) or
/// `ENOLCK` (no lock daemon).
fn no_locking_here(e: &io::Error) -> bool {
    if e.kind() == io::ErrorKind::Unsupported {
        return true;
    }
    #[cfg(unix)]
    {
        use nix::errno::Errno;
        let code = e.raw_os_error();
        [Errno::ENOTSUP, Errno::EOPNOTSUPP, Errno::ENOLCK]
            .iter()
            .any(|errno| code == Some(*errno as i32))
    }
    #[cfg(not(unix))]
    false
}

/// The exclusive lock on an open `file` itself, let go when the guard is
/// dropped; waits at most `patience` for other holders (a `TimedOut`
/// error after that).
pub(crate) fn hold(file: &File, patience: Duration) -> io::Result<Held<'_>> {
    // A second handle on the same open file: its lock is the file's, and
    // goes with it.
    let handle = file.try_clone()?;
    if let Some(held) = wait_for_lock(handle, Mode::Exclusive, Instant::now(), patience)? {
        Ok(Held {
            _held: held,
            _file: std::marker::PhantomData,
        })
    } else {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "another process held the file's lock too long",
        ))
    }
}

/// A lock [held](hold) on an open file, let go when dropped.
pub(crate) struct Held<'a> {
    _held: Flocked,
    _file: std::marker::PhantomData<&'a File>,
}

/// Whether `path` still names the open `file`.
fn still_at(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::symlink_metadata(path)) {
            (Ok(open), Ok(there)) => open.dev() == there.dev() && open.ino() == there.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        // Windows does not delete a file that is open without
        // FILE_SHARE_DELETE, so the one locked is the one at `path`.
        let _ = (file, path);
        true
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    hostile_safe(&mut options, false);
    let file = options.open(path).map_err(symlink_refused)?;
    if !file.metadata()?.is_file() {
        return Err(not_regular("the lock file"));
    }
    Ok(file)
}

/// `mutex`, if no other thread holds it for longer than `patience`: tried,
/// never waited on (a panic hook's in-process locks: the holder may be the
/// panicking thread itself, or a thread that never lets go). A poisoned
/// lock is taken (every critical section of the crate leaves its data
/// whole).
pub(crate) fn try_mutex<T>(
    mutex: &std::sync::Mutex<T>,
    patience: Duration,
) -> Option<std::sync::MutexGuard<'_, T>> {
    let start = Instant::now();
    loop {
        match mutex.try_lock() {
            Ok(guard) => return Some(guard),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => return Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) if start.elapsed() < patience => {
                thread::sleep(Duration::from_micros(50));
            }
            Err(std::sync::TryLockError::WouldBlock) => return None,
        }
    }
}
