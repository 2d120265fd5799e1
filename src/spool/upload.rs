//! The uploader's side of the spool: [`upload`].

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use super::{BACKLOG, EVENTS, Line, PID, Spool};
use crate::TelemetryError;
use crate::consent::{ConsentStore, Pass};
use crate::record::Record;
use crate::remote::exporter::Exporter;
use crate::remote::transport::{Failure, Reach};

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

/// How long the uploader's steps wait for the consent lock.
const CONSENT_PATIENCE: Duration = Duration::from_secs(1);

/// What an upload needs besides the spool.
pub(crate) struct Upload<'a> {
    pub(crate) spool: &'a Spool,
    pub(crate) exporter: &'a Exporter,
    pub(crate) store: &'a ConsentStore,
    pub(crate) base_salt: &'a str,
    pub(crate) deadline: Instant,
    /// How long to wait for running commands to finish recording.
    pub(crate) wait_for_writers: Duration,
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
pub(crate) fn upload(up: &Upload<'_>) -> Result<UploadReport, TelemetryError> {
    let mut report = UploadReport::default();
    let spool = up.spool;
    if !spool.dir().is_dir() {
        return Ok(report);
    }
    spool.check()?;
    if up.store.pass(up.base_salt, CONSENT_PATIENCE).is_none() {
        return Ok(report);
    }
    let lock_path = spool.path("upload.lock");
    let Some(_lock) = crate::fs::lock(&lock_path, Duration::ZERO)
        .map_err(|e| TelemetryError::io("lock", &lock_path, e))?
    else {
        return Ok(report);
    };
    report.ran = true;
    let pid = spool.path(PID);
    let _ = crate::fs::write_atomic(&pid, std::process::id().to_string().as_bytes(), 0o600);
    // Running commands may still record: wait (briefly) until they end.
    let writers = up
        .wait_for_writers
        .min(up.deadline.saturating_duration_since(Instant::now()));
    let _ = crate::fs::lock(&spool.path("writers.lock"), writers);
    spool.sweep();
    let result = Run {
        up,
        report: &mut report,
        filter: None,
    }
    .go();
    let _ = std::fs::remove_file(&pid);
    finish(up, &report, &result);
    result.map(|()| report)
}

/// Records the attempt in the state file and schedules the next one, if
/// telemetry is still on.
fn finish(up: &Upload<'_>, report: &UploadReport, result: &Result<(), TelemetryError>) {
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
    });
    spool.set_next_upload(spool.next_upload(result.is_ok(), failures));
}

/// Which records may be sent: the current id's, recorded since the
/// latest opt-in, younger than the age bound.
#[derive(Clone)]
struct Filter {
    machine_id: Option<String>,
    since: Option<String>,
    cutoff: String,
}

enum Verdict {
    Send,
    Expired,
    Discarded,
}

impl Filter {
    fn new(pass: &Pass, max_age: Duration) -> Self {
        let cutoff = SystemTime::now()
            .checked_sub(max_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        Self {
            machine_id: pass.machine_id.clone(),
            since: pass.since.clone(),
            cutoff: crate::timestamp::rfc3339_utc(cutoff),
        }
    }

    fn judge(&self, record: &Record) -> Verdict {
        let at = &record.event.timestamp_utc;
        // The crate's timestamps have one fixed width, so they compare as
        // text; anything else is not a record of ours to send.
        let comparable = |other: &str| at.len() == other.len();
        if !comparable(&self.cutoff) || at.as_str() < self.cutoff.as_str() {
            return Verdict::Expired;
        }
        if self
            .machine_id
            .as_ref()
            .is_some_and(|id| *id != record.event.machine_id)
        {
            return Verdict::Discarded;
        }
        if let Some(since) = &self.since
            && (!comparable(since) || at.as_str() < since.as_str())
        {
            return Verdict::Discarded;
        }
        Verdict::Send
    }
}

struct Run<'a, 'b> {
    up: &'a Upload<'b>,
    report: &'a mut UploadReport,
    /// The decision the records were filtered by: every request checks it
    /// still holds (not only that telemetry is on: a `reset` and `enable`
    /// meanwhile is another decision, with another id).
    filter: Option<Filter>,
}

/// A sealed batch waiting to be sent.
struct Batch {
    path: PathBuf,
    records: Vec<Line>,
}

impl Run<'_, '_> {
    fn go(&mut self) -> Result<(), TelemetryError> {
        let spool = self.up.spool;
        let Some(pass) = self.up.store.pass(self.up.base_salt, CONSENT_PATIENCE) else {
            return Ok(());
        };
        let filter = Filter::new(&pass, spool.max_age);
        drop(pass);
        self.filter = Some(filter.clone());
        self.claim()?;
        let mut backlog = self.backlog(&filter)?;
        // Batches sealed by an earlier run go first, exactly as they were.
        let mut queue: VecDeque<Batch> = VecDeque::new();
        for path in spool.batches() {
            if let Some(batch) = self.reopen(path, &filter)? {
                queue.push_back(batch);
            }
        }
        loop {
            if queue.is_empty() {
                if backlog.is_empty() {
                    return Ok(());
                }
                let n = self.up.exporter.batch_len(backlog.iter().map(|(r, _)| r));
                let rest = backlog.split_off(n);
                queue.push_back(self.seal(backlog, &rest)?);
                backlog = rest;
            }
            if Instant::now() >= self.up.deadline {
                return Ok(()); // the rest goes with the next upload
            }
            let Some(batch) = queue.pop_front() else {
                continue;
            };
            match self.send(&batch) {
                Ok(()) => {
                    self.report.delivered += batch.records.len() as u64;
                    remove(&batch.path)?;
                }
                Err(Failure {
                    reach: Reach::Refused,
                    error,
                }) => {
                    if batch.records.len() == 1 {
                        self.set_aside(&batch, &error)?;
                    } else {
                        // Halves, down to the one event the collector will
                        // not take.
                        let mut records = batch.records;
                        let second = records.split_off(records.len() / 2);
                        let b = self.write_batch(second)?;
                        let a = self.write_batch(records)?;
                        remove(&batch.path)?;
                        queue.push_front(b);
                        queue.push_front(a);
                    }
                }
                Err(Failure {
                    reach: Reach::Stopped,
                    ..
                }) => return Ok(()),
                Err(Failure {
                    reach: Reach::NotReached,
                    error,
                }) => {
                    // Nobody saw it: its records go back to the front of the
                    // backlog, to be batched afresh with what comes later.
                    let mut records = batch.records;
                    records.extend(backlog);
                    write_or_remove(&spool.path(BACKLOG), &super::join(&records))?;
                    remove(&batch.path)?;
                    return Err(error);
                }
                Err(Failure {
                    reach: Reach::MaybeReached,
                    error,
                }) => return Err(error),
            }
        }
    }

    /// Takes `events.jsonl` from the runs, under the spool lock: renamed,
    /// so the next run starts a new one.
    fn claim(&self) -> Result<(), TelemetryError> {
        let spool = self.up.spool;
        let events = spool.path(EVENTS);
        if !events.exists() {
            return Ok(());
        }
        let lock_path = spool.path("spool.lock");
        let Some(_lock) = crate::fs::lock(&lock_path, Duration::from_secs(1))
            .map_err(|e| TelemetryError::io("lock", &lock_path, e))?
        else {
            return Ok(()); // taken next time
        };
        let claimed = spool.path(&format!(
            "{:013}-{}.claimed.jsonl",
            super::now_ms(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        match std::fs::rename(&events, &claimed) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(TelemetryError::io("claim", &events, e)),
        }
    }

    /// The backlog with every claimed file added, filtered, written back
    /// before the claimed files are removed (a crash in between sends some
    /// records twice, with the same ids: never loses one).
    fn backlog(&mut self, filter: &Filter) -> Result<Vec<Line>, TelemetryError> {
        let spool = self.up.spool;
        let path = spool.path(BACKLOG);
        let claims = spool.claims();
        let mut records = self.read(&path);
        let before = records.len();
        for claim in &claims {
            records.extend(self.read(claim));
        }
        let kept = self.keep(records, filter);
        if kept.len() != before || !claims.is_empty() {
            write_or_remove(&path, &super::join(&kept))?;
        }
        for claim in &claims {
            remove(claim)?;
        }
        Ok(kept)
    }

    /// A sealed batch read back and filtered; resealed (with a new key)
    /// only if the filter took records out of it.
    fn reopen(&mut self, path: PathBuf, filter: &Filter) -> Result<Option<Batch>, TelemetryError> {
        let records = self.read(&path);
        let before = records.len();
        let kept = self.keep(records, filter);
        if kept.len() == before && before > 0 {
            return Ok(Some(Batch {
                path,
                records: kept,
            }));
        }
        remove(&path)?;
        if kept.is_empty() {
            return Ok(None);
        }
        self.write_batch(kept).map(Some)
    }

    /// A file's records; a file larger than the whole spool may be, or
    /// unreadable, was made by no writer of ours: counted and dropped.
    fn read(&mut self, path: &std::path::Path) -> Vec<Line> {
        if let Ok((records, skipped)) = super::read_records(path, self.up.spool.max_bytes.max(1)) {
            self.report.skipped += skipped;
            records
        } else {
            let _ = std::fs::remove_file(path);
            self.report.skipped += 1;
            Vec::new()
        }
    }

    fn keep(&mut self, records: Vec<Line>, filter: &Filter) -> Vec<Line> {
        records
            .into_iter()
            .filter(|(record, _)| match filter.judge(record) {
                Verdict::Send => true,
                Verdict::Expired => {
                    self.report.expired += 1;
                    false
                }
                Verdict::Discarded => {
                    self.report.discarded += 1;
                    false
                }
            })
            .collect()
    }

    /// Seals `records` into a batch file, then writes the backlog without
    /// them (`rest`).
    fn seal(&self, records: Vec<Line>, rest: &[Line]) -> Result<Batch, TelemetryError> {
        let batch = self.write_batch(records)?;
        write_or_remove(&self.up.spool.path(BACKLOG), &super::join(rest))?;
        Ok(batch)
    }

    fn write_batch(&self, records: Vec<Line>) -> Result<Batch, TelemetryError> {
        let path = self.up.spool.new_batch_path();
        crate::fs::write_atomic(&path, &super::join(&records), 0o600)
            .map_err(|e| TelemetryError::io("write", &path, e))?;
        Ok(Batch { path, records })
    }

    /// One request, consent checked before each attempt and held while it
    /// runs.
    fn send(&mut self, batch: &Batch) -> Result<(), Failure> {
        let records = records_of(&batch.records);
        let up = self.up;
        let mut requests = 0;
        let filter = self.filter.as_ref();
        let sent = up
            .exporter
            .send(&records, Some(up.deadline), KEPT, &mut || {
                let pass = up.store.pass(up.base_salt, CONSENT_PATIENCE)?;
                // The same decision as when the records were chosen: after a
                // `reset` and `enable`, on again is another decision.
                let same = filter
                    .is_some_and(|f| f.machine_id == pass.machine_id && f.since == pass.since);
                if !same {
                    return None;
                }
                requests += 1;
                Some(pass)
            });
        self.report.requests += requests;
        sent
    }

    /// A single event the collector refuses for good: deleted, counted,
    /// and the reason kept for `status`.
    fn set_aside(&mut self, batch: &Batch, error: &TelemetryError) -> Result<(), TelemetryError> {
        self.report.rejected += 1;
        let why = error.one_line();
        self.up.spool.update_state(Duration::from_secs(1), |s| {
            s.last_rejection = Some(why);
        });
        remove(&batch.path)
    }
}

fn records_of(lines: &[Line]) -> Vec<Record> {
    lines.iter().map(|(record, _)| record.clone()).collect()
}

fn remove(path: &std::path::Path) -> Result<(), TelemetryError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(TelemetryError::io("delete", path, e))
        }
        _ => Ok(()),
    }
}

/// Replaces `path` with `bytes`, or removes it when there are none.
fn write_or_remove(path: &std::path::Path, bytes: &[u8]) -> Result<(), TelemetryError> {
    if bytes.is_empty() {
        return remove(path);
    }
    crate::fs::write_atomic(path, bytes, 0o600).map_err(|e| TelemetryError::io("write", path, e))
}
