//! `state.json`: what the uploader last did, what was lost, for `status`
//! and `show`.

use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{STATE, STATE_LOCK, Spool};

/// What the uploader last did, what was lost, and when to upload next:
/// `spool/state.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct State {
    pub(crate) last_attempt: Option<String>,
    pub(crate) last_success: Option<String>,
    pub(crate) last_error: Option<String>,
    pub(crate) delivered: u64,
    /// Events not spooled because the spool was full.
    pub(crate) dropped_full: u64,
    /// Events that could not be written (a full disk, an unwritable spool).
    pub(crate) write_errors: u64,
    pub(crate) last_write_error: Option<String>,
    /// Events deleted unsent because they were older than the age bound.
    pub(crate) expired: u64,
    /// Torn or garbled lines skipped.
    pub(crate) skipped: u64,
    /// Events the collector refused for good, set aside (deleted unsent).
    pub(crate) rejected: u64,
    pub(crate) last_rejection: Option<String>,
    /// Events never sent because they were recorded before the latest
    /// opt-in, or under another id.
    pub(crate) discarded: u64,
    /// Uploads attempted (uploader runs that took the lock).
    pub(crate) attempts: u64,
    /// Uploader processes started by runs.
    pub(crate) launches: u64,
    /// Failed uploads in a row.
    pub(crate) failures: u32,
    /// The last uploads that sent something or failed, oldest first (at
    /// most [`UPLOAD_LOG`]): for `telemetry show`.
    pub(crate) uploads: Vec<UploadLog>,
}

/// How many uploads `state.json` remembers.
pub(crate) const UPLOAD_LOG: usize = 10;

/// One upload, as `telemetry show` lists it. `Debug` is written by hand:
/// the endpoint is stored without credentials, but `state.json` is a file
/// anyone with the user's rights can edit, so `Debug` shows none of it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct UploadLog {
    /// When it ended (RFC 3339 UTC).
    pub(crate) at: String,
    /// Where to, without credentials.
    pub(crate) endpoint: String,
    /// Events the collector accepted.
    pub(crate) delivered: u64,
    /// Requests made.
    pub(crate) requests: u64,
    /// `delivered`, or what failed.
    pub(crate) result: String,
}

impl std::fmt::Debug for UploadLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadLog")
            .field("at", &self.at)
            .field("endpoint", &"[hidden]")
            .field("delivered", &self.delivered)
            .field("requests", &self.requests)
            .field("result", &self.result)
            .finish()
    }
}

impl State {
    /// Remembers an upload, forgetting the oldest beyond [`UPLOAD_LOG`];
    /// long texts are cut, so the state file stays small.
    pub(crate) fn log_upload(&mut self, mut entry: UploadLog) {
        for text in [&mut entry.endpoint, &mut entry.result] {
            if let Some((cut, _)) = text.char_indices().nth(300) {
                text.truncate(cut);
                text.push('…');
            }
        }
        self.uploads.push(entry);
        let excess = self.uploads.len().saturating_sub(UPLOAD_LOG);
        self.uploads.drain(..excess);
    }
}

impl Spool {
    /// Reads `state.json` (defaults when missing or unreadable).
    pub(crate) fn state(&self) -> State {
        crate::fs::read_small(&self.path(STATE), 64 * 1024)
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Changes `state.json` under its lock; `false` when it could not.
    /// Never creates the spool directory: a state without a spool (after
    /// an opt-out deleted it) is not written. `patience` bounds the wait
    /// for the lock: short on a command's path.
    pub(crate) fn update_state(&self, patience: Duration, change: impl FnOnce(&mut State)) -> bool {
        if !self.dir.is_dir() || self.check().is_err() {
            return false;
        }
        let Ok(Some(_lock)) = crate::fs::lock(&self.path(STATE_LOCK), patience) else {
            return false;
        };
        let mut state = self.state();
        change(&mut state);
        let Ok(mut bytes) = serde_json::to_vec_pretty(&state) else {
            return false;
        };
        // Under a file-size limit, the upload log gives way first (oldest
        // first), so the counters are still kept.
        while crate::fs::fits(0, bytes.len() + 1).is_err() && !state.uploads.is_empty() {
            state.uploads.remove(0);
            let Ok(fewer) = serde_json::to_vec_pretty(&state) else {
                return false;
            };
            bytes = fewer;
        }
        bytes.push(b'\n');
        let path = self.path(STATE);
        // Not synced: what it holds is for `status`, and a crash that
        // loses the last count loses nothing else.
        let written = crate::fs::write_replacing(&path, &bytes, 0o600, false);
        match written {
            Ok(()) => true,
            // Something planted at the state file: remove it, once.
            Err(e) if e.kind() == io::ErrorKind::IsADirectory || path.is_dir() => {
                crate::fs::remove_planted(&path).is_ok()
                    && crate::fs::write_replacing(&path, &bytes, 0o600, false).is_ok()
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_logs_debug_shows_no_endpoint() {
        let log = UploadLog {
            endpoint: "https://user:pw@collector.example/?api_key=K".into(),
            ..UploadLog::default()
        };
        let shown = format!("{log:?}");
        assert!(
            !shown.contains("collector.example") && !shown.contains("pw"),
            "{shown}"
        );
        assert!(shown.contains("[hidden]"), "{shown}");
    }
}
