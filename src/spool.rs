//! The local spool: where a command's events wait for the uploader.
//!
//! Layout, under the tool's data directory (created private, 0700):
//!
//! ```text
//! spool/<unix ms>-<pid>-<random>.jsonl   one file per process, 0600, one record per line
//! spool/state.json                       what the uploader last did, and drop counts
//! spool/upload.lock                      held by the one uploader at work
//! spool/upload.pid                       the uploader's process id, while it works
//! spool/uploader.key                     the random key a detached uploader must present
//! spool/state.lock                       guards state.json
//! ```
//!
//! A recording process creates its file exclusively and holds an advisory
//! lock on it for its whole life, appending one `{"id":…,"event":…}` line per
//! event with one `write(2)`. The uploader takes only files whose lock it can
//! get, so it never reads a file that is still being written; a file left by
//! a crashed process is unlocked and is taken like any other. A torn last
//! line (a crash mid-write, a full disk) is skipped, never sent.
#![cfg_attr(
    not(feature = "http"),
    allow(dead_code, reason = "without the http feature nothing is uploaded")
)]

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::TelemetryError;
use crate::record::Record;

/// The default bound on the spool's size.
pub(crate) const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// The default bound on a spooled event's age.
pub(crate) const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Temporary files older than this were left by a crash.
const STALE_TEMP: Duration = Duration::from_secs(600);
/// The most spool files; beyond, the spool counts as full (each offline
/// run adds one, and every run lists them).
const MAX_FILES: usize = 5_000;

/// The spool directory and its bounds.
#[derive(Debug, Clone)]
pub(crate) struct Spool {
    dir: PathBuf,
    pub(crate) max_bytes: u64,
    pub(crate) max_age: Duration,
}

/// What the uploader last did, and what was lost: `spool/state.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct State {
    pub(crate) last_attempt: Option<String>,
    pub(crate) last_success: Option<String>,
    pub(crate) last_error: Option<String>,
    pub(crate) delivered: u64,
    /// Events not spooled because the spool was full.
    pub(crate) dropped_full: u64,
    /// Events deleted unsent because they were older than the age bound.
    pub(crate) expired: u64,
    /// Torn or garbled lines skipped.
    pub(crate) skipped: u64,
}

impl Spool {
    pub(crate) fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("spool"),
            max_bytes: DEFAULT_MAX_BYTES,
            max_age: DEFAULT_MAX_AGE,
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn upload_lock_path(&self) -> PathBuf {
        self.dir.join("upload.lock")
    }

    /// The spooled files (`*.jsonl`), oldest name first.
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
        files.sort();
        files
    }

    /// Bytes spooled in all files, and whether the spool is full (by bytes
    /// or by the number of files). Lists at most [`MAX_FILES`] entries.
    fn usage(&self) -> (u64, bool) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return (0, false);
        };
        let mut bytes = 0_u64;
        for (n, entry) in entries.filter_map(Result::ok).enumerate() {
            if n >= MAX_FILES {
                return (bytes, true);
            }
            if entry.file_name().to_string_lossy().ends_with(".jsonl")
                && let Ok(meta) = entry.metadata()
            {
                bytes = bytes.saturating_add(meta.len());
            }
        }
        (bytes, bytes >= self.max_bytes)
    }

    /// Creates the spool directory (private) and checks that what is there
    /// is a directory of ours, not a symlink planted to redirect events.
    pub(crate) fn ensure_dir(&self) -> Result<(), TelemetryError> {
        crate::fs::create_private_dir_all(&self.dir)
            .map_err(|e| TelemetryError::io("create the spool directory", &self.dir, e))?;
        self.check_dir()
    }

    /// Whether the spool directory, if it exists, is a real directory.
    pub(crate) fn check_dir(&self) -> Result<(), TelemetryError> {
        match fs::symlink_metadata(&self.dir) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(TelemetryError::io(
                "use",
                &self.dir,
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the spool directory is a symbolic link or not a directory; events are \
                     not spooled until it is removed",
                ),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(TelemetryError::io("inspect", &self.dir, e)),
        }
    }

    /// The secret a detached uploader must present in its marker variable:
    /// a random value kept in the spool (0600), created on first use. A
    /// user who sets the marker by hand does not know it, so their command
    /// runs as usual.
    pub(crate) fn uploader_key(&self, create: bool) -> Option<String> {
        let path = self.dir.join("uploader.key");
        if self.check_dir().is_ok()
            && let Ok(Some(bytes)) = crate::fs::read_small(&path, 256)
        {
            let key = String::from_utf8_lossy(&bytes).trim().to_owned();
            if key.len() >= 32 {
                return Some(key);
            }
        }
        if !create || self.ensure_dir().is_err() {
            return None;
        }
        let key = uuid::Uuid::new_v4().simple().to_string();
        crate::fs::write_atomic(&path, key.as_bytes(), 0o600).ok()?;
        Some(key)
    }

    /// Events waiting: the lines of all files (a torn last line counts).
    pub(crate) fn waiting(&self) -> u64 {
        self.files()
            .iter()
            .filter_map(|p| {
                crate::fs::read_small(p, self.max_bytes.max(1))
                    .ok()
                    .flatten()
            })
            .map(|bytes| lines(&bytes))
            .sum()
    }

    /// This process's writer. Measures the room left now; creates its file
    /// only when a record fits, so a full spool gains no empty files.
    pub(crate) fn writer(&self) -> Result<Writer, TelemetryError> {
        self.ensure_dir()?;
        let (bytes, full) = self.usage();
        let room = if full {
            0
        } else {
            self.max_bytes.saturating_sub(bytes)
        };
        Ok(Writer {
            dir: self.dir.clone(),
            file: None,
            room,
            line: Vec::with_capacity(512),
        })
    }

    /// Reads `state.json` (defaults when missing or unreadable).
    pub(crate) fn state(&self) -> State {
        crate::fs::read_small(&self.dir.join("state.json"), 64 * 1024)
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Changes `state.json` under its lock. Best effort: the state is for
    /// `telemetry status`, and losing an update loses nothing else.
    /// `patience` bounds the wait for the lock: short on a command's path.
    pub(crate) fn update_state(&self, patience: Duration, change: impl FnOnce(&mut State)) {
        if self.ensure_dir().is_err() {
            return;
        }
        let Ok(Some(_lock)) = crate::fs::lock(&self.dir.join("state.lock"), patience) else {
            return;
        };
        let mut state = self.state();
        change(&mut state);
        if let Ok(mut bytes) = serde_json::to_vec_pretty(&state) {
            bytes.push(b'\n');
            let _ = crate::fs::write_atomic(&self.dir.join("state.json"), &bytes, 0o600);
        }
    }

    /// Deletes temporary files a crashed uploader left, and spooled files
    /// older than the age bound (counted as expired). Returns how many
    /// events expired.
    pub(crate) fn sweep(&self) -> u64 {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let now = SystemTime::now();
        let age = |meta: &fs::Metadata| {
            meta.modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default()
        };
        let mut expired = 0;
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") && age(&meta) > STALE_TEMP {
                let _ = fs::remove_file(&path);
            } else if name.ends_with(".jsonl") && meta.is_file() && age(&meta) > self.max_age {
                // Only a file nobody is writing.
                if let Ok(Some(file)) = try_lock_existing(&path) {
                    let lines = crate::fs::read_small(&path, self.max_bytes.max(1))
                        .ok()
                        .flatten()
                        .map_or(0, |b| lines(&b));
                    if fs::remove_file(&path).is_ok() {
                        expired += lines;
                    }
                    drop(file);
                }
            }
        }
        expired
    }
}

/// How many lines `bytes` holds (a torn last line counts).
#[expect(
    clippy::naive_bytecount,
    reason = "a status line over at most a few MB; not worth a dependency"
)]
fn lines(bytes: &[u8]) -> u64 {
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count();
    (newlines + usize::from(bytes.last().is_some_and(|&b| b != b'\n'))) as u64
}

/// Takes the lock of an existing spool file without waiting: `Ok(None)`
/// when its writer still holds it.
pub(crate) fn try_lock_existing(path: &Path) -> io::Result<Option<File>> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NOFOLLOW | libc::O_NONBLOCK,
    );
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// This process's spool file.
#[derive(Debug)]
pub(crate) struct Writer {
    dir: PathBuf,
    /// Created at the first record that fits; locked while it lives.
    file: Option<(File, PathBuf)>,
    /// Bytes this process may still add before the spool is full.
    room: u64,
    line: Vec<u8>,
}

/// What happened to one record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Appended {
    Spooled,
    /// The spool is full: the record was dropped (and must be counted).
    Full,
}

impl Writer {
    /// Appends `record` as one line with one write.
    pub(crate) fn append(&mut self, record: &Record) -> Result<Appended, TelemetryError> {
        self.line.clear();
        record
            .write_line(&mut self.line)
            .map_err(|e| TelemetryError::serde(format_args!("event `{}`", record.event.name), e))?;
        let len = self.line.len() as u64;
        if len > self.room {
            return Ok(Appended::Full);
        }
        let (file, path) = match &mut self.file {
            Some(open) => open,
            slot @ None => slot.insert(create_locked(&self.dir)?),
        };
        file.write_all(&self.line)
            .map_err(|e| TelemetryError::io("write to", &*path, e))?;
        self.room -= len;
        Ok(Appended::Spooled)
    }
}

/// A new spool file, locked before it gets its `.jsonl` name, so an
/// uploader never sees it unlocked (and never takes an empty file that is
/// about to be written).
fn create_locked(dir: &Path) -> Result<(File, PathBuf), TelemetryError> {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let name = format!(
        "{millis:013}-{}-{}.jsonl",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let path = dir.join(name);
    let temp = crate::fs::temp_path(&path);
    let mut options = fs::OpenOptions::new();
    options.append(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(&temp)
        .map_err(|e| TelemetryError::io("create the spool file", &temp, e))?;
    let locked = match file.try_lock() {
        Ok(()) => Ok(()),
        Err(fs::TryLockError::Error(e)) => Err(e),
        Err(fs::TryLockError::WouldBlock) => Err(io::Error::from(io::ErrorKind::WouldBlock)),
    };
    if let Err(e) = locked.and_then(|()| fs::rename(&temp, &path)) {
        let _ = fs::remove_file(&temp);
        return Err(TelemetryError::io("create the spool file", &path, e));
    }
    Ok((file, path))
}

/// A record and its line as spooled.
pub(crate) type Line = (Record, Vec<u8>);

/// One spooled file, read whole: its records, and how many lines were not
/// records (a torn last line, garbage).
pub(crate) fn read_records(path: &Path, limit: u64) -> io::Result<(Vec<Line>, u64)> {
    let bytes = crate::fs::read_small(path, limit)?.unwrap_or_default();
    let mut records = Vec::new();
    let mut skipped = 0;
    let mut rest = bytes.as_slice();
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
    Ok((records, skipped))
}
