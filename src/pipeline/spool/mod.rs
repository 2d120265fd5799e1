//! The local spool: where a command's events wait for the uploader.
//!
//! Its files are named in [`layout`](crate::pipeline::layout).
//!
//! A run appends each record with one `write(2)` under `spool.lock`, after
//! checking the spool's size as a whole (so concurrent runs share one
//! bound) and closing off a torn last line; the same directory listing
//! gives it the schedule, so deciding whether an upload is due costs no
//! extra file read, and of many runs that find one due, one wins the
//! rename of the `next-` file. While it lives it holds
//! `writers.lock` shared, so an uploader can wait for the command to end.
//! The uploader takes `events.jsonl` by renaming it (under `spool.lock`),
//! keeps the records in `backlog.jsonl`, and seals each request's records
//! into a batch file before sending it: a batch is sent again as it was,
//! with the same idempotency key, after any failure that may have reached
//! the collector, or a crash. See [`upload`].

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use self::record::Record;
use crate::TelemetryError;

pub(crate) mod expire;
pub(crate) mod record;
mod writer;

pub(crate) use writer::SpoolSink;

/// The default bound on the spool's size.
pub(crate) const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// The default bound on a spooled event's age.
pub(crate) const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
/// The default least time between two uploads while the collector answers.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// The longest wait after failed uploads.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// The wait after the first failed upload (jittered down to half).
const FIRST_BACKOFF: Duration = Duration::from_secs(60);
/// How long a started uploader holds the schedule before its own result
/// replaces it (it lives at most 25 s).
const LEASE: Duration = Duration::from_secs(30);
/// Temporary files and launch tokens older than this were left by a crash.
const STALE: Duration = Duration::from_secs(600);
/// The most entries of the spool directory listed; a spool of ours holds a
/// handful.
const MAX_ENTRIES: usize = 10_000;
/// The largest spool file read: far above any bound the crate writes to
/// (a lower `spool_limits` later never makes the backlog unreadable).
pub(crate) const MAX_FILE: u64 = 256 * 1024 * 1024;

pub(crate) use crate::pipeline::layout::spool::{
    BACKLOG, BATCH, CONTROL, EVENTS, LAUNCH, NEXT, PID, SPOOL_LOCK, STATE, STATE_LOCK, UPLOAD_LOCK,
    WRITERS_LOCK,
};

/// Which spool directory this is: see [`Spool::identity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpoolId(u64, u64);

/// What [`Spool::prepare`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prepared {
    /// The spool was there, and may be used.
    Ready,
    /// This run created it.
    Created,
    /// Telemetry was turned off: nothing may be written.
    Off,
}

/// The spool directory and its bounds.
#[derive(Debug, Clone)]
pub(crate) struct Spool {
    dir: PathBuf,
    pub(crate) max_bytes: u64,
    pub(crate) max_age: Duration,
    pub(crate) interval: Duration,
}

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

/// What one listing of the spool says.
pub(crate) struct Usage {
    pub(crate) bytes: u64,
    pub(crate) schedule: Schedule,
    pub(crate) crowded: bool,
}

/// When the next upload is due, as the spool's `next-<ms>` file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// The earliest time found; `None`: no schedule yet (due now).
    pub(crate) next: Option<u64>,
    all: Vec<u64>,
}

impl Schedule {
    fn note(&mut self, name: &str) {
        if let Some(at) = name.strip_prefix(NEXT).and_then(|n| n.parse::<u64>().ok()) {
            self.all.push(at);
            self.next = Some(self.next.map_or(at, |n| n.min(at)));
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Spool {
    pub(crate) fn new(data_dir: &Path) -> Self {
        Self {
            dir: crate::pipeline::layout::spool_dir(data_dir),
            max_bytes: DEFAULT_MAX_BYTES,
            max_age: DEFAULT_MAX_AGE,
            interval: DEFAULT_INTERVAL,
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The spool directory's identity (device and inode; on other
    /// platforms its creation time), if it is there: another one at the
    /// same path (after an opt-out and a new run) is another spool.
    pub(crate) fn identity(&self) -> Option<SpoolId> {
        let meta = fs::symlink_metadata(&self.dir).ok()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Some(SpoolId(meta.dev(), meta.ino()))
        }
        #[cfg(not(unix))]
        {
            let created = meta.created().ok()?.duration_since(UNIX_EPOCH).ok()?;
            Some(SpoolId(
                created.as_secs(),
                u64::from(created.subsec_nanos()),
            ))
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Whether the spool directory, if it exists, may be used: a real
    /// directory, the user's own, writable by nobody else.
    pub(crate) fn check(&self) -> Result<(), TelemetryError> {
        crate::fs::check_private_dir(&self.dir)
            .map_err(|e| TelemetryError::io("use the spool directory", &self.dir, e))
    }

    /// Readies the spool for a run's first record: checks the directory
    /// (one `lstat`), or, when there is none, creates it (private) — but
    /// only while `still_on` holds (the consent lock, shared, with the
    /// decision still "on"), so a run that started before an opt-out and
    /// records after it cannot bring the spool back. (When the directory
    /// exists, appending needs no such check: an opt-out renames it away
    /// under that lock, and an append by path then finds nothing.)
    ///
    /// A run held up here past `disable`'s wait for that lock (stopped,
    /// say) creates the directory after the opt-out: so the caller checks
    /// the decision again after its first append to a spool it
    /// [`Created`](Prepared::Created), and deletes what it wrote if it
    /// changed.
    pub(crate) fn prepare<L>(
        &self,
        still_on: impl FnOnce() -> Option<L>,
    ) -> Result<Prepared, TelemetryError> {
        match fs::symlink_metadata(&self.dir) {
            Ok(meta) => crate::fs::check_private_meta(&meta)
                .map(|()| Prepared::Ready)
                .map_err(|e| TelemetryError::io("use the spool directory", &self.dir, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let Some(_on) = still_on() else {
                    return Ok(Prepared::Off);
                };
                crate::fs::create_private_dir_all(&self.dir)
                    .map_err(|e| TelemetryError::io("create the spool directory", &self.dir, e))?;
                self.check().map(|()| Prepared::Created)
            }
            Err(e) => Err(TelemetryError::io(
                "inspect the spool directory",
                &self.dir,
                e,
            )),
        }
    }

    /// The spooled record files (`*.jsonl`, regular files only), in name
    /// order.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        files.sort_unstable();
        files
    }

    /// Sealed batches, oldest first.
    pub(crate) fn batches(&self) -> Vec<PathBuf> {
        self.files()
            .into_iter()
            .filter(|p| name_of(p).ends_with(BATCH))
            .collect()
    }

    /// Every record waiting, in the order uploads send them (sealed
    /// batches, the backlog, claimed files, then what runs appended since),
    /// and how many lines are not records.
    pub(crate) fn waiting_records(&self) -> (Vec<Line>, u64) {
        let files = self.files();
        let rank = |path: &PathBuf| match name_of(path) {
            name if name.ends_with(BATCH) => 0,
            name if name == BACKLOG => 1,
            name if name == EVENTS => 3,
            _ => 2,
        };
        let mut ordered: Vec<&PathBuf> = files.iter().collect();
        ordered.sort_by_key(|p| rank(p));
        let mut records = Vec::new();
        let mut skipped = 0;
        for path in ordered {
            match read_records(path, MAX_FILE) {
                Ok((mut more, bad)) => {
                    records.append(&mut more);
                    skipped += bad;
                }
                Err(_) => skipped += 1,
            }
        }
        (records, skipped)
    }

    /// Files taken from a run but not yet in the backlog: anything
    /// `*.jsonl` that is not one of the crate's own names (a claimed
    /// `events.jsonl`, or a spool file of an earlier version).
    pub(crate) fn claims(&self) -> Vec<PathBuf> {
        self.files()
            .into_iter()
            .filter(|p| {
                let name = name_of(p);
                name != EVENTS && name != BACKLOG && !name.ends_with(BATCH)
            })
            .collect()
    }

    /// A new batch file's path, after every existing one.
    pub(crate) fn new_batch_path(&self) -> PathBuf {
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        self.dir.join(format!("{:013}-{tag}{BATCH}", now_ms()))
    }

    /// Bytes spooled in all record files, from fresh metadata, and the
    /// schedule (read from the same listing); `crowded` when the directory
    /// holds more entries than a spool of ours ever does (the listing stops
    /// there: what it found is all a run can know, and it counts as full
    /// until an uploader sweeps). `None` when it cannot be listed.
    pub(crate) fn usage(&self) -> Option<Usage> {
        let entries = fs::read_dir(&self.dir).ok()?;
        let mut bytes = 0_u64;
        let mut schedule = Schedule::default();
        for (n, entry) in entries.filter_map(Result::ok).enumerate() {
            if n >= MAX_ENTRIES {
                return Some(Usage {
                    bytes,
                    schedule,
                    crowded: true,
                });
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".jsonl")
                && let Ok(meta) = fs::symlink_metadata(entry.path())
            {
                bytes = bytes.saturating_add(meta.len());
            } else {
                schedule.note(&name);
            }
        }
        Some(Usage {
            bytes,
            schedule,
            crowded: false,
        })
    }

    /// The schedule, from the directory listing.
    pub(crate) fn schedule(&self) -> Schedule {
        let mut schedule = Schedule::default();
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.filter_map(Result::ok).take(MAX_ENTRIES) {
                schedule.note(&entry.file_name().to_string_lossy());
            }
        }
        schedule
    }

    /// Events waiting: the lines of all record files (a torn last line
    /// counts).
    pub(crate) fn waiting(&self) -> u64 {
        self.files()
            .iter()
            .filter_map(|p| crate::fs::read_small(p, MAX_FILE).ok().flatten())
            .map(|bytes| lines(&bytes))
            .sum()
    }

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

    /// Takes the next upload for the caller, if `schedule` (as a run's
    /// append just read it) says one is due: the schedule file is renamed
    /// to the lease's time, and of many runs at once only one rename
    /// succeeds. `false` when none is due, or the schedule cannot be moved
    /// (then no uploader is started either).
    pub(crate) fn claim_upload(&self, schedule: &Schedule) -> bool {
        let now = now_ms();
        // A time further ahead than any schedule the crate writes (a clock
        // that was wrong, a planted file) counts as due, so it cannot stop
        // uploads for good.
        let furthest =
            now.saturating_add(millis(self.interval.max(MAX_BACKOFF).max(LEASE)) + 60_000);
        if schedule
            .next
            .is_some_and(|next| next > now && next <= furthest)
        {
            return false;
        }
        let lease = now.saturating_add(millis(self.interval.max(LEASE)));
        let Some(next) = schedule.next else {
            // The first upload ever (or the file was lost): decided under
            // the state lock, looking again, so one run creates it.
            let Ok(Some(_lock)) =
                crate::fs::lock(&self.path(STATE_LOCK), Duration::from_millis(50))
            else {
                return false;
            };
            return self.schedule().next.is_none()
                && create_marker(&self.path(&format!("{NEXT}{lease}")), true).is_ok();
        };
        let from = self.path(&format!("{NEXT}{next}"));
        // Of many runs that found the same schedule, one rename succeeds.
        crate::fs::rename(&from, &self.path(&format!("{NEXT}{lease}"))).is_ok()
    }

    /// Sets the next upload's time (the uploader, when it is done):
    /// renames the schedule file, or creates one.
    pub(crate) fn set_next_upload(&self, at: u64) {
        let target = self.path(&format!("{NEXT}{at}"));
        let mut names = self.schedule().all;
        names.sort_unstable();
        let renamed = names
            .first()
            .is_some_and(|n| crate::fs::rename(&self.path(&format!("{NEXT}{n}")), &target).is_ok());
        for n in names.iter().skip(usize::from(renamed)) {
            if *n != at {
                let _ = fs::remove_file(self.path(&format!("{NEXT}{n}")));
            }
        }
        if !renamed {
            let _ = create_marker(&target, false);
        }
    }

    /// The next upload's time after an upload that ended `ok` (the
    /// interval) or failed for the `failures`th time in a row (a backoff
    /// from a minute, doubling, at most an hour, jittered down to half).
    pub(crate) fn next_upload(&self, ok: bool, failures: u32) -> u64 {
        let wait = if ok {
            self.interval
        } else {
            let doubled = FIRST_BACKOFF.saturating_mul(1 << failures.saturating_sub(1).min(12));
            crate::pipeline::export::retry::jitter(doubled.min(MAX_BACKOFF))
        };
        now_ms().saturating_add(millis(wait))
    }

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
        let token = uuid::Uuid::new_v4().simple().to_string();
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

/// Creates the empty file at `path` (mode 0600, like every file of the
/// spool), failing if one is there when `new`.
fn create_marker(path: &Path, new: bool) -> io::Result<File> {
    let mut options = fs::OpenOptions::new();
    options.write(true);
    if new {
        options.create_new(true);
    } else {
        options.create(true).truncate(false);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// The message of an I/O error's cause, without the crate's prefix.
fn source_text(e: &TelemetryError) -> String {
    use std::error::Error as _;
    e.source()
        .map_or_else(|| e.one_line(), std::string::ToString::to_string)
}

/// A file name as text.
pub(crate) fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// How many lines `bytes` holds (a torn last line counts).
#[expect(
    clippy::naive_bytecount,
    reason = "a status line over at most a few MB; not worth a dependency"
)]
pub(crate) fn lines(bytes: &[u8]) -> u64 {
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count();
    (newlines + usize::from(bytes.last().is_some_and(|&b| b != b'\n'))) as u64
}

/// A record and its line as spooled.
pub(crate) type Line = (Record, Vec<u8>);

/// One spooled file, read whole: its records, and how many lines were not
/// records (a torn last line, garbage).
pub(crate) fn read_records(path: &Path, limit: u64) -> io::Result<(Vec<Line>, u64)> {
    let bytes = crate::fs::read_small(path, limit)?.unwrap_or_default();
    Ok(parse_records(&bytes))
}

/// Records from spooled bytes, and how many lines were not records.
pub(crate) fn parse_records(bytes: &[u8]) -> (Vec<Line>, u64) {
    let mut records = Vec::new();
    let mut skipped = 0;
    let mut rest = bytes;
    while !rest.is_empty() {
        let (line, tail, complete) = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (&rest[..end], &rest[end + 1..], true),
            None => (rest, &[][..], false),
        };
        rest = tail;
        if line.is_empty() {
            continue;
        }
        // A line without its newline was cut short by a crash: skip it even
        // if it happens to parse.
        match serde_json::from_slice::<Record>(line) {
            Ok(record) if complete => {
                let mut raw = line.to_vec();
                raw.push(b'\n');
                records.push((record, raw));
            }
            _ => skipped += 1,
        }
    }
    (records, skipped)
}

/// The lines of `records`, joined.
pub(crate) fn join(records: &[Line]) -> Vec<u8> {
    records
        .iter()
        .flat_map(|(_, raw)| raw.iter().copied())
        .collect()
}

/// Opens an existing or new file for reading and appending (0600), never
/// through a symlink and never blocking; refuses anything but a regular
/// file.
pub(crate) fn open_append_read(path: &Path) -> io::Result<(File, u64)> {
    let mut options = fs::OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok((file, meta.len()))
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

    fn spool() -> (tempfile::TempDir, Spool) {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        fs::create_dir_all(spool.dir()).unwrap();
        (dir, spool)
    }

    fn next_files(spool: &Spool) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(spool.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(NEXT))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn of_many_runs_that_find_an_upload_due_one_claims_it() {
        let (_dir, spool) = spool();
        let seen = spool.usage().unwrap().schedule;
        assert_eq!(seen.next, None, "no schedule yet: due");
        let claims = (0..8).filter(|_| spool.claim_upload(&seen)).count();
        assert_eq!(claims, 1);
        let after = spool.usage().unwrap().schedule;
        assert!(after.next.unwrap() > now_ms(), "the lease moved it on");
        assert!(!spool.claim_upload(&after), "not due during the lease");
    }

    #[test]
    fn a_schedule_far_in_the_future_counts_as_due() {
        let (_dir, spool) = spool();
        fs::File::create(spool.path("next-99999999999999")).unwrap();
        let seen = spool.usage().unwrap().schedule;
        assert!(
            spool.claim_upload(&seen),
            "a clock that was wrong cannot stop uploads"
        );
        assert_eq!(next_files(&spool).len(), 1);
        assert_ne!(next_files(&spool), ["next-99999999999999"]);
    }

    #[test]
    fn set_next_upload_leaves_one_schedule() {
        let (_dir, spool) = spool();
        for n in ["next-5", "next-7", "next-x"] {
            fs::File::create(spool.path(n)).unwrap();
        }
        spool.set_next_upload(42);
        assert_eq!(next_files(&spool), ["next-42", "next-x"]);
    }
}
