//! A run's side of the spool: [`SpoolSink`].

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{EVENTS, Prepared, Spool};
use crate::consent::ConsentStore;
use crate::pipeline::FromHook;
use crate::pipeline::spool::record::Record;
use crate::{Event, TelemetryError, TelemetrySink};

/// How long a record waits for another run's append to finish.
const APPEND_PATIENCE: Duration = Duration::from_millis(200);
/// How long a run's first record waits for the consent lock (a `disable`
/// in progress holds it).
const CONSENT_PATIENCE: Duration = Duration::from_millis(100);

/// The spool as a sink: each event becomes a record (an id, the event cut
/// to its bounds) appended to `events.jsonl` with one write. Touches only
/// local disk.
///
/// The first record of a process checks, under the consent lock, that
/// telemetry is still on: a run that started before `telemetry disable`
/// and records after it writes nothing. A full spool drops the record and
/// counts it; a failed write is counted too (both shown by `status`), and
/// never leaves an empty file or a fragment the next record would be
/// glued to.
pub(crate) struct SpoolSink {
    spool: Spool,
    store: ConsentStore,
    /// The destination the events are recorded for.
    to: String,
    /// The salt the run's machine id was derived with (see
    /// `ConsentStore::still_on`).
    salt: String,
    state: Mutex<Writer>,
    /// Whether this process looked at the upload schedule yet.
    looked: AtomicBool,
    /// `Writer::started` and `Writer::stopped.is_some()`, as a panic hook
    /// reads them (it never takes `state`: see
    /// [`append_from_hook`](Self::append_from_hook)).
    started: AtomicBool,
    stopped: AtomicBool,
}

#[derive(Default)]
struct Writer {
    started: bool,
    /// Why this process spools nothing more (telemetry turned off, the
    /// spool deleted or refused).
    stopped: Option<String>,
    /// `writers.lock`, held shared by a run that started an uploader, while
    /// it may still record (the uploader waits for it).
    live: Option<crate::fs::Lock>,
    line: Vec<u8>,
    full: u64,
    /// The schedule as the last append saw it.
    schedule: Option<super::Schedule>,
}

impl std::fmt::Debug for SpoolSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolSink")
            .field("dir", &self.spool.dir())
            .finish_non_exhaustive()
    }
}

impl SpoolSink {
    pub(crate) fn new(spool: Spool, store: ConsentStore, to: String, salt: String) -> Self {
        Self {
            spool,
            store,
            to,
            salt,
            state: Mutex::new(Writer::default()),
            looked: AtomicBool::new(false),
            started: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        }
    }

    /// [`claim_upload`](Self::claim_upload), the first time a process
    /// asks: a run looks at the schedule once.
    pub(crate) fn claim_upload_once(&self) -> bool {
        !self.looked.swap(true, Ordering::AcqRel) && self.claim_upload()
    }

    /// Claims the next upload if the last append found one due (see
    /// [`Spool::claim_upload`]); `false` when this run spooled nothing.
    /// A run that wins holds `writers.lock` shared from then on, so the
    /// uploader it starts waits for it to end and sends its later records
    /// too.
    pub(crate) fn claim_upload(&self) -> bool {
        let mut writer = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let claimed = writer
            .schedule
            .as_ref()
            .is_some_and(|s| self.spool.claim_upload(s));
        if claimed {
            writer.live = crate::fs::lock_as(
                &self.spool.path(super::WRITERS_LOCK),
                crate::fs::Mode::Shared,
                Duration::from_millis(20),
            )
            .ok()
            .flatten();
        }
        claimed
    }

    /// Lets go of `writers.lock`, so an uploader in this process need not
    /// wait for it; taken again at the next record.
    pub(crate) fn pause(&self) {
        let mut writer = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        writer.live = None;
    }

    pub(crate) fn append(&self, event: &Event) -> Result<(), TelemetryError> {
        self.append_record(Record::new(event), &|| format!("event `{}`", event.name))
    }

    /// Appends a week's report (report mode), as [`append`](Self::append)
    /// appends an event; `of`: the decision it was counted under.
    pub(crate) fn append_report(
        &self,
        id: &str,
        week: &str,
        report: String,
        of: &str,
    ) -> Result<(), TelemetryError> {
        let record = Record {
            id: id.to_owned(),
            to: None,
            body: super::record::Body::Report(Box::new(super::record::Spooled {
                report,
                of: of.to_owned(),
                at: crate::timestamp::rfc3339_utc(std::time::SystemTime::now()),
            })),
        };
        self.append_record(record, &|| format!("the report of {week}"))
    }

    /// `what`: the record, named for an error.
    fn append_record(
        &self,
        mut record: Record,
        what: &dyn Fn() -> String,
    ) -> Result<(), TelemetryError> {
        let mut writer = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(why) = &writer.stopped {
            return Err(TelemetryError::config(
                format!("nothing more is spooled by this run: {why}"),
                format!("see {}", self.store.verb("status")),
            ));
        }
        let mut created = false;
        if !writer.started {
            match self
                .spool
                .prepare(|| self.store.still_on(CONSENT_PATIENCE, &self.salt))
            {
                Ok(Prepared::Ready) => writer.started = true,
                Ok(Prepared::Created) => (writer.started, created) = (true, true),
                Ok(Prepared::Off) => {
                    self.stop(
                        &mut writer,
                        "telemetry was turned off after this run started",
                    );
                    return Ok(());
                }
                Err(e) => {
                    self.stop(&mut writer, &e.one_line());
                    self.count_write_error(&e);
                    return Err(e);
                }
            }
            self.started.store(true, Ordering::Release);
        }
        record.to = Some(self.to.clone());
        let mut line = std::mem::take(&mut writer.line);
        line.clear();
        record
            .write_line(&mut line, false)
            .map_err(|e| TelemetryError::serde(format_args!("{}", what()), e))?;
        let result = self.write_line(&line, &mut writer.schedule, APPEND_PATIENCE);
        writer.line = line;
        // A run that created the spool may have been held up past an
        // opt-out (see `Spool::prepare`): if the decision changed, what it
        // wrote goes again at once.
        if created && !self.store.still_ours(&self.salt) {
            self.store.discard_unsent();
            self.stop(
                &mut writer,
                "telemetry was turned off after this run started",
            );
            return Ok(());
        }
        match result {
            Ok(true) => Ok(()),
            Ok(false) => {
                // Counted in the state file, every one: what a busy lock
                // keeps out now goes with the next drop, or when the run
                // ends.
                writer.full += 1;
                let add = writer.full;
                if self.spool.update_state(Duration::from_millis(20), |s| {
                    s.dropped_full = s.dropped_full.saturating_add(add);
                }) {
                    writer.full = 0;
                }
                Err(TelemetryError::dropped(
                    1,
                    "the spool",
                    "the spool is full; new events are dropped and counted until the \
                     collector takes the backlog",
                ))
            }
            Err(e) => {
                if e.io_kind() == Some(io::ErrorKind::NotFound) {
                    // The spool was deleted under us: an opt-out.
                    self.stop(&mut writer, "the spool was deleted (telemetry turned off)");
                } else {
                    self.count_write_error(&e);
                }
                Err(e)
            }
        }
    }

    /// Holds this process's writer lock until the guard is dropped: a
    /// thread stuck mid-record, for the panic hook's tests.
    #[cfg(test)]
    pub(crate) fn hold_writer(&self) -> impl Sized + '_ {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stop(&self, writer: &mut Writer, why: &str) {
        writer.stopped = Some(why.to_owned());
        self.stopped.store(true, Ordering::Release);
    }

    /// Appends `events` for a panic hook: as [`append`](Self::append)
    /// does, but never taking this process's writer lock (another thread
    /// may hold it; so may this one, if it panicked mid-append): the
    /// writer's state is read through atomics, and the consent and spool
    /// locks are tried until `deadline`, never waited on past it.
    /// `claim`: whether to claim a due upload (the hook starts uploaders).
    pub(crate) fn append_from_hook(
        &self,
        events: &[Event],
        deadline: Instant,
        claim: bool,
    ) -> FromHook {
        let left = || deadline.saturating_duration_since(Instant::now());
        if self.stopped.load(Ordering::Acquire) {
            return FromHook::Dropped;
        }
        let created = if self.started.load(Ordering::Acquire) {
            false
        } else {
            match self
                .spool
                .prepare(|| self.store.still_on_from_hook(left(), &self.salt))
            {
                Ok(Prepared::Ready) => false,
                Ok(Prepared::Created) => true,
                Ok(Prepared::Off) | Err(_) => return FromHook::Dropped,
            }
        };
        let mut lines = Vec::with_capacity(512 * events.len());
        for event in events {
            let mut record = Record::new(event);
            record.to = Some(self.to.clone());
            if record.write_line(&mut lines, false).is_err() {
                return FromHook::Dropped;
            }
        }
        let mut schedule = None;
        let written = self.write_line(&lines, &mut schedule, left());
        if created && self.store.still_ours_from_file(&self.salt) == Some(false) {
            self.store.discard_unsent();
            return FromHook::Dropped;
        }
        match written {
            Ok(true) => FromHook::Written {
                due: claim && schedule.is_some_and(|s| self.spool.claim_upload_within(&s, left())),
            },
            Err(e) if e.io_kind() == Some(io::ErrorKind::TimedOut) => FromHook::Busy,
            Ok(false) => {
                // A full spool: counted, as a run's record is, if the
                // state file's lock is free in what is left of the budget.
                let dropped = events.len() as u64;
                self.spool.update_state(left(), |s| {
                    s.dropped_full = s.dropped_full.saturating_add(dropped);
                });
                FromHook::Dropped
            }
            Err(_) => FromHook::Dropped,
        }
    }

    /// Appends `line` to `events.jsonl` under the spool lock (waiting at
    /// most `patience` for it): `Ok(false)` when the spool (all its files
    /// together) has no room for it.
    fn write_line(
        &self,
        line: &[u8],
        schedule_seen: &mut Option<super::Schedule>,
        patience: Duration,
    ) -> Result<bool, TelemetryError> {
        let lock_path = self.spool.path(super::SPOOL_LOCK);
        let _lock = match crate::fs::lock(&lock_path, patience) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                return Err(TelemetryError::io(
                    "lock",
                    &lock_path,
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        "another process held it too long; the event was not spooled",
                    ),
                ));
            }
            Err(e) => return Err(TelemetryError::io("lock", &lock_path, e)),
        };
        let path = self.spool.path(EVENTS);
        let Some(usage) = self.spool.usage() else {
            return Ok(false);
        };
        // Even a run that finds the spool full reads the schedule, so an
        // uploader comes and drains (and sweeps) it.
        *schedule_seen = Some(usage.schedule);
        if usage.crowded || usage.bytes.saturating_add(line.len() as u64) > self.spool.max_bytes {
            return Ok(false);
        }
        let file = match super::open_append_read(&path) {
            Ok(file) => file,
            Err(e) if crate::fs::planted(&e) => crate::fs::remove_planted(&path)
                .and_then(|()| super::open_append_read(&path))
                .map_err(|e| TelemetryError::io("open", &path, e))?,
            Err(e) => return Err(TelemetryError::io("open", &path, e)),
        };
        let len = file.1;
        let mut file = file.0;
        // A fragment left by a short write (a full disk, a crash) is closed
        // off first, so this record starts on a line of its own.
        let torn = len > 0 && !ends_with_newline(&file, len);
        // The process's file-size limit (`ulimit -f`) is a bound like the
        // spool's own: past it, the event is dropped and counted (a write
        // past it would end the host with SIGXFSZ).
        if crate::fs::fits(len, line.len() + usize::from(torn)).is_err() {
            if len == 0 {
                let _ = std::fs::remove_file(&path);
            }
            return Ok(false);
        }
        let written = if torn {
            let mut joined = Vec::with_capacity(line.len() + 1);
            joined.push(b'\n');
            joined.extend_from_slice(line);
            file.write_all(&joined)
        } else {
            file.write_all(line)
        };
        if let Err(e) = written {
            // Never leave an empty file behind (a full disk at the first
            // record of a spool).
            if file.metadata().is_ok_and(|m| m.len() == 0) {
                let _ = std::fs::remove_file(&path);
            }
            return Err(TelemetryError::io("write to", &path, e));
        }
        Ok(true)
    }

    /// Counts a record that could not be written, best effort (on a full
    /// disk even this may fail; `status` then finds the cause itself).
    fn count_write_error(&self, e: &TelemetryError) {
        let line = e.one_line();
        self.spool.update_state(Duration::from_millis(50), |s| {
            s.write_errors = s.write_errors.saturating_add(1);
            s.last_write_error = Some(line);
        });
    }
}

/// Whether the file's last byte (at `len - 1`) is a newline.
fn ends_with_newline(file: &std::fs::File, len: u64) -> bool {
    let mut last = [0_u8; 1];
    #[cfg(unix)]
    let read = std::os::unix::fs::FileExt::read_exact_at(file, &mut last, len - 1);
    #[cfg(windows)]
    let read = std::os::windows::fs::FileExt::seek_read(file, &mut last, len - 1).map(drop);
    read.is_ok() && last[0] == b'\n'
}

impl Drop for SpoolSink {
    /// What the run could not count yet (its state writes found the lock
    /// busy) is counted as it ends, waiting a little longer.
    fn drop(&mut self) {
        let add = self
            .state
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .full;
        if add > 0 {
            self.spool.update_state(Duration::from_millis(500), |s| {
                s.dropped_full = s.dropped_full.saturating_add(add);
            });
        }
    }
}

impl TelemetrySink for SpoolSink {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        self.append(event)
    }
}
