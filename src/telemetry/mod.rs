//! The one call a command-line tool makes: [`Telemetry`]. A thin facade
//! over the typed core: the consent store gives the context, [`Redact`]
//! scrubs, and the events go to a spool (a collector) or a local file.
//!
//! - `mod.rs`: the handle, and recording;
//! - `setup.rs`: the builder and `init`;
//! - `status.rs`: the `telemetry` verbs and `status`;
//! - `uploader.rs`: the detached uploader process.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
#[cfg(feature = "http")]
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::consent::ConsentStore;
use crate::delivery::Defaults;
use crate::{Env, Event, FileSink, Redact, RuntimePolicy, TelemetryContext, TelemetryError};
use crate::{TelemetrySink, ToolSink};

#[cfg(feature = "clap")]
mod parse;
mod setup;
mod status;
#[cfg(feature = "http")]
mod uploader;

#[cfg(feature = "clap")]
pub use parse::Parsed;
pub use setup::TelemetryBuilder;

/// Telemetry for a command-line tool, set up by one builder chain in
/// `main()`: consent, kill switches, the first-run notice, the destination,
/// a local spool, a detached uploader, redaction and debug mode.
///
/// It never returns an error to the host tool: anything wrong — no home
/// directory, an unreadable consent file, a malformed endpoint, a full
/// disk — means telemetry is off (or kept local), with the reason in
/// [`status`](Self::status) (`telemetry status`) and, in debug mode
/// (`<TOOL>_TELEMETRY_DEBUG=1`), on stderr.
///
/// **Local-first.** Recording is synchronous and touches only local disk:
/// with a collector configured, each event is appended to a spool in the
/// tool's data directory and the command goes on. When an upload is due
/// (at most once a minute by default while the collector answers; after a
/// failure, after a backoff growing from a minute to an hour), the run
/// starts the tool again as a detached uploader: no terminal, null standard
/// streams and no other descriptor of its host, the root directory as its
/// working directory, a process group of its own. It waits for the command
/// to end, sends everything spooled (this and earlier runs' events) in as
/// few requests as the batch bounds allow (512 events, 1 MiB), and exits
/// within 25 s whatever the network does. Nothing is lost offline: events
/// wait in the spool (up to 10 MiB and 30 days by default). Each event
/// carries an id and each request an `Idempotency-Key`, both the same on
/// every retry.
///
/// Because the uploader is the tool itself, **`init()` must be the first
/// thing `main` does**, before parsing arguments or doing any work: in a
/// process started as the uploader (the crate starts it with a single
/// argument of its own, `--rtb-telemetry-uploader`), `init()` uploads and
/// exits, and never returns into the tool.
///
/// # Example
///
/// ```no_run
/// use rtb_telemetry::Telemetry;
///
/// fn main() {
///     let telemetry = Telemetry::builder("mytool", env!("CARGO_PKG_VERSION"))
///         .salt("mytool-telemetry-v1")
///         .notice(1, "mytool can send anonymous usage data; `mytool telemetry enable` opts in.")
///         .endpoint("https://telemetry.example.com/v1/events")
///         .init();
///     // … parse arguments, then:
///     let result = telemetry.time("build", || -> Result<(), String> { Ok(()) });
///     # let _ = result;
/// }
/// ```
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    tool: String,
    /// How users type the verbs (see `TelemetryBuilder::verbs_as`).
    verbs: Option<String>,
    /// The notice `init()` left to [`Telemetry::show_notice`].
    notice: Option<(u32, String)>,
    salt: String,
    prefix: String,
    env: Env,
    defaults: Defaults,
    /// `None` when there is nowhere to keep a decision (no home directory).
    store: Option<ConsentStore>,
    /// Why telemetry is off or degraded, one line each.
    problems: Vec<String>,
    /// Present only when telemetry is on.
    recorder: Option<Recorder>,
    #[cfg(feature = "http")]
    detached: bool,
    #[cfg(feature = "http")]
    bounds: Bounds,
}

/// The spool's bounds and the upload interval.
#[cfg(feature = "http")]
#[derive(Debug, Clone, Copy)]
struct Bounds {
    max_bytes: u64,
    max_age: Duration,
    interval: Duration,
}

/// The context every event goes through.
type Context = TelemetryContext<Redact<ToolSink<Local>>, RuntimePolicy>;

/// What an enabled handle records with.
struct Recorder {
    context: Context,
    debug: bool,
    /// Whether this process has looked at the upload schedule yet.
    #[cfg(feature = "http")]
    looked: AtomicBool,
}

/// Where a tool's events are kept: a local file when there is no
/// collector, else the spool.
pub(crate) enum Local {
    /// No collector: a JSON Lines file in a private directory.
    File(Box<LocalFile>),
    /// A collector: the spool, then the uploader.
    #[cfg(feature = "http")]
    Spool(Box<crate::spool::SpoolSink>),
}

impl TelemetrySink for Local {
    async fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        match self {
            Self::File(file) => file.emit(event),
            #[cfg(feature = "http")]
            Self::Spool(spool) => spool.emit(event).await,
        }
    }
}

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
    ready: std::sync::Mutex<Option<Result<(), String>>>,
}

impl LocalFile {
    fn new(sink: FileSink, store: ConsentStore, salt: String) -> Self {
        Self {
            sink,
            store,
            salt,
            ready: std::sync::Mutex::new(None),
        }
    }

    fn emit(&self, event: &Event) -> Result<(), TelemetryError> {
        let ready = {
            let mut ready = self
                .ready
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
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
            let Some(_on) = self
                .store
                .still_on(std::time::Duration::from_millis(100), &self.salt)
            else {
                return Err(off());
            };
            crate::background::block_on(self.sink.emit(&crate::event::bounded_copy(event)))
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

impl Telemetry {
    /// Starts the setup for `tool` at `tool_version` (usually
    /// `env!("CARGO_PKG_VERSION")`).
    pub fn builder(tool: &str, tool_version: &str) -> TelemetryBuilder {
        TelemetryBuilder::new(tool, tool_version)
    }

    /// Shows the notice set with [`notice`](TelemetryBuilder::notice) and
    /// [`defer_notice`](TelemetryBuilder::defer_notice), under the same
    /// rules as `init()` would have (once per version, on a terminal, never
    /// in CI or under an off switch, only to a user who has not decided):
    /// `true` when it was shown. Call it where a person typed the command.
    #[expect(
        clippy::must_use_candidate,
        reason = "called for what it shows; whether it did is for the curious"
    )]
    pub fn show_notice(&self) -> bool {
        let (Some(store), Some((version, text))) = (&self.inner.store, &self.inner.notice) else {
            return false;
        };
        store.show_notice_once(*version, text).unwrap_or(false)
    }

    /// `true` when events are being collected.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.inner.recorder().is_some()
    }

    /// Records an event named `name` (typically the command that ran).
    /// Synchronous, needs no runtime, touches only local disk, never fails:
    /// a problem is counted and shown in debug mode.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::{Env, Telemetry, consent::ConsentStore};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (file, data) = (dir.path().join("c.json"), dir.path().join("d"));
    /// # ConsentStore::at("mytool", &file, &data).enable().unwrap();
    /// # let telemetry = Telemetry::builder("mytool", "1.0.0")
    /// #     .env(Env::from_vars::<_, &str, &str>([]))
    /// #     .paths(&file, &data)
    /// #     .init();
    /// telemetry.record("build");
    /// assert!(data.join("events.jsonl").exists()); // no collector: a local file
    /// ```
    pub fn record(&self, name: &str) {
        self.record_with_attrs(name, std::iter::empty::<(String, String)>());
    }

    /// Records an event with attributes. The name, the keys and the values
    /// pass through the default redaction ([`Redact`]) and are cut to
    /// [`Event::MAX_ATTR_VALUE_BYTES`]; still, pass nothing that identifies
    /// a person.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::{Env, Telemetry, consent::ConsentStore};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (file, data) = (dir.path().join("c.json"), dir.path().join("d"));
    /// # ConsentStore::at("mytool", &file, &data).enable().unwrap();
    /// # let telemetry = Telemetry::builder("mytool", "1.0.0")
    /// #     .env(Env::from_vars::<_, &str, &str>([]))
    /// #     .paths(&file, &data)
    /// #     .init();
    /// telemetry.record_with_attrs("build", [("error", "cannot open /home/ada/x")]);
    /// let line = std::fs::read_to_string(data.join("events.jsonl")).unwrap();
    /// assert!(line.contains("cannot open [path]"));
    /// ```
    pub fn record_with_attrs<K, V>(&self, name: &str, attrs: impl IntoIterator<Item = (K, V)>)
    where
        K: Into<String>,
        V: Into<String>,
    {
        let Some(recorder) = self.inner.recorder() else {
            return;
        };
        let attrs: HashMap<String, String> = attrs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let outcome = crate::background::block_on(recorder.context.record_with_attrs(name, attrs));
        if let Err(e) = outcome {
            self.debug_problem(&e.one_line());
        }
        #[cfg(feature = "http")]
        self.after_record(recorder);
    }

    /// Times `work`, then records `name` with `duration_ms` (milliseconds,
    /// three decimals) and `outcome` (`ok` when `work` returned `Ok`, else
    /// `error`), and returns what `work` returned. For attrs of the timed
    /// event or another idea of success, see [`timed`](Self::timed).
    ///
    /// The event it records, as a line of the local file:
    ///
    /// ```json
    /// {"name":"build","tool":"mytool","tool_version":"1.0.0","machine_id":"<64 hex>","timestamp_utc":"2026-11-30T12:00:00.000000Z","attrs":{"duration_ms":"12.345","outcome":"ok"}}
    /// ```
    ///
    /// # Errors
    ///
    /// `work`'s own error, untouched.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::{Env, Telemetry, consent::ConsentStore};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (file, data) = (dir.path().join("c.json"), dir.path().join("d"));
    /// # ConsentStore::at("mytool", &file, &data).enable().unwrap();
    /// # let telemetry = Telemetry::builder("mytool", "1.0.0")
    /// #     .env(Env::from_vars::<_, &str, &str>([]))
    /// #     .paths(&file, &data)
    /// #     .init();
    /// let built: Result<u32, String> = telemetry.time("build", || Ok(42));
    /// assert_eq!(built, Ok(42));
    /// let line = std::fs::read_to_string(data.join("events.jsonl")).unwrap();
    /// assert!(line.contains(r#""outcome":"ok""#) && line.contains("duration_ms"));
    /// ```
    pub fn time<T, E>(&self, name: &str, work: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        self.timed(name).run(work)
    }

    /// [`time`](Self::time) for async work.
    ///
    /// # Errors
    ///
    /// `work`'s own error, untouched.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::{Env, Telemetry, consent::ConsentStore};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (file, data) = (dir.path().join("c.json"), dir.path().join("d"));
    /// # ConsentStore::at("mytool", &file, &data).enable().unwrap();
    /// # let telemetry = Telemetry::builder("mytool", "1.0.0")
    /// #     .env(Env::from_vars::<_, &str, &str>([]))
    /// #     .paths(&file, &data)
    /// #     .init();
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let fetched: Result<(), String> = telemetry.time_async("fetch", async { Ok(()) }).await;
    /// assert!(fetched.is_ok());
    /// # });
    /// ```
    pub async fn time_async<T, E>(
        &self,
        name: &str,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let start = Instant::now();
        let result = work.await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.timed(name).finish(start.elapsed(), outcome.to_owned());
        result
    }

    /// A timed event with more to say than [`time`](Self::time): attrs of
    /// its own, and what counts as success (`ok`, `error`, or anything
    /// else the tool decides: a broken pipe that the tool treats as
    /// success, an exit code).
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::{Env, Telemetry, consent::ConsentStore};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (file, data) = (dir.path().join("c.json"), dir.path().join("d"));
    /// # ConsentStore::at("mytool", &file, &data).enable().unwrap();
    /// # let telemetry = Telemetry::builder("mytool", "1.0.0")
    /// #     .env(Env::from_vars::<_, &str, &str>([]))
    /// #     .paths(&file, &data)
    /// #     .init();
    /// use std::io;
    ///
    /// let dumped: io::Result<()> = telemetry
    ///     .timed("dump")
    ///     .attr("mode", "hex")
    ///     // `| head -1` closes the pipe: the tool calls that success.
    ///     .outcome(|result: &io::Result<()>| match result {
    ///         Err(e) if e.kind() != io::ErrorKind::BrokenPipe => "error",
    ///         _ => "ok",
    ///     })
    ///     .run(|| Err(io::ErrorKind::BrokenPipe.into()));
    /// assert!(dumped.is_err());
    /// let line = std::fs::read_to_string(data.join("events.jsonl")).unwrap();
    /// assert!(line.contains(r#""mode":"hex""#) && line.contains(r#""outcome":"ok""#));
    /// ```
    #[must_use = "nothing is timed until `.run(..)`"]
    pub fn timed(&self, name: &str) -> Timed<'_> {
        Timed {
            telemetry: self,
            name: name.to_owned(),
            attrs: Vec::new(),
        }
    }

    fn debug_problem(&self, problem: &str) {
        if self.inner.recorder().is_some_and(|r| r.debug) {
            eprintln_best_effort(&format!("{}: telemetry: {problem}", self.inner.tool));
        }
    }
}

fn eprintln_best_effort(line: &str) {
    crate::fs::to_stderr(format!("{line}\n").as_bytes());
}

/// A timed event being set up: see [`Telemetry::timed`]. Its `Debug`
/// shows the attrs' keys, never their values (they are scrubbed only when
/// recorded).
pub struct Timed<'a> {
    telemetry: &'a Telemetry,
    name: String,
    attrs: Vec<(String, String)>,
}

impl fmt::Debug for Timed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.attrs.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Timed")
            .field("name", &self.name)
            .field("attr_keys", &keys)
            .finish_non_exhaustive()
    }
}

/// A [`Timed`] event that decides its outcome with `F`.
pub struct TimedWith<'a, F> {
    timed: Timed<'a>,
    outcome: F,
}

impl<F> fmt::Debug for TimedWith<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimedWith")
            .field("timed", &self.timed)
            .finish_non_exhaustive()
    }
}

impl<'a> Timed<'a> {
    /// An attr of the timed event (scrubbed like every attr).
    #[must_use]
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attrs.push((key.into(), value.into()));
        self
    }

    /// What `work`'s result says of the outcome: the `outcome` attr's value.
    #[must_use]
    pub fn outcome<T, O: Into<String>, F: FnOnce(&T) -> O>(self, outcome: F) -> TimedWith<'a, F> {
        TimedWith {
            timed: self,
            outcome,
        }
    }

    /// Runs `work`, timed; the outcome is `ok` for `Ok`, else `error`.
    ///
    /// # Errors
    ///
    /// `work`'s own error, untouched.
    pub fn run<T, E>(self, work: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let start = Instant::now();
        let result = work();
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.finish(start.elapsed(), outcome.to_owned());
        result
    }

    fn finish(self, elapsed: Duration, outcome: String) {
        if self.telemetry.inner.recorder().is_none() {
            return;
        }
        let mut attrs = self.attrs;
        attrs.push(("duration_ms".to_owned(), milliseconds(elapsed)));
        attrs.push(("outcome".to_owned(), outcome));
        self.telemetry.record_with_attrs(&self.name, attrs);
    }
}

impl<F> TimedWith<'_, F> {
    /// Runs `work`, timed, and records the outcome the closure gives for
    /// its result.
    pub fn run<T, O: Into<String>>(self, work: impl FnOnce() -> T) -> T
    where
        F: FnOnce(&T) -> O,
    {
        let start = Instant::now();
        let result = work();
        let elapsed = start.elapsed();
        let outcome = (self.outcome)(&result).into();
        self.timed.finish(elapsed, outcome);
        result
    }
}

/// Milliseconds with three decimals (microseconds): `0.042`, `12.345`.
fn milliseconds(elapsed: Duration) -> String {
    let micros = elapsed.as_micros();
    format!("{}.{:03}", micros / 1000, micros % 1000)
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("tool", &self.inner.tool)
            .field("enabled", &self.is_enabled())
            .field("problems", &self.inner.problems)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// The recorder, when telemetry is on; never in a build without
    /// telemetry (a constant, so everything behind it — recording,
    /// the spool, the uploader, the HTTP client — is left out of the
    /// binary).
    fn recorder(&self) -> Option<&Recorder> {
        if crate::consent::switches::BUILD_DISABLED {
            return None;
        }
        self.recorder.as_ref()
    }

    /// The spool, with this handle's bounds.
    #[cfg(feature = "http")]
    fn spool(&self, store: &ConsentStore) -> crate::spool::Spool {
        let mut spool = crate::spool::Spool::new(store.data_dir());
        spool.max_bytes = self.bounds.max_bytes;
        spool.max_age = self.bounds.max_age;
        spool.interval = self.bounds.interval;
        spool
    }
}
