//! File-system primitives that another local user cannot turn against us:
//! no following a planted symlink, no blocking on a FIFO, no reading a
//! device until memory runs out, private directories, atomic replacement,
//! and advisory locks that give up instead of hanging.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;
mod limit;
mod lock;
mod remove;
mod trust;
mod write;

#[cfg(feature = "upload")]
pub(crate) use limit::test_pause;
pub(crate) use limit::{LIMIT_PATIENCE, fits, size_limit, to_stderr, write_stderr};
pub(crate) use lock::{Lock, Mode, hold, lock, lock_as, try_mutex};
pub(crate) use remove::{planted, remove_all_now, remove_planted, remove_retrying};
#[cfg(feature = "upload")]
pub(crate) use trust::check_private_meta;
pub(crate) use trust::{check_own_file, check_private_dir, check_trusted_path};
pub(crate) use write::{rename, transient, write_atomic, write_replacing};
#[cfg(feature = "upload")]
pub(crate) use write::{temp_path, write_replacing_if};

/// The error for "something that is not a regular file is at this path".
fn not_regular(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} is not a regular file (a FIFO, socket, device or directory is there)"),
    )
}

/// Flags that make `open` fail on a symlink at the last component and never
/// block (on a FIFO without a peer, or a device).
#[cfg(unix)]
fn hostile_safe(options: &mut OpenOptions, follow: bool) {
    use std::os::unix::fs::OpenOptionsExt;
    let nofollow = if follow { 0 } else { nix::libc::O_NOFOLLOW };
    options.custom_flags(nofollow | nix::libc::O_NONBLOCK);
}

#[cfg(not(unix))]
fn hostile_safe(_: &mut OpenOptions, _follow: bool) {}

/// `open` failed because the last component is a symlink (`O_NOFOLLOW`).
fn symlink_refused(e: io::Error) -> io::Error {
    #[cfg(unix)]
    if e.raw_os_error() == Some(nix::libc::ELOOP) {
        return io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path is a symbolic link, which telemetry files never follow",
        );
    }
    e
}

/// Opens `path` for appending, creating it with `mode` (Unix) if needed,
/// without following a symlink there and without blocking; refuses anything
/// but a regular file, checked on the opened handle.
pub(crate) fn open_append(path: &Path, mode: u32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    hostile_safe(&mut options, false);
    let file = options.open(path).map_err(symlink_refused)?;
    if !file.metadata()?.is_file() {
        return Err(not_regular("the path"));
    }
    Ok(file)
}

/// Reads `path` if it is a regular file of at most `limit` bytes (symlinks
/// to one are followed: dotfile managers link config files). `Ok(None)`
/// when nothing is there. Never blocks on a FIFO and never reads past
/// `limit`, whatever the file claims.
#[cfg(any(feature = "upload", all(test, unix)))]
pub(crate) fn read_small(path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
    Ok(read_small_with_meta(path, limit)?.map(|(bytes, _)| bytes))
}

/// [`read_small`], following a symlink at `path` only when `follow`
/// (refused with `InvalidInput` otherwise, like anything but a regular
/// file); `InvalidData` for a file over `limit`.
pub(crate) fn read_small_bytes(
    path: &Path,
    limit: u64,
    follow: bool,
) -> io::Result<Option<Vec<u8>>> {
    Ok(open_small(path, limit, follow)?.map(|(bytes, _)| bytes))
}

/// [`read_small`], with the metadata of the file that was read (from the
/// same handle, so it describes exactly what the bytes came from).
pub(crate) fn read_small_with_meta(
    path: &Path,
    limit: u64,
) -> io::Result<Option<(Vec<u8>, fs::Metadata)>> {
    open_small(path, limit, true)
}

fn open_small(
    path: &Path,
    limit: u64,
    follow: bool,
) -> io::Result<Option<(Vec<u8>, fs::Metadata)>> {
    let mut options = OpenOptions::new();
    options.read(true);
    hostile_safe(&mut options, follow);
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if follow => return Err(e),
        Err(e) => return Err(symlink_refused(e)),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular("the file"));
    }
    if meta.len() > limit {
        return Err(too_big(limit));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).saturating_add(1));
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_big(limit)); // it grew while we read
    }
    Ok(Some((bytes, meta)))
}

/// Opens the regular file at `path` for reading, not through a symlink
/// and without blocking; `Ok(None)` when nothing is there.
#[cfg(feature = "upload")]
pub(crate) fn open_regular(path: &Path) -> io::Result<Option<File>> {
    let mut options = OpenOptions::new();
    options.read(true);
    hostile_safe(&mut options, false);
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(symlink_refused(e)),
    };
    if !file.metadata()?.is_file() {
        return Err(not_regular("the file"));
    }
    Ok(Some(file))
}

/// What identifies one version of a file: replaced atomically (a new
/// inode) or changed in place (size, time), it differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
}

impl Fingerprint {
    pub(crate) fn of(meta: &fs::Metadata) -> Self {
        Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            inode: {
                use std::os::unix::fs::MetadataExt;
                (meta.dev(), meta.ino())
            },
        }
    }
}

fn too_big(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the file is larger than {limit} bytes"),
    )
}

/// Creates `dir` and its missing parents, private to this user (0700 on
/// Unix). Existing directories keep their mode.
pub(crate) fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(all(test, unix))]
mod tests {
    use std::thread;
    use std::time::Duration;

    use super::write::retrying;
    use super::*;

    thread_local! {
        /// The error every lock attempt on this thread fails with.
        pub(super) static INJECTED_LOCK_ERROR: std::cell::Cell<Option<i32>> =
            const { std::cell::Cell::new(None) };
    }

    #[test]
    fn a_file_system_without_locks_means_going_on_unlocked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.lock");
        for errno in [nix::errno::Errno::ENOTSUP, nix::errno::Errno::ENOLCK] {
            INJECTED_LOCK_ERROR.set(Some(errno as i32));
            let lock = lock(&path, Duration::ZERO);
            INJECTED_LOCK_ERROR.set(None);
            assert!(matches!(lock, Ok(Some(_))), "{errno}: {lock:?}");
        }
        // Any other failure is one.
        INJECTED_LOCK_ERROR.set(Some(nix::errno::Errno::EIO as i32));
        let lock = lock(&path, Duration::ZERO);
        INJECTED_LOCK_ERROR.set(None);
        assert!(lock.is_err(), "{lock:?}");
    }

    #[test]
    fn what_an_earlier_removal_left_aside_goes_with_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        let leftover = dir.path().join("spool.deleted-0123abcd");
        for d in [&spool, &leftover] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("events.jsonl"), "{}\n").unwrap();
        }
        let unrelated = [
            dir.path().join("spool2"),
            dir.path().join("other.deleted-1"),
        ];
        for d in &unrelated {
            std::fs::create_dir_all(d).unwrap();
        }
        super::remove_all_now(&spool).unwrap();
        assert!(!spool.exists() && !leftover.exists());
        assert!(unrelated.iter().all(|d| d.exists()));
        // With nothing at the path itself, a leftover still goes.
        std::fs::create_dir_all(&leftover).unwrap();
        super::remove_all_now(&spool).unwrap();
        assert!(!leftover.exists());
    }

    #[test]
    fn a_transient_failure_is_tried_again_and_a_lasting_one_is_not() {
        let mut calls = 0;
        let done = retrying(|| {
            calls += 1;
            if calls < 3 {
                Err(io::Error::from(io::ErrorKind::ResourceBusy))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(done.unwrap(), 3);
        let mut calls = 0;
        let failed: io::Result<()> = retrying(|| {
            calls += 1;
            Err(io::Error::from(io::ErrorKind::NotFound))
        });
        assert!(failed.is_err());
        assert_eq!(calls, 1, "a lasting failure is not retried");
        let mut calls = 0;
        let gave_up: io::Result<()> = retrying(|| {
            calls += 1;
            Err(io::Error::from(io::ErrorKind::ResourceBusy))
        });
        assert!(gave_up.is_err());
        assert_eq!(calls, 5, "briefly: four more tries");
    }

    #[test]
    fn a_lock_waited_for_while_its_file_was_removed_is_taken_on_the_file_there_now() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.lock");
        let first = lock(&path, Duration::ZERO).unwrap().expect("free");
        let waiter = {
            let path = path.clone();
            thread::spawn(move || lock(&path, Duration::from_secs(10)).unwrap())
        };
        thread::sleep(Duration::from_millis(200));
        // What `reset` does: the file removed while held, then let go.
        fs::remove_file(&path).unwrap();
        drop(first);
        let second = waiter.join().unwrap().expect("the waiter gets a lock");
        // The waiter's lock keeps out whoever comes next, at the same path.
        assert!(
            lock(&path, Duration::from_millis(100)).unwrap().is_none(),
            "two holders of one lock"
        );
        drop(second);
        assert!(lock(&path, Duration::ZERO).unwrap().is_some());
    }

    #[test]
    fn open_append_refuses_a_symlink_and_a_fifo_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, "keep").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = open_append(&link, 0o644).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");

        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        // No reader: a blocking open would hang here forever.
        assert!(open_append(&fifo, 0o644).is_err());
        assert!(read_small(&fifo, 1024).is_err());
    }

    #[test]
    fn read_small_stops_at_the_limit_and_refuses_devices() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        fs::write(&big, vec![b'x'; 2048]).unwrap();
        assert_eq!(
            read_small(&big, 1024).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(read_small(&big, 4096).unwrap().unwrap().len(), 2048);
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert_eq!(
            read_small(&zero, 1024).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(read_small(&dir.path().join("none"), 1).unwrap(), None);
    }

    #[test]
    fn lock_gives_up_after_its_patience() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.lock");
        let held = lock(&path, Duration::ZERO).unwrap().unwrap();
        assert!(lock(&path, Duration::from_millis(20)).unwrap().is_none());
        drop(held);
        assert!(lock(&path, Duration::ZERO).unwrap().is_some());
    }

    #[test]
    fn private_dirs_are_0700() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        create_private_dir_all(&nested).unwrap();
        for d in [dir.path().join("a"), nested] {
            let mode = fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", d.display());
        }
    }
}
