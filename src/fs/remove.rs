//! Removing what the crate deletes so that nothing can be written into it
//! meanwhile, and what someone planted at one of its paths.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use super::{rename, transient};

/// `open` failed because something that is not a regular file is there.
pub(crate) fn planted(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidInput | io::ErrorKind::IsADirectory
    ) || is_eloop(e)
}

#[cfg(unix)]
fn is_eloop(e: &io::Error) -> bool {
    e.raw_os_error() == Some(nix::libc::ELOOP)
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
