//! File-system primitives that another local user cannot turn against us:
//! no following a planted symlink, no blocking on a FIFO, no reading a
//! device until memory runs out, private directories, atomic replacement,
//! and advisory locks that give up instead of hanging.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

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
    let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
    options.custom_flags(nofollow | libc::O_NONBLOCK);
}

#[cfg(not(unix))]
fn hostile_safe(_: &mut OpenOptions, _follow: bool) {}

/// `path` for a terminal: control and bidirectional formatting characters
/// (a directory a cloned repository named with escape sequences) escaped.
pub(crate) fn shown(path: &Path) -> String {
    crate::redact::printable(&path.display().to_string())
}

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
        let file = File::from(fd);
        match file.metadata() {
            Ok(meta) if meta.is_file() => {
                let _held = hold(&file, LIMIT_PATIENCE)?;
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
#[cfg(all(debug_assertions, feature = "http"))]
pub(crate) fn test_pause(point: &str) {
    let Ok(setting) = std::env::var("RTB_TELEMETRY_TEST_PAUSE") else {
        return;
    };
    if let Some((at, ms)) = setting.split_once('=')
        && at == point
        && let Ok(ms) = ms.parse()
    {
        thread::sleep(Duration::from_millis(ms));
    }
}

#[cfg(all(not(debug_assertions), feature = "http"))]
#[inline]
pub(crate) fn test_pause(_point: &str) {}

/// `open` failed because the last component is a symlink (`O_NOFOLLOW`).
fn symlink_refused(e: io::Error) -> io::Error {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP) {
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
#[cfg(any(feature = "http", all(test, unix)))]
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
#[cfg(feature = "http")]
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

/// An advisory lock held on a lock file until dropped.
#[derive(Debug)]
pub(crate) struct Lock {
    _file: File,
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
        if !wait_for_lock(&file, mode, start, patience)? {
            return Ok(None);
        }
        // `reset` removes the lock file (holding it): a lock on a file no
        // longer at `path` locks out nobody, so take the one there now.
        if still_at(&file, path) {
            return Ok(Some(Lock { _file: file }));
        }
        if start.elapsed() >= patience {
            return Ok(None);
        }
    }
}

/// Waits for `file`'s lock until `patience` (counted from `start`) runs
/// out: `true` when it is held.
fn wait_for_lock(file: &File, mode: Mode, start: Instant, patience: Duration) -> io::Result<bool> {
    loop {
        match try_lock(file, mode) {
            Ok(()) => return Ok(true),
            // A file system without locks (NFS or SMB mounted without them):
            // go on unlocked, as cargo does, rather than never work there.
            Err(fs::TryLockError::Error(e)) if no_locking_here(&e) => return Ok(true),
            Err(fs::TryLockError::WouldBlock) => {
                let waited = start.elapsed();
                if waited >= patience {
                    return Ok(false);
                }
                // Short waits stay short; a long one polls a few times a
                // second at most.
                let pause = (waited / 8).clamp(Duration::from_millis(1), Duration::from_millis(50));
                thread::sleep(pause.min(patience.saturating_sub(waited)));
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// One try at `file`'s lock. (Tests inject the error a file system
/// without locks gives.)
fn try_lock(file: &File, mode: Mode) -> Result<(), fs::TryLockError> {
    #[cfg(all(test, unix))]
    if let Some(code) = tests::INJECTED_LOCK_ERROR.get() {
        return Err(fs::TryLockError::Error(io::Error::from_raw_os_error(code)));
    }
    match mode {
        Mode::Exclusive => file.try_lock(),
        Mode::Shared => file.try_lock_shared(),
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
    if wait_for_lock(file, Mode::Exclusive, Instant::now(), patience)? {
        Ok(Held(file))
    } else {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "another process held the file's lock too long",
        ))
    }
}

/// A lock [held](hold) on an open file.
pub(crate) struct Held<'a>(&'a File);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
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

/// `open` failed because something that is not a regular file is there.
pub(crate) fn planted(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidInput | io::ErrorKind::IsADirectory
    ) || is_eloop(e)
}

#[cfg(unix)]
fn is_eloop(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}

#[cfg(not(unix))]
fn is_eloop(_: &io::Error) -> bool {
    false
}

/// Removes what is not a regular file at `path`: a symlink, FIFO, socket
/// or device (the link itself, never its target), or an empty directory.
/// A directory with content is left alone, and the error says so.
pub(crate) fn remove_planted(path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        fs::remove_dir(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("a directory is where a file belongs, and it cannot be removed ({e})"),
            )
        })
    } else {
        fs::remove_file(path)
    }
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

/// Deletes the directory (or file) at `path` so that nothing can be
/// written into it meanwhile: it is first renamed to a unique name beside
/// it — atomic, so a process that creates files by path from then on
/// finds nothing there — and that is then removed, retried briefly while
/// something still holds or adds to it. `Ok` when nothing is left at
/// `path` (nothing there is fine).
///
/// What an earlier call renamed but could not remove (`<name>.deleted-…`
/// beside it: unsent events, say) is removed too, and counts: `Ok` only
/// when none of it is left either.
pub(crate) fn remove_all_now(path: &Path) -> io::Result<()> {
    let mut trash = path.as_os_str().to_owned();
    trash.push(format!(".deleted-{}", uuid::Uuid::new_v4().simple()));
    let trash = PathBuf::from(trash);
    let moved = match rename(path, &trash) {
        Ok(()) => remove_retrying(&trash),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    moved.and(remove_leftovers(path))
}

/// Removes `<name>.deleted-*` beside `path`: what [`remove_all_now`] moved
/// aside earlier and could not remove then.
fn remove_leftovers(path: &Path) -> io::Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    let mut prefix = name.to_owned();
    prefix.push(".deleted-");
    let prefix = prefix.to_string_lossy().into_owned();
    let Ok(entries) = fs::read_dir(if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    }) else {
        return Ok(());
    };
    let mut result = Ok(());
    for entry in entries.filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().starts_with(&prefix)
            && let Err(e) = remove_retrying(&entry.path())
        {
            result = Err(e);
        }
    }
    result
}

/// `remove_dir_all` (or `remove_file`), tried a few times over about a
/// second when it fails for a reason that may pass.
pub(crate) fn remove_retrying(path: &Path) -> io::Result<()> {
    let mut last = None;
    for attempt in 0..8 {
        let removed = match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
            Ok(_) => fs::remove_file(path),
            Err(e) => Err(e),
        };
        match removed {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if !transient(&e)
                    && matches!(
                        e.kind(),
                        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
                    ) =>
            {
                return Err(e);
            }
            Err(e) => last = Some(e),
        }
        thread::sleep(Duration::from_millis(10 << attempt.min(4)));
    }
    Err(last.unwrap_or_else(|| io::Error::other("could not be removed")))
}

/// Whether the directory at `dir` may be trusted with the user's events:
/// a real directory (not a symlink), owned by this user, and writable by
/// no one else. `Ok(())` when nothing is there. The error says which.
pub(crate) fn check_private_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(meta) => check_private_meta(&meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// [`check_private_dir`] on metadata already read (with `lstat`).
pub(crate) fn check_private_meta(meta: &fs::Metadata) -> io::Result<()> {
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is a symbolic link or not a directory; nothing is written there until it is \
             removed",
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = crate::machine::effective_uid();
        if meta.uid() != me {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "it belongs to another user (uid {}, not {me}); nothing is read or \
                     written there until it is removed",
                    meta.uid()
                ),
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "other users can write to it (mode {:o}); nothing is read or written \
                     there until it is made private (chmod 700) or removed",
                    meta.mode() & 0o777
                ),
            ));
        }
    }
    Ok(())
}

/// Whether a file read from `meta` may be trusted to turn something on:
/// owned by this user and writable by no one else (what another user
/// owns or can write, they could have written). The error says which.
pub(crate) fn check_own_file(meta: &fs::Metadata) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = crate::machine::effective_uid();
        if meta.uid() != me {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "it belongs to another user (uid {}, not {me}), who could have written it",
                    meta.uid()
                ),
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "other users can write to it (mode {:o})",
                    meta.mode() & 0o777
                ),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    Ok(())
}

/// Whether what leads to the file at `path` may be trusted, beside the
/// file itself ([`check_own_file`]): a symbolic link there must be this
/// user's (or root's) own, and the directory it is in must be this
/// user's or root's and writable by no one else (or sticky, like
/// `/tmp`, where nobody can replace another's entry) — else another user
/// could have put it there, pointing at any file this user owns.
pub(crate) fn check_trusted_path(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = crate::machine::effective_uid();
        let refuse = |why: String| Err(io::Error::new(io::ErrorKind::PermissionDenied, why));
        if let Ok(link) = fs::symlink_metadata(path)
            && link.file_type().is_symlink()
            && link.uid() != me
            && link.uid() != 0
        {
            return refuse(format!(
                "it is a symbolic link another user made (uid {}, not {me})",
                link.uid()
            ));
        }
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = fs::metadata(parent)?;
        if dir.uid() != me && dir.uid() != 0 {
            return refuse(format!(
                "the directory it is in, {}, belongs to another user (uid {}, not {me})",
                shown(parent),
                dir.uid()
            ));
        }
        if dir.mode() & 0o022 != 0 && dir.mode() & 0o1000 == 0 {
            return refuse(format!(
                "other users can write to the directory it is in, {} (mode {:o})",
                shown(parent),
                dir.mode() & 0o777
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
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
