//! The age bound, kept by every run: records older than it are deleted by
//! whichever run finds them, telemetry on or off — not only by an
//! uploader, which an off switch or a missing endpoint never starts.

use std::io::Read as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::{EVENTS, Spool};

/// How much of a spool file is read to find its first (oldest) record:
/// far above one record's bound.
const HEAD: u64 = 256 * 1024;

impl Spool {
    /// Deletes the records older than the age bound from every spool file
    /// whose head (its first 256 KiB: records are appended in time order,
    /// so the oldest are there) holds one that old, or holds no record at
    /// all (garbage, which nothing will ever send). Returns how many
    /// records were deleted.
    ///
    /// Cheap when there is nothing to do: one `lstat` without a spool; with
    /// one, a listing and the head of each file. A file is rewritten
    /// only under the locks its writers take (`upload.lock`, and
    /// `spool.lock` for `events.jsonl`), without waiting for an uploader at
    /// work: it deletes what is expired itself.
    pub(crate) fn expire(&self) -> u64 {
        let Ok(meta) = std::fs::symlink_metadata(self.dir()) else {
            return 0;
        };
        if crate::fs::check_private_meta(&meta).is_err() {
            return 0;
        }
        let cutoff = crate::timestamp::rfc3339_utc(
            SystemTime::now()
                .checked_sub(self.max_age)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        );
        let old: Vec<_> = self
            .files()
            .into_iter()
            .filter(|path| head_is_expired(path, &cutoff))
            .collect();
        if old.is_empty() {
            return 0;
        }
        let Ok(Some(_upload)) = crate::fs::lock(&self.path(super::UPLOAD_LOCK), Duration::ZERO)
        else {
            return 0; // an uploader is at work, and deletes them itself
        };
        let mut expired = 0;
        for path in old {
            let _append = if super::name_of(&path) == EVENTS {
                match crate::fs::lock(&self.path(super::SPOOL_LOCK), Duration::from_millis(200)) {
                    Ok(Some(lock)) => Some(lock),
                    _ => continue,
                }
            } else {
                None
            };
            expired += prune(&path, &cutoff);
        }
        expired
    }
}

/// Whether a record's timestamp is older than `cutoff` (or not a
/// timestamp of the crate's: then it is nothing anyone will send).
pub(crate) fn expired(at: &str, cutoff: &str) -> bool {
    // The crate's timestamps have one fixed width, so they compare as text.
    at.len() != cutoff.len() || at < cutoff
}

/// Whether the head of the file at `path` holds an expired record, or
/// bytes but not one record (garbage; a line longer than the head).
fn head_is_expired(path: &Path, cutoff: &str) -> bool {
    let Ok(Some(head)) = read_head(path) else {
        return false;
    };
    // Complete lines only: the last one may be cut by the head's end, or
    // still being written.
    let complete = head
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(&[][..], |end| &head[..=end]);
    let (records, _) = super::parse_records(complete);
    if records.is_empty() {
        // Complete lines that are not records, or one line longer than any
        // record: nothing there will ever be sent.
        return !complete.is_empty() || head.len() as u64 >= HEAD;
    }
    records
        .iter()
        .any(|(record, _)| expired(record.at(), cutoff))
}

/// The first [`HEAD`] bytes of a regular file (not through a symlink,
/// never blocking).
fn read_head(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    let Some(file) = crate::fs::open_regular(path)? else {
        return Ok(None);
    };
    let mut head = Vec::new();
    file.take(HEAD).read_to_end(&mut head)?;
    Ok(Some(head))
}

/// Rewrites the file at `path` without its expired records (deleting it
/// when none is left): how many went.
fn prune(path: &Path, cutoff: &str) -> u64 {
    let Ok((records, _)) = super::read_records(path, super::MAX_FILE) else {
        return 0;
    };
    let before = records.len();
    let kept: Vec<_> = records
        .into_iter()
        .filter(|(record, _)| !expired(record.at(), cutoff))
        .collect();
    let gone = (before - kept.len()) as u64;
    let done = if kept.is_empty() {
        crate::fs::remove_retrying(path).map(|()| gone)
    } else {
        match crate::fs::write_atomic(path, &super::join(&kept), 0o600) {
            // The file-size limit (`ulimit -f`) leaves no room to write
            // what is kept: the file goes whole, like a full spool's
            // events, rather than keep what is expired.
            Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                crate::fs::remove_retrying(path).map(|()| before as u64)
            }
            other => other.map(|()| gone),
        }
    };
    done.unwrap_or(0)
}
