use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::{Event, TelemetryError, TelemetrySink};

/// A sink that appends events to a file as JSON Lines.
///
/// - [`FileSink::new`] touches nothing on disk. The first `emit` creates the
///   parent directories and the file (mode `0644` on Unix, less whatever the
///   process umask removes) and keeps it open, in append mode.
/// - It never follows a symlink at its path and never blocks opening it: a
///   symlink, FIFO, socket or device there is an error that names the path
///   (checked on the opened handle), so another local user cannot make it
///   write into their file or hang the tool.
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
/// costs a few microseconds, less than handing it to another thread (see
/// `docs/benchmarks.md`). [`FileSink::buffered`] gathers events and writes
/// many lines at once, for tools that record a lot.
///
/// Clones share one open file (and, when buffered, one buffer).
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
    /// Bytes to gather before writing; 0 means write-through.
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Opened at the first write; kept open after.
    file: Option<File>,
    /// The last write was cut short: the file ends in a fragment of a line.
    torn: bool,
    /// Whole lines not yet written. Reused, so the steady state allocates
    /// nothing here.
    buf: Vec<u8>,
}

impl FileSink {
    /// A write-through sink that will append to `path`. Touches nothing on
    /// disk.
    ///
    /// # Example
    ///
    /// ```
    /// let sink = rtb_telemetry::FileSink::new("/tmp/mytool/events.jsonl");
    /// assert_eq!(sink.path(), std::path::Path::new("/tmp/mytool/events.jsonl"));
    /// ```
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::with_capacity(path.into(), 0)
    }

    /// A buffered sink: events are gathered in memory and written, whole
    /// lines only and with one `write(2)`, when `capacity` bytes have built
    /// up, at [`flush`](TelemetrySink::flush), and (best effort) when the last
    /// clone is dropped. Touches nothing on disk until then.
    ///
    /// Use it for tools that record many events per run; `flush` before
    /// exit. After `flush` returns `Ok`, every event accepted so far is on
    /// disk. Up to `capacity` bytes of events are lost if the process is
    /// killed before that.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{Event, FileSink, TelemetrySink};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("events.jsonl");
    /// let sink = FileSink::buffered(&path, 64 * 1024);
    /// sink.emit(&Event::new("build", "mytool", "1.0.0", "00".repeat(32))).await?;
    /// assert!(!path.exists()); // still in memory
    /// sink.flush().await?;
    /// assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
    /// # Ok::<(), rtb_telemetry::TelemetryError>(()) }).unwrap();
    /// ```
    #[must_use]
    pub fn buffered(path: impl Into<PathBuf>, capacity: usize) -> Self {
        Self::with_capacity(path.into(), capacity.max(1))
    }

    fn with_capacity(path: PathBuf, capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                path,
                capacity,
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
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves `State` consistent between calls.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn err(&self, action: &'static str, source: io::Error) -> TelemetryError {
        TelemetryError::io(action, &self.path, source)
    }

    fn open(&self) -> Result<File, TelemetryError> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .map_err(|e| self.err("create the parent directory of", e))?;
        }
        crate::fs::open_append(&self.path, 0o644).map_err(|e| self.err("open", e))
    }

    /// Writes `state.buf` (whole lines) to the file. On error the lines not
    /// written in full stay in `buf`; a line cut short is kept whole and the
    /// file is marked torn, so the next write first ends the fragment.
    fn write_out(&self, state: &mut State) -> Result<(), TelemetryError> {
        self.write_out_within(state, crate::fs::LIMIT_PATIENCE)
    }

    /// [`write_out`](Self::write_out), waiting at most `patience` for the
    /// file's lock.
    fn write_out_within(
        &self,
        state: &mut State,
        patience: Duration,
    ) -> Result<(), TelemetryError> {
        if state.buf.is_empty() {
            return Ok(());
        }
        let file = match &mut state.file {
            Some(file) => file,
            slot @ None => slot.insert(self.open()?),
        };
        // The file is locked while it is written, by every writer: under a
        // file-size limit (`ulimit -f`), a write past it would end the
        // process, so its size is checked with the lock held, and no other
        // process's append (limited or not) can land in between.
        let _held = crate::fs::hold(file, patience).map_err(|e| self.err("lock", e))?;
        if crate::fs::size_limit().is_some() {
            let at = file.metadata().map_err(|e| self.err("inspect", e))?.len();
            crate::fs::fits(at, state.buf.len() + usize::from(state.torn))
                .map_err(|e| self.err("write to", e))?;
        }
        if state.torn {
            // One byte on its own: the fragment must end before any line.
            write_all(file, b"\n").map_err(|(_, e)| self.err("write to", e))?;
            state.torn = false;
        }
        match write_all(file, &state.buf) {
            Ok(()) => {
                state.buf.clear();
                Ok(())
            }
            Err((written, e)) => {
                let line_start = state.buf[..written]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                state.torn = written > line_start;
                state.buf.drain(..line_start);
                Err(self.err("write to", e))
            }
        }
    }
}

/// `Write::write_all`, but reporting how much was written before an error.
fn write_all(mut file: &File, bytes: &[u8]) -> Result<(), (usize, io::Error)> {
    let mut written = 0;
    while written < bytes.len() {
        match file.write(&bytes[written..]) {
            Ok(0) => return Err((written, io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((written, e)),
        }
    }
    Ok(())
}

impl FileSink {
    /// Appends `line` (one JSON line, `\n` included) at once, with what is
    /// buffered: a report, in report mode without a collector.
    pub(crate) fn append_line(&self, line: &[u8]) -> Result<(), TelemetryError> {
        let inner = &*self.inner;
        let mut guard = inner.lock();
        let state = &mut *guard;
        state.buf.extend_from_slice(line);
        let result = inner.write_out(state);
        if result.is_err() {
            // Not accepted: the caller keeps the report to try again.
            let keep = state.buf.len().saturating_sub(line.len());
            state.buf.truncate(keep);
        }
        result
    }

    /// Writes `events` at once for a panic hook, if no other thread writes
    /// past `deadline` (`None`: one does, and nothing was written) and the
    /// file's lock is free before it. Anything buffered goes with it.
    pub(crate) fn write_from_hook(
        &self,
        events: &[Event],
        deadline: std::time::Instant,
    ) -> Option<Result<(), TelemetryError>> {
        let left = || deadline.saturating_duration_since(std::time::Instant::now());
        let inner = &*self.inner;
        let mut guard = crate::fs::try_mutex(&inner.state, left())?;
        let state = &mut *guard;
        let mark = state.buf.len();
        for event in events {
            if let Err(e) = crate::event::write_json_line(&mut state.buf, event) {
                state.buf.truncate(mark);
                return Some(Err(TelemetryError::serde(
                    format_args!("event `{}`", event.name),
                    e,
                )));
            }
        }
        let result = inner.write_out_within(state, left());
        if result.is_err() {
            state.buf.truncate(mark);
        }
        Some(result)
    }
}

impl TelemetrySink for FileSink {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        let inner = &*self.inner;
        let mut guard = inner.lock();
        let state = &mut *guard;
        let mark = state.buf.len();
        if let Err(e) = crate::event::write_json_line(&mut state.buf, event) {
            state.buf.truncate(mark);
            return Err(TelemetryError::serde(
                format_args!("event `{}`", event.name),
                e,
            ));
        }
        if state.buf.len() < inner.capacity {
            return Ok(()); // buffered: accepted
        }
        let line_len = state.buf.len() - mark;
        let result = inner.write_out(state);
        if result.is_err() {
            // This event is not accepted (the caller sees the error); lines
            // accepted before it stay buffered for the next write. In
            // write-through mode there are none.
            let keep = state.buf.len().saturating_sub(line_len);
            state.buf.truncate(keep);
        }
        result
    }

    /// Writes buffered lines, then asks the OS to put the file's data on disk
    /// (`fsync`). After `Ok`, every accepted event is on disk.
    async fn flush(&self) -> Result<(), TelemetryError> {
        let inner = &*self.inner;
        let mut state = inner.lock();
        inner.write_out(&mut state)?;
        match &state.file {
            Some(file) => file.sync_data().map_err(|e| inner.err("sync", e)),
            None => Ok(()), // nothing was ever written
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Best effort: a buffered sink dropped without `flush` still writes
        // what it holds. Nobody is left to report an error to.
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        let mut state = std::mem::take(state);
        let _ = self.write_out(&mut state);
    }
}
