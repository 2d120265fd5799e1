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
use std::io::{self};
use std::path::{Path, PathBuf};
use std::time::Duration;

use self::record::Record;
use crate::TelemetryError;

pub(crate) mod expire;
mod health;
mod launch;
pub(crate) mod record;
mod schedule;
mod state;
mod writer;

pub(crate) use schedule::{DEFAULT_INTERVAL, Schedule, now_ms};
pub(crate) use state::UploadLog;
pub(crate) use writer::SpoolSink;

/// The default bound on the spool's size.
pub(crate) const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// The default bound on a spooled event's age.
pub(crate) const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
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

/// What one listing of the spool says.
pub(crate) struct Usage {
    pub(crate) bytes: u64,
    pub(crate) schedule: Schedule,
    pub(crate) crowded: bool,
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
            let created = meta
                .created()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?;
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
    /// how many of them are in sealed batches (sent again as they are),
    /// and how many lines are not records.
    pub(crate) fn waiting_records(&self) -> (Vec<Line>, usize, u64) {
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
        let mut sealed = 0;
        let mut skipped = 0;
        for path in ordered {
            match read_records(path, MAX_FILE) {
                Ok((mut more, bad)) => {
                    if rank(path) == 0 {
                        sealed += more.len();
                    }
                    records.append(&mut more);
                    skipped += bad;
                }
                Err(_) => skipped += 1,
            }
        }
        (records, sealed, skipped)
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

    /// Events waiting: the lines of all record files (a torn last line
    /// counts).
    pub(crate) fn waiting(&self) -> u64 {
        self.files()
            .iter()
            .filter_map(|p| crate::fs::read_small(p, MAX_FILE).ok().flatten())
            .map(|bytes| lines(&bytes))
            .sum()
    }
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
        options.custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK);
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
