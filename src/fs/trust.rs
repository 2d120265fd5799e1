//! What may be trusted: directories the user's own and private, files no
//! other user could have written, paths no other user could have laid.

use std::fs;
use std::io;
use std::path::Path;

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
                crate::text::shown(parent),
                dir.uid()
            ));
        }
        if dir.mode() & 0o022 != 0 && dir.mode() & 0o1000 == 0 {
            return refuse(format!(
                "other users can write to the directory it is in, {} (mode {:o})",
                crate::text::shown(parent),
                dir.mode() & 0o777
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
