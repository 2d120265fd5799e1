//! The upload: what the spool holds, sent in as few requests as the
//! batch bounds allow ([`upload`]); and the detached process that does it
//! (`process.rs`).

mod filter;
pub(crate) mod process;
mod run;

pub(crate) use filter::Filter;
use run::InProgress;

use std::time::{Duration, Instant, SystemTime};

use crate::TelemetryError;
use crate::consent::ConsentStore;
use crate::pipeline::export::Exporter;
use crate::pipeline::spool::{self, PID, Spool};

/// What one uploader run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadReport {
    /// Events the collector accepted.
    pub delivered: u64,
    /// Torn or garbled lines skipped (never sent).
    pub skipped: u64,
    /// Events deleted unsent because they were older than the age bound.
    pub expired: u64,
    /// Events the collector refused for good (a 4xx other than 408 and
    /// 429, down to the single event), set aside: deleted unsent.
    pub rejected: u64,
    /// Events deleted unsent because they were recorded before the latest
    /// opt-in, or under another anonymous id than the current one.
    pub discarded: u64,
    /// Requests made.
    pub requests: u64,
    /// `false` when another uploader was already at work, or telemetry was
    /// off.
    pub ran: bool,
}

/// How the events of a failed upload fare.
const KEPT: &str = "stay in the spool and are sent again by a later upload";

/// The most refused requests in one upload; beyond, the collector is
/// refusing everything and the events are kept.
const MAX_REFUSALS: u32 = 32;
/// How many uploads a batch may fail (with a 5xx or a timeout) while
/// others get through, before it is set aside.
const MAX_STRIKES: u32 = 5;

/// How long the uploader's steps wait for the consent lock.
const CONSENT_PATIENCE: Duration = Duration::from_secs(1);

/// What an upload needs besides the spool.
pub(crate) struct Job<'a> {
    pub(crate) spool: &'a Spool,
    pub(crate) exporter: &'a Exporter,
    /// The destination's id: only events recorded for it are sent.
    pub(crate) to: &'a str,
    pub(crate) store: &'a ConsentStore,
    pub(crate) base_salt: &'a str,
    pub(crate) deadline: Instant,
    /// How long to wait for running commands to finish recording.
    pub(crate) wait_for_writers: Duration,
    /// Merges a place's panic records into one (a tool that counts panics).
    pub(crate) merge_panics: Option<crate::pipeline::plan::Merge>,
}

/// Uploads what the spool holds, oldest first, as few requests as the
/// batch bounds allow, until it is empty, the collector fails, telemetry is
/// turned off, or `deadline`. At most one uploader per spool at a time: a
/// second returns at once (`ran: false`).
///
/// - Consent is checked, under the consent lock, before every request and
///   every retry (held while the request runs) and before the state is
///   written: no request starts after `disable` or `reset` returned.
///   Records from before the latest opt-in, or with another machine id,
///   are deleted unsent.
/// - Each request's records are sealed into a batch file first, so a
///   request that may have reached the collector (a timeout, a 5xx) is
///   sent again later exactly as it was, with the same idempotency key; one
///   that never reached it (no connection) goes back to the backlog.
/// - A batch refused for good (a 4xx other than 408/429, 413 included) is
///   split in halves, down to single events, which are set aside and
///   counted: one bad event never holds back the rest.
pub(crate) fn upload(up: &Job<'_>) -> Result<UploadReport, TelemetryError> {
    let mut report = UploadReport::default();
    let spool = up.spool;
    if !spool.dir().is_dir() {
        return Ok(report);
    }
    spool.check()?;
    // Nothing to send: done at once, without waiting for anything.
    if spool.files().is_empty() {
        return Ok(report);
    }
    if up.store.pass(up.base_salt, CONSENT_PATIENCE).is_none() {
        return Ok(report);
    }
    let lock_path = spool.path(crate::pipeline::layout::spool::UPLOAD_LOCK);
    let _lock = match crate::fs::lock(&lock_path, Duration::ZERO) {
        Ok(Some(lock)) => lock,
        Ok(None) => return Ok(report),
        Err(e) => {
            // Something at the lock's path that cannot be removed (a
            // directory with content): every upload stops here, so say so.
            let failed = Err(TelemetryError::io("lock", &lock_path, e));
            finish(up, &report, &failed);
            return failed.map(|()| report);
        }
    };
    report.ran = true;
    // The spool this upload works on: an opt-out renames it away, and a
    // run after an `enable` makes a new one at the same path. Every change
    // the upload makes is to this one, checked before and after: an
    // upload held up across an opt-out touches nothing made after it.
    let Some(pinned) = spool.identity() else {
        return Ok(report);
    };
    let pid = spool.path(PID);
    let _ = crate::fs::write_atomic(&pid, std::process::id().to_string().as_bytes(), 0o600);
    // Running commands may still record: wait (briefly) until they end.
    let writers = up
        .wait_for_writers
        .min(up.deadline.saturating_duration_since(Instant::now()));
    let _ = crate::fs::lock(
        &spool.path(crate::pipeline::layout::spool::WRITERS_LOCK),
        writers,
    );
    spool.sweep();
    let result = clear_planted(spool).and_then(|()| {
        InProgress {
            up,
            report: &mut report,
            filter: None,
            pinned,
        }
        .go()
    });
    let _ = std::fs::remove_file(&pid);
    if spool.identity() != Some(pinned) {
        return Ok(report); // turned off meanwhile: nothing more is written
    }
    finish(up, &report, &result);
    result.map(|()| report)
}

/// Removes what is not a regular file at one of the spool's names (an
/// empty directory, a link, a FIFO), so it cannot stop uploads; what
/// cannot be removed is the error, naming it.
fn clear_planted(spool: &Spool) -> Result<(), TelemetryError> {
    for name in spool::CONTROL {
        let path = spool.path(name);
        if let Ok(meta) = std::fs::symlink_metadata(&path)
            && !meta.is_file()
        {
            crate::fs::remove_planted(&path)
                .map_err(|e| TelemetryError::io("remove what is not a file at", &path, e))?;
        }
    }
    Ok(())
}

/// Records the attempt in the state file and schedules the next one, if
/// telemetry is still on.
fn finish(up: &Job<'_>, report: &UploadReport, result: &Result<(), TelemetryError>) {
    let Some(_pass) = up.store.pass(up.base_salt, CONSENT_PATIENCE) else {
        return; // turned off meanwhile: write nothing
    };
    let spool = up.spool;
    let now = crate::timestamp::rfc3339_utc(SystemTime::now());
    let mut failures = 0;
    spool.update_state(Duration::from_secs(1), |state| {
        state.attempts = state.attempts.saturating_add(1);
        state.last_attempt = Some(now.clone());
        state.delivered = state.delivered.saturating_add(report.delivered);
        state.skipped = state.skipped.saturating_add(report.skipped);
        state.expired = state.expired.saturating_add(report.expired);
        state.rejected = state.rejected.saturating_add(report.rejected);
        state.discarded = state.discarded.saturating_add(report.discarded);
        match result {
            Ok(()) => {
                state.last_success = Some(now.clone());
                state.last_error = None;
                state.failures = 0;
            }
            Err(e) => {
                state.last_error = Some(e.one_line());
                state.failures = state.failures.saturating_add(1);
            }
        }
        failures = state.failures;
        if report.requests > 0 || result.is_err() {
            state.log_upload(spool::UploadLog {
                at: now.clone(),
                endpoint: up.exporter.sender.endpoint.shown().to_owned(),
                delivered: report.delivered,
                requests: report.requests,
                result: match result {
                    Ok(()) if report.rejected > 0 => format!(
                        "delivered; {} refused for good and set aside",
                        report.rejected
                    ),
                    Ok(()) => "delivered".to_owned(),
                    Err(e) => format!("failed: {}", e.one_line()),
                },
            });
        }
    });
    spool.set_next_upload(spool.next_upload(result.is_ok(), failures));
}
