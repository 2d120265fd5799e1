//! One upload's work on the spool: the backlog claimed, batches sealed and
//! sent, refusals split down, what was delivered deleted — every change to
//! the spool made only while it is the one the upload began with.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::filter::{Filter, Verdict};
use super::{CONSENT_PATIENCE, Job, KEPT, MAX_REFUSALS, MAX_STRIKES, UploadReport};
use crate::TelemetryError;
use crate::pipeline::export::client::Gate;
use crate::pipeline::export::retry::{NotDelivered, Reach};
use crate::pipeline::layout::spool::CLAIMED;
use crate::pipeline::spool::record::Body;
use crate::pipeline::spool::record::Record;
use crate::pipeline::spool::{self, BACKLOG, EVENTS, Line, SpoolId, now_ms};

pub(super) struct InProgress<'a, 'b> {
    pub(super) up: &'a Job<'b>,
    pub(super) report: &'a mut UploadReport,
    /// The decision the records were filtered by: every request checks it
    /// still holds (not only that telemetry is on: a `reset` and `enable`
    /// meanwhile is another decision, with another id).
    pub(super) filter: Option<Filter>,
    /// The spool directory's identity when the upload began.
    pub(super) pinned: SpoolId,
}

/// A sealed batch waiting to be sent.
struct Batch {
    path: PathBuf,
    records: Vec<Line>,
}

impl InProgress<'_, '_> {
    pub(super) fn go(&mut self) -> Result<(), TelemetryError> {
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
                Err(NotDelivered {
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
                Err(NotDelivered {
                    reach: Reach::Stopped,
                    ..
                }) => return Ok(()),
                Err(NotDelivered {
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
                Err(NotDelivered {
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
        // Panics of one place go as one record, with their count.
        let kept = self.keep(records, filter);
        let kept = match self.up.merge_panics {
            Some(merge) => merge(kept),
            None => kept,
        };
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
        // A week's report goes alone: in a request with another report, or
        // with events (which carry a machine id), it would be linkable.
        let report = |(r, _): &Line| matches!(r.body, Body::Report(_));
        if records.first().is_some_and(report) {
            return 1;
        }
        let events = records.iter().position(report).unwrap_or(records.len());
        let n = self
            .up
            .exporter
            .batch_len(records[..events].iter().map(|(r, _)| r));
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
    fn send(&mut self, batch: &Batch) -> Result<(), NotDelivered> {
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
        // The count comes from a file name anyone could have written.
        let strikes = strikes.min(MAX_STRIKES);
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
    pub(super) up: &'a Job<'a>,
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
