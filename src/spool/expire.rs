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
    /// whose first record is that old (records are appended in time order,
    /// so a file whose first record is younger holds none). Returns how
    /// many were deleted.
    ///
    /// Cheap when there is nothing to do: one `lstat` without a spool; with
    /// one, a listing and the first line of each file. A file is rewritten
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
            .filter(|path| first_is_expired(path, &cutoff))
            .collect();
        if old.is_empty() {
            return 0;
        }
        let Ok(Some(_upload)) = crate::fs::lock(&self.path("upload.lock"), Duration::ZERO) else {
            return 0; // an uploader is at work, and deletes them itself
        };
        let mut expired = 0;
        for path in old {
            let _append = if super::name_of(&path) == EVENTS {
                match crate::fs::lock(&self.path("spool.lock"), Duration::from_millis(200)) {
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

/// Whether the first complete record of the file at `path` is expired.
fn first_is_expired(path: &Path, cutoff: &str) -> bool {
    let Ok(Some(head)) = read_head(path) else {
        return false;
    };
    let Some(end) = head.iter().position(|&b| b == b'\n') else {
        return false;
    };
    super::parse_records(&head[..=end])
        .0
        .first()
        .is_some_and(|(record, _)| expired(&record.event.timestamp_utc, cutoff))
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
        .filter(|(record, _)| !expired(&record.event.timestamp_utc, cutoff))
        .collect();
    let gone = (before - kept.len()) as u64;
    let done = if kept.is_empty() {
        crate::fs::remove_retrying(path)
    } else {
        crate::fs::write_atomic(path, &super::join(&kept), 0o600)
    };
    if done.is_ok() { gone } else { 0 }
}
