//! The local file: where events are kept when no collector is configured
//! (`<data dir>/events.jsonl`); they never leave the machine.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::pipeline::FromHook;

use crate::consent::ConsentStore;
use crate::{Event, FileSink, TelemetryError, TelemetrySink};

/// How long a record waits for the consent lock (a `disable` under way
/// holds it).
const CONSENT_PATIENCE: Duration = Duration::from_millis(100);

/// The local file (no collector): a `FileSink` in the data directory, made
/// ready by the first record — the directory checked (the user's own,
/// writable by no one else) and, under the consent lock, the decision
/// checked again, so a run that started before an opt-out and records
/// after it writes nothing.
pub(crate) struct LocalFile {
    sink: FileSink,
    store: ConsentStore,
    /// The salt the run's machine id was derived with: the decision it
    /// records under.
    salt: String,
    ready: Mutex<Option<Result<(), String>>>,
}

impl LocalFile {
    pub(crate) fn new(sink: FileSink, store: ConsentStore, salt: String) -> Self {
        Self {
            sink,
            store,
            salt,
            ready: Mutex::new(None),
        }
    }

    pub(crate) fn write(&self, event: &Event) -> Result<(), TelemetryError> {
        self.write_with(|| {
            crate::pipeline::worker::block_on(self.sink.emit(&crate::event::bounded_copy(event)))
        })
    }

    /// Appends a report's line (report mode), as [`write`](Self::write)
    /// writes an event.
    pub(crate) fn write_line(&self, line: &[u8]) -> Result<(), TelemetryError> {
        self.write_with(|| self.sink.append_line(line))
    }

    fn write_with(
        &self,
        write: impl FnOnce() -> Result<(), TelemetryError>,
    ) -> Result<(), TelemetryError> {
        let ready = {
            let mut ready = self.ready.lock().unwrap_or_else(PoisonError::into_inner);
            ready.get_or_insert_with(|| self.prepare()).clone()
        };
        if let Err(why) = ready {
            return Err(TelemetryError::config(
                format!("nothing is written to the local file: {why}"),
                format!("see {}", self.store.verb("status")),
            ));
        }
        // Each write is made under the consent lock (shared), with the
        // run's decision checked again: `disable` and `reset` take it
        // exclusively before they delete the file, so a write either
        // lands before that (and is deleted with the file) or not at all.
        let off = || {
            TelemetryError::config(
                "nothing is written to the local file: telemetry was turned off or reset \
                 after this run started",
                format!("see {}", self.store.verb("status")),
            )
        };
        let written = {
            let Some(_on) = self.store.still_on(CONSENT_PATIENCE, &self.salt) else {
                return Err(off());
            };
            write()
        };
        // A run held up between that check and its write for longer than
        // `disable` waits for the lock (stopped, say) writes after the
        // opt-out: checked again (one `stat` while nothing changed), and
        // what it wrote is deleted.
        if !self.store.still_ours(&self.salt) {
            self.store.discard_unsent();
            return Err(off());
        }
        written
    }

    /// Writes `events` for a panic hook: as [`write`](Self::write) does,
    /// but taking no lock another thread may hold past `deadline` (the
    /// file's readiness and the sink's buffer are tried until then, never
    /// waited on), as for each file lock.
    pub(crate) fn write_from_hook(&self, events: &[Event], deadline: Instant) -> FromHook {
        let left = || deadline.saturating_duration_since(Instant::now());
        let ready = {
            let Some(mut ready) = crate::fs::try_mutex(&self.ready, left()) else {
                return FromHook::Busy;
            };
            ready.get_or_insert_with(|| self.prepare()).clone()
        };
        if ready.is_err() {
            return FromHook::Dropped;
        }
        let written = {
            let Some(_on) = self.store.still_on_from_hook(left(), &self.salt) else {
                return FromHook::Dropped;
            };
            let bounded: Vec<Event> = events.iter().map(crate::event::bounded_copy).collect();
            self.sink.write_from_hook(&bounded, deadline)
        };
        if self.store.still_ours_from_file(&self.salt) == Some(false) {
            self.store.discard_unsent();
            return FromHook::Dropped;
        }
        match written {
            Some(Ok(())) => FromHook::Written { due: false },
            None => FromHook::Busy,
            Some(Err(e)) if e.io_kind() == Some(std::io::ErrorKind::TimedOut) => FromHook::Busy,
            Some(Err(_)) => FromHook::Dropped,
        }
    }

    fn prepare(&self) -> Result<(), String> {
        let Some(dir) = self.sink.path().parent() else {
            return Ok(());
        };
        crate::fs::check_private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if !dir.is_dir() {
            crate::fs::create_private_dir_all(dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        Ok(())
    }
}

impl TelemetrySink for LocalFile {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        self.write(event)
    }
}

impl std::fmt::Debug for LocalFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalFile")
            .field("path", &self.sink.path())
            .finish_non_exhaustive()
    }
}
