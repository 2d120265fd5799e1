//! What keeps a spool from working, for `status`; and what crashes left
//! in it, swept.

use std::fs;
use std::io::Write;
use std::time::SystemTime;

use super::{CONTROL, LAUNCH, STALE, Spool};
use crate::TelemetryError;

impl Spool {
    /// Deletes temporary files and launch tokens left by crashes.
    pub(crate) fn sweep(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.ends_with(".tmp") || name.starts_with(LAUNCH)) {
                continue;
            }
            let old = fs::symlink_metadata(entry.path())
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > STALE);
            if old {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// What keeps events from being spooled or sent, one line each, for
    /// `status`: a directory that is not the user's own, something that is
    /// not a regular file at one of the crate's names, and (tried with a
    /// one-byte file that is removed again) a spool that cannot be written.
    pub(crate) fn health(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = self.check() {
            problems.push(format!(
                "the spool directory {} is refused: {}; events are not spooled or sent",
                self.dir.display(),
                e.io_kind()
                    .map_or_else(|| e.one_line(), |_| source_text(&e))
            ));
            return problems;
        }
        for name in CONTROL {
            let path = self.path(name);
            if let Ok(meta) = fs::symlink_metadata(&path)
                && !meta.is_file()
            {
                problems.push(format!(
                    "{} is not a regular file (a directory, link or FIFO is there); the next \
                     upload removes it if it is a link, a FIFO or an empty directory — \
                     anything else, remove it yourself",
                    path.display()
                ));
            }
        }
        if let Err(e) = self.probe_write() {
            problems.push(format!("events cannot be spooled: {e}"));
        }
        problems
    }

    /// Writes one byte to a temporary file in the spool directory (or the
    /// nearest directory above it that exists, where the first run would
    /// create it) and removes it again.
    fn probe_write(&self) -> Result<(), String> {
        let Some(dir) = self.dir.ancestors().find(|d| d.is_dir()) else {
            return Ok(());
        };
        let probe = crate::fs::temp_path(&dir.join("probe"));
        let written = (|| {
            crate::fs::fits(0, 1)?;
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            let mut file = options.open(&probe)?;
            file.write_all(b"x")?;
            file.sync_all()
        })();
        let _ = fs::remove_file(&probe);
        written.map_err(|e| format!("{e} (writing in {})", dir.display()))
    }
}

/// The message of an I/O error's cause, without the crate's prefix.
fn source_text(e: &TelemetryError) -> String {
    use std::error::Error as _;
    e.source()
        .map_or_else(|| e.one_line(), std::string::ToString::to_string)
}
