//! The upload: what the spool holds, sent in as few requests as the
//! batch bounds allow ([`upload`]); and the detached process that does it
//! (`process.rs`).

pub(crate) mod process;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crate::TelemetryError;
use crate::consent::{ConsentStore, Pass};
use crate::pipeline::export::Exporter;
use crate::pipeline::export::client::Gate;
use crate::pipeline::export::retry::{Failure, Reach};
use crate::pipeline::layout::spool::CLAIMED;
use crate::pipeline::spool::record::Record;
use crate::pipeline::spool::{self, BACKLOG, EVENTS, Line, PID, Spool, SpoolId, now_ms};

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
pub(crate) struct Upload<'a> {
    pub(crate) spool: &'a Spool,
    pub(crate) exporter: &'a Exporter,
    /// The destination's id: only events recorded for it are sent.
    pub(crate) to: &'a str,
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
        Run {
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

/// Which records may be sent: the current id's, recorded since the
/// latest opt-in, younger than the age bound.
#[derive(Clone)]
pub(crate) struct Filter {
    to: String,
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
    pub(crate) fn new(pass: &Pass, max_age: Duration, to: &str) -> Self {
        let cutoff = SystemTime::now()
            .checked_sub(max_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        Self {
            to: to.to_owned(),
            machine_id: pass.machine_id.clone(),
            since: pass.since.clone(),
            cutoff: crate::timestamp::rfc3339_utc(cutoff),
        }
    }

    /// Whether an upload would send `record` (else it deletes it unsent).
    pub(crate) fn sends(&self, record: &Record) -> bool {
        matches!(self.judge(record), Verdict::Send)
    }

    fn judge(&self, record: &Record) -> Verdict {
        let at = &record.event.timestamp_utc;
        // The crate's timestamps have one fixed width, so they compare as
        // text; anything else is not a record of ours to send.
        let comparable = |other: &str| at.len() == other.len();
        if spool::expire::expired(at, &self.cutoff) {
            return Verdict::Expired;
        }
        if self
            .machine_id
            .as_ref()
            .is_some_and(|id| *id != record.event.machine_id)
        {
            return Verdict::Discarded;
        }
        // Recorded for another collector (or key): never sent here.
        if record.to.as_ref().is_some_and(|to| *to != self.to) {
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
    /// The spool directory's identity when the upload began.
    pinned: SpoolId,
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
        let filter = Filter::new(&pass, spool.max_age, self.up.to);
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
        // Refused singles wait until something in this upload got through:
        // a collector that refuses everything (a wrong format, say) is not
        // evidence against any one event, and must not empty the spool.
        let mut refused: Vec<(Batch, TelemetryError)> = Vec::new();
        // Batches that failed in a way that may pass (a 5xx, a timeout):
        // kept for later; one more batch is tried before giving up.
        let mut deferred: Vec<Batch> = Vec::new();
        let mut first_failure: Option<TelemetryError> = None;
        let mut refusals = 0;
        let mut delivered_here = 0;
        loop {
            if queue.is_empty() {
                if backlog.is_empty() {
                    break;
                }
                let n = self.batch_len(&backlog);
                let rest = backlog.split_off(n);
                queue.push_back(self.seal(backlog, &rest)?);
                backlog = rest;
            }
            if Instant::now() >= self.up.deadline {
                break; // the rest goes with the next upload
            }
            let Some(batch) = queue.pop_front() else {
                continue;
            };
            match self.send(&batch) {
                Ok(()) => {
                    delivered_here += 1;
                    self.report.delivered += batch.records.len() as u64;
                    self.remove(&batch.path)?;
                }
                Err(Failure {
                    reach: Reach::Refused,
                    error,
                }) => {
                    refusals += 1;
                    if refusals > MAX_REFUSALS {
                        // Refusing this much is the collector's problem, not
                        // the events': keep them.
                        first_failure.get_or_insert(error);
                        break;
                    }
                    if batch.records.len() == 1 {
                        refused.push((batch, error));
                    } else {
                        // Halves, down to the one event the collector will
                        // not take.
                        let mut records = batch.records;
                        let second = records.split_off(records.len() / 2);
                        let b = self.write_batch(second)?;
                        let a = self.write_batch(records)?;
                        self.remove(&batch.path)?;
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
                    self.write_or_remove(&spool.path(BACKLOG), &spool::join(&records))?;
                    self.remove(&batch.path)?;
                    first_failure.get_or_insert(error);
                    break;
                }
                Err(Failure {
                    reach: Reach::MaybeReached,
                    error,
                }) => {
                    deferred.push(batch);
                    let again = first_failure.is_some() && delivered_here == 0;
                    first_failure.get_or_insert(error);
                    if again {
                        break; // two in a row, nothing through: it is down
                    }
                }
            }
        }
        self.settle(delivered_here > 0, refused, &deferred, first_failure)
    }

    /// The end of an upload: refused single events are set aside, and
    /// batches that failed get a strike, only if something got through
    /// (else the collector, not the events, is at fault); the upload failed
    /// if nothing got through and something failed.
    fn settle(
        &mut self,
        got_through: bool,
        refused: Vec<(Batch, TelemetryError)>,
        deferred: &[Batch],
        mut first_failure: Option<TelemetryError>,
    ) -> Result<(), TelemetryError> {
        for (batch, error) in refused {
            if got_through {
                self.set_aside(&batch, &error)?;
            } else {
                first_failure.get_or_insert(error);
            }
        }
        // A batch that keeps failing while others get through is treated
        // as refused, after a few uploads.
        if got_through {
            for batch in deferred {
                self.strike(batch)?;
            }
        }
        match first_failure {
            Some(e) if !got_through => Err(e),
            _ => Ok(()),
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
        self.here()?;
        let lock_path = spool.path(crate::pipeline::layout::spool::SPOOL_LOCK);
        let Some(_lock) = crate::fs::lock(&lock_path, Duration::from_secs(1))
            .map_err(|e| TelemetryError::io("lock", &lock_path, e))?
        else {
            return Ok(()); // taken next time
        };
        let claimed = spool.path(&format!(
            "{:013}-{}{CLAIMED}",
            now_ms(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        match crate::fs::rename(&events, &claimed) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(TelemetryError::io("claim", &events, e)),
        }
    }

    /// The backlog with every claimed file added, filtered, written back
    /// before the claimed files are removed (a crash in between sends some
    /// records twice, with the same ids: never loses one).
    ///
    /// Under a file-size limit (`ulimit -f`), only the claimed files that
    /// keep the backlog within it are added; the others wait for a later
    /// upload (or for a run without the limit).
    fn backlog(&mut self, filter: &Filter) -> Result<Vec<Line>, TelemetryError> {
        let spool = self.up.spool;
        let path = spool.path(BACKLOG);
        let mut records = self.read(&path);
        let before = records.len();
        let mut room = crate::fs::size_limit()
            .map(|limit| limit.saturating_sub(spool::join(&records).len() as u64));
        let claims: Vec<PathBuf> = spool
            .claims()
            .into_iter()
            .filter(|claim| {
                let size = std::fs::metadata(claim).map_or(0, |m| m.len());
                match &mut room {
                    Some(room) if size > *room => false,
                    Some(room) => {
                        *room -= size;
                        true
                    }
                    None => true,
                }
            })
            .collect();
        for claim in &claims {
            records.extend(self.read(claim));
        }
        let kept = self.keep(records, filter);
        if kept.len() != before || !claims.is_empty() {
            self.write_or_remove(&path, &spool::join(&kept))?;
        }
        for claim in &claims {
            self.remove(claim)?;
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
        self.remove(&path)?;
        if kept.is_empty() {
            return Ok(None);
        }
        self.write_batch(kept).map(Some)
    }

    /// A file's records; a file larger than the whole spool may be, or
    /// unreadable, was made by no writer of ours: counted and dropped.
    fn read(&mut self, path: &std::path::Path) -> Vec<Line> {
        if let Ok((records, skipped)) = spool::read_records(path, spool::MAX_FILE) {
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
        self.write_or_remove(&self.up.spool.path(BACKLOG), &spool::join(rest))?;
        Ok(batch)
    }

    /// How many of `records`, from the front, go in the next batch: the
    /// exporter's bounds, and the file-size limit (a batch is a file).
    fn batch_len(&self, records: &[Line]) -> usize {
        let n = self.up.exporter.batch_len(records.iter().map(|(r, _)| r));
        let Some(limit) = crate::fs::size_limit() else {
            return n;
        };
        let mut bytes = 0_u64;
        let fitting = records[..n]
            .iter()
            .take_while(|(_, raw)| {
                bytes += raw.len() as u64;
                bytes <= limit
            })
            .count();
        fitting.max(1)
    }

    fn write_batch(&self, records: Vec<Line>) -> Result<Batch, TelemetryError> {
        let path = self.up.spool.new_batch_path();
        self.write(&path, &spool::join(&records))?;
        Ok(Batch { path, records })
    }

    /// Replaces the file at `path` with `bytes`, only while the spool is
    /// still the one the upload began with: checked before the new file is
    /// made, and again just before it replaces the old one (an upload held
    /// up in between, across an opt-out and a run after an `enable`, never
    /// replaces what that run's spool holds). Checked once more after: if
    /// the spool changed in that last instant, what was written goes.
    fn write(&self, path: &std::path::Path, bytes: &[u8]) -> Result<(), TelemetryError> {
        self.here()?;
        crate::fs::test_pause(&format!("upload-write:{}", spool::name_of(path)));
        let still = || self.here().map_err(|e| std::io::Error::other(e.one_line()));
        crate::fs::write_replacing_if(path, bytes, 0o600, true, still)
            .map_err(|e| TelemetryError::io("write", path, e))?;
        self.here().inspect_err(|_| {
            let _ = std::fs::remove_file(path);
        })
    }

    /// `Ok` while the spool is the one the upload began with.
    fn here(&self) -> Result<(), TelemetryError> {
        if self.up.spool.identity() == Some(self.pinned) {
            return Ok(());
        }
        Err(TelemetryError::config(
            "the spool was deleted while the upload ran (telemetry was turned off or reset); \
             the upload stopped and changed nothing more",
            "nothing to do: an opt-out stops uploads",
        ))
    }

    /// Replaces `path` with `bytes`, or removes it when there are none.
    fn write_or_remove(&self, path: &std::path::Path, bytes: &[u8]) -> Result<(), TelemetryError> {
        if bytes.is_empty() {
            return self.remove(path);
        }
        self.write(path, bytes)
    }

    fn remove(&self, path: &std::path::Path) -> Result<(), TelemetryError> {
        self.here()?;
        remove(path)
    }

    /// One request, consent checked before each attempt and held while it
    /// runs.
    fn send(&mut self, batch: &Batch) -> Result<(), Failure> {
        let records = records_of(&batch.records);
        let up = self.up;
        let mut requests = 0;
        let mut decision = Decision {
            up,
            filter: self.filter.as_ref(),
            salt: None,
        };
        let sent = up.exporter.send(
            &records,
            Some(up.deadline),
            KEPT,
            &mut decision,
            &mut requests,
        );
        self.report.requests += requests;
        sent
    }

    /// A single event the collector refuses for good: deleted, counted,
    /// and why kept for `status`.
    fn set_aside(&mut self, batch: &Batch, error: &TelemetryError) -> Result<(), TelemetryError> {
        self.report.rejected += batch.records.len() as u64;
        let why = format!(
            "{} answered {} to {} event{} while it took others: set aside (deleted unsent)",
            error.endpoint().unwrap_or("the collector"),
            error
                .status()
                .map_or_else(|| "an error".to_owned(), |s| format!("HTTP {s}")),
            batch.records.len(),
            if batch.records.len() == 1 { "" } else { "s" },
        );
        self.here()?;
        self.up.spool.update_state(Duration::from_secs(1), |s| {
            s.last_rejection = Some(why);
        });
        self.remove(&batch.path)
    }

    /// One more failed upload for a batch others got past: renamed with
    /// its count; at [`MAX_STRIKES`] it is set aside.
    fn strike(&mut self, batch: &Batch) -> Result<(), TelemetryError> {
        let name = spool::name_of(&batch.path);
        let stem = name.strip_suffix(spool::BATCH).unwrap_or(&name);
        let (base, strikes) = match stem.rsplit_once('.') {
            Some((base, n)) => (base, n.parse::<u32>().unwrap_or(0)),
            None => (stem, 0),
        };
        if strikes + 1 >= MAX_STRIKES {
            let error = TelemetryError::delivery(
                self.up.exporter.sender.endpoint.shown(),
                None,
                &format!(
                    "the batch kept failing in {MAX_STRIKES} uploads while others got through"
                ),
            );
            return self.set_aside(batch, &error);
        }
        let to = self
            .up
            .spool
            .path(&format!("{base}.{}{}", strikes + 1, spool::BATCH));
        self.here()?;
        crate::fs::rename(&batch.path, &to)
            .map_err(|e| TelemetryError::io("rename", &batch.path, e))
    }
}

/// The user's decision, as a request asks it: the same decision as when
/// the records were chosen (after a `reset` and `enable`, on again is
/// another decision), checked under the consent lock before each try and
/// held while the body is written, and checked again (one `stat` while
/// nothing changed) between the body's chunks.
struct Decision<'a> {
    up: &'a Upload<'a>,
    filter: Option<&'a Filter>,
    /// The salt of the decision a try went ahead under.
    salt: Option<String>,
}

impl Gate for Decision<'_> {
    fn pass(&mut self) -> Option<Box<dyn std::any::Any>> {
        let pass = self.up.store.pass(self.up.base_salt, CONSENT_PATIENCE)?;
        let same = self
            .filter
            .is_some_and(|f| f.machine_id == pass.machine_id && f.since == pass.since);
        if !same {
            return None;
        }
        self.salt = Some(pass.salt.clone());
        Some(Box::new(pass))
    }

    fn still(&mut self) -> bool {
        self.salt
            .as_deref()
            .is_some_and(|salt| self.up.store.still_ours(salt))
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
