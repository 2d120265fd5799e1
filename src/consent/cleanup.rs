//! Deleting what waits to be sent: on an opt-out, and what a run left
//! behind after one (a run held up past it, or killed before it could
//! delete what it wrote).

use std::fs;

use super::file::{Decision, OnDisk};
use super::store::{COMMAND_PATIENCE, ConsentStore};
use crate::TelemetryError;
use crate::pipeline::layout;

/// What the data directory holds that waits to be sent (or counted): the
/// spool, the local events file, a report mode's counts.
const UNSENT: [&str; 3] = [layout::SPOOL_DIR, layout::LOCAL_FILE, layout::REPORT_DIR];

impl ConsentStore {
    /// For a run that finds, after writing, that the user opted out (or
    /// reset) meanwhile — it was paused past `disable`'s wait for the
    /// lock, say: deletes what waits to be sent, and the directories the
    /// crate made for it once they are empty, so nothing of the user's
    /// stays on disk. Best effort; what is left, the next run deletes
    /// ([`sweep_after_opt_out`](Self::sweep_after_opt_out)).
    pub(crate) fn discard_unsent(&self) {
        let _ = self.delete_unsent();
        if !self.made.is_empty() {
            let _ = fs::remove_dir(&self.data_dir); // only if empty
        }
        self.remove_made_dirs();
    }

    /// Removes the directories the crate named and made, each only if it
    /// is empty.
    pub(super) fn remove_made_dirs(&self) {
        for dir in &self.made {
            let _ = fs::remove_dir(dir); // only if empty
        }
    }

    /// In every run, as it starts: what a run that wrote after an opt-out
    /// (or a `reset`) and could not clean up left behind — killed, say —
    /// is deleted: what an earlier deletion moved aside (`*.deleted-*`,
    /// always garbage), and the spool and the local events file if the
    /// stored decision is not "enabled" (after `disable`, undecided, or no
    /// file). `on`: this run records, so the decision is "enabled" and
    /// those are the user's. One listing of the data directory (one failed
    /// `open` when there is none); the consent file is read only when an
    /// off run finds something.
    pub(crate) fn sweep_after_opt_out(&self, on: bool) {
        let Ok(entries) = fs::read_dir(&self.data_dir) else {
            return;
        };
        let mut left = false;
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if UNSENT.contains(&name.as_ref()) {
                left = true;
            } else if UNSENT
                .iter()
                .any(|kept| name.starts_with(&format!("{kept}.deleted-")))
            {
                let _ = crate::fs::remove_retrying(&entry.path());
            }
        }
        if on || !left {
            return;
        }
        match self.read() {
            OnDisk::Missing => self.discard_unsent(), // reset: no lock file to bring back
            OnDisk::Current(stored) if stored.state != Decision::Enabled => {
                // Under the lock: a `disable` or `enable` under way finishes
                // first (then the decision is read again).
                if let Ok(Some(_lock)) = crate::fs::lock(&self.lock_path(), COMMAND_PATIENCE)
                    && let OnDisk::Current(stored) = self.read()
                    && stored.state != Decision::Enabled
                {
                    self.discard_unsent();
                }
            }
            // Enabled (the data is the user's to send), or a file this
            // version cannot read: left alone.
            _ => {}
        }
    }

    /// Deletes the spool, the local events file and a report mode's
    /// counts and reports, each renamed away first so nothing can be added
    /// to it meanwhile.
    pub(super) fn delete_unsent(&self) -> Result<(), TelemetryError> {
        let mut first = None;
        for path in [
            crate::pipeline::layout::spool_dir(&self.data_dir),
            self.events_path(),
            crate::pipeline::layout::report_dir(&self.data_dir),
        ] {
            if let Err(e) = crate::fs::remove_all_now(&path) {
                let e = TelemetryError::io("delete the unsent events in", &path, e);
                first = Some(match first {
                    None => e,
                    Some(earlier) => TelemetryError::and_also(earlier, &e.one_line()),
                });
            }
        }
        first.map_or(Ok(()), Err)
    }
}
