use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::{Event, TelemetryError, TelemetrySink};

/// A sink that appends events to a file as JSON Lines.
///
/// - [`FileSink::new`] touches nothing on disk. The first `emit` creates the
///   parent directories and the file (mode `0644` on Unix, less whatever the
///   process umask removes) and keeps it open, in append mode.
/// - Write-through: when `emit` returns `Ok`, the line is in the file.
/// - One JSON object per line, written whole with one `write(2)` on a file
///   opened with `O_APPEND`, so lines from many tasks, threads or processes
///   appending to the same local file never interleave.
/// - If a write is cut short (a full disk), the torn fragment is closed off
///   with a newline before the next event, so it can never run into a
///   following line; a reader sees a line that is not valid JSON, never a
///   wrong event.
///
/// The write happens on the calling task: one append into the page cache
/// costs a few microseconds, less than handing it to another thread.
///
/// Clones share one open file.
///
/// # Example
///
/// ```
/// use rtb_telemetry::{Event, FileSink, TelemetrySink};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("nested/events.jsonl");
/// let sink = FileSink::new(&path);
/// assert!(!path.exists()); // nothing happens until the first event
///
/// sink.emit(&Event::new("build", "mytool", "1.0.0", "00".repeat(32))).await?;
/// let text = std::fs::read_to_string(&path).unwrap();
/// assert_eq!(text.lines().count(), 1);
/// # Ok::<(), rtb_telemetry::TelemetryError>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct FileSink {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Opened at the first emit; kept open after.
    file: Option<File>,
    /// The last write was cut short: the file ends in a fragment of a line.
    torn: bool,
}

impl FileSink {
    /// A sink that will append to `path`. Touches nothing on disk.
    ///
    /// # Example
    ///
    /// ```
    /// let sink = rtb_telemetry::FileSink::new("/tmp/mytool/events.jsonl");
    /// assert_eq!(sink.path(), std::path::Path::new("/tmp/mytool/events.jsonl"));
    /// ```
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Inner {
                path: path.into(),
                state: Mutex::default(),
            }),
        }
    }

    /// The file this sink appends to.
    ///
    /// # Example
    ///
    /// ```
    /// let sink = rtb_telemetry::FileSink::new("events.jsonl");
    /// assert_eq!(sink.path().to_str(), Some("events.jsonl"));
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing in the critical section can leave `State` inconsistent.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn err(&self, action: &'static str, source: io::Error) -> TelemetryError {
        TelemetryError::io(action, &self.inner.path, source)
    }

    fn open(&self) -> Result<File, TelemetryError> {
        let path = &self.inner.path;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .map_err(|e| self.err("create the parent directory of", e))?;
        }
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o644);
        options.open(path).map_err(|e| self.err("open", e))
    }

    /// Appends `line` (which ends in `\n`) with one write.
    fn append(&self, line: &mut Vec<u8>) -> Result<(), TelemetryError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let file = match &mut state.file {
            Some(file) => file,
            slot @ None => slot.insert(self.open()?),
        };
        let torn = &mut state.torn;
        if *torn {
            line.insert(0, b'\n');
        }
        let mut written = 0;
        while written < line.len() {
            match file.write(&line[written..]) {
                Ok(0) => {
                    *torn |= written > 0;
                    return Err(self.err("write to", io::ErrorKind::WriteZero.into()));
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    *torn |= written > 0;
                    return Err(self.err("write to", e));
                }
            }
        }
        *torn = false;
        Ok(())
    }
}

impl TelemetrySink for FileSink {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        let mut line = Vec::with_capacity(256);
        serde_json::to_writer(&mut line, event).map_err(|e| TelemetryError::Serde {
            event: event.name.clone(),
            message: e.to_string(),
        })?;
        line.push(b'\n');
        self.append(&mut line)
    }
}
