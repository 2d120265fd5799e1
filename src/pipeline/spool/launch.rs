//! The uploader's tokens and pid: only a process a run started (with a
//! one-time token) acts as the uploader, and `status` says which is at
//! work.

use std::fs;
use std::time::Duration;

use super::{LAUNCH, PID, Spool, UPLOAD_LOCK};

impl Spool {
    /// The process id of the uploader at work, if one is: its `upload.pid`,
    /// but only while `upload.lock` is held (a killed uploader's file is
    /// stale).
    ///
    /// The id is read as a number: the file is anyone's with the user's
    /// rights to edit, and what it holds is never printed as text.
    pub(crate) fn uploader_at_work(&self) -> Option<u32> {
        let pid = crate::fs::read_small(&self.path(PID), 32).ok()??;
        let pid = std::str::from_utf8(&pid).ok()?.trim().parse().ok()?;
        let held = crate::fs::lock(&self.path(UPLOAD_LOCK), Duration::ZERO)
            .is_ok_and(|lock| lock.is_none());
        held.then_some(pid)
    }

    /// Creates a one-time launch token for an uploader about to be
    /// started: only a process that presents it acts as the uploader, and
    /// only once.
    pub(crate) fn new_launch(&self) -> Option<String> {
        // Not uuid's: it panics when the random source fails, and a panic
        // hook starts uploaders too.
        let token = super::record::fresh_id(self.dir().as_os_str().as_encoded_bytes());
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(self.path(&format!("{LAUNCH}{token}"))).ok()?;
        Some(token)
    }

    /// Uses up the launch token `token`: `true` once, for the process the
    /// crate started with it; `false` for anything else.
    pub(crate) fn consume_launch(&self, token: &str) -> bool {
        let well_formed = token.len() == 32
            && token
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        well_formed
            && self.check().is_ok()
            && fs::remove_file(self.path(&format!("{LAUNCH}{token}"))).is_ok()
    }
}
