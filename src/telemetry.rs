//! The one call a command-line tool makes: [`Telemetry`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::consent::{
    CommandReport, ConsentStore, PolicySource, StatusReport, TelemetryCommand, env_prefix,
};
use crate::delivery::{self, Defaults, Target};
use crate::record::Record;
use crate::redact::Scrubber;
use crate::spool::{Appended, Spool, Writer};
use crate::{DebugSink, Env, Event, FileSink, MachineId, TelemetryError, TelemetrySink};

/// How long a detached uploader may live, whatever the network does.
const UPLOADER_LIFETIME: Duration = Duration::from_secs(25);
/// How long one upload may take (the rest of the lifetime is margin).
#[cfg(feature = "http")]
const UPLOAD_BUDGET: Duration = Duration::from_secs(20);

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
/// with a collector configured, each event is appended to a spool file in
/// the tool's data directory and the command goes on. After the first
/// event, the tool re-executes itself as a detached child (the marker
/// variable `<TOOL>_TELEMETRY_UPLOADER` set to a random key kept in the
/// spool, no terminal, standard streams closed, a process group of its own) that waits for the command to end,
/// uploads what earlier and this run spooled, and exits within 25 s
/// whatever the network does; at most one uploader runs per tool and
/// machine. Nothing is lost offline: events wait in the spool (up to 10 MiB
/// and 30 days by default) and go with the next run that reaches the
/// collector. Each event carries an id and each request an
/// `Idempotency-Key`, both the same on every retry.
///
/// Because the uploader is the tool itself, **`init()` must be the first
/// thing `main` does**, before parsing arguments or doing any work: in the
/// uploader, `init()` uploads and exits.
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
    salt: String,
    prefix: String,
    env: Env,
    defaults: Defaults,
    /// `None` when there is nowhere to keep a decision (no home directory).
    store: Option<ConsentStore>,
    /// Why telemetry is off or degraded, one line each.
    problems: Vec<String>,
    collector: Option<Collector>,
    detached: bool,
    spool_bounds: (u64, Duration),
}

/// What an enabled handle needs to record.
struct Collector {
    tool_version: String,
    machine_id: String,
    /// Compiled at the first attr that needs it: a run that records no
    /// free text never pays for the regular expression.
    scrubber: OnceLock<Scrubber>,
    debug: bool,
    mode: Mode,
    spool: Spool,
    writer: Mutex<Option<Writer>>,
    spawned: AtomicBool,
    /// The local file's directory was created (`Mode::File`).
    dir_ready: AtomicBool,
    dropped: AtomicU64,
}

enum Mode {
    /// Debug mode: each event to stderr, nothing written or sent.
    Debug,
    /// No collector: a local JSON Lines file.
    File(FileSink),
    /// A collector: the spool, then the uploader.
    #[cfg_attr(not(feature = "http"), allow(dead_code, reason = "needs a collector"))]
    Spool,
}

/// Configures [`Telemetry`]; start with [`Telemetry::builder`], finish with
/// [`init`](Self::init).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use rtb_telemetry::{Env, Telemetry};
///
/// # let dir = tempfile::tempdir().unwrap();
/// let telemetry = Telemetry::builder("mytool", "1.0.0")
///     .salt("mytool-telemetry-v1")
///     .notice(1, "mytool can send anonymous usage data: `mytool telemetry enable`.")
///     .endpoint("https://telemetry.example.com/v1/events")
///     .spool_limits(1024 * 1024, Duration::from_secs(7 * 24 * 3600))
///     // For tests: a fixed environment and paths of your own.
///     .env(Env::from_vars::<_, &str, &str>([]))
///     .paths(dir.path().join("telemetry.json"), dir.path().join("data"))
///     .init();
/// assert!(!telemetry.is_enabled()); // nobody has opted in
/// ```
#[must_use = "nothing is set up until `.init()`"]
#[derive(Debug)]
pub struct TelemetryBuilder {
    tool: String,
    tool_version: String,
    salt: Option<String>,
    notice: Option<(u32, String)>,
    defaults: Defaults,
    env: Env,
    paths: Option<(PathBuf, PathBuf)>,
    detached: bool,
    spool_bounds: (u64, Duration),
}

impl Telemetry {
    /// Starts the setup for `tool` at `tool_version` (usually
    /// `env!("CARGO_PKG_VERSION")`).
    pub fn builder(tool: &str, tool_version: &str) -> TelemetryBuilder {
        TelemetryBuilder {
            tool: tool.to_owned(),
            tool_version: tool_version.to_owned(),
            salt: None,
            notice: None,
            defaults: Defaults::default(),
            env: Env::process(),
            paths: None,
            detached: true,
            spool_bounds: (
                crate::spool::DEFAULT_MAX_BYTES,
                crate::spool::DEFAULT_MAX_AGE,
            ),
        }
    }

    /// `true` when events are being collected.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.inner.collector.is_some()
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

    /// Records an event with attributes. Their values pass through the
    /// default redaction ([`Scrubber`]) and are cut to
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
        let Some(collector) = &self.inner.collector else {
            return;
        };
        let attrs: HashMap<String, String> = attrs
            .into_iter()
            .map(|(k, v)| {
                let scrubber = collector
                    .scrubber
                    .get_or_init(|| Scrubber::new(&crate::redact::current_user_names()));
                (k.into(), scrubber.scrub_value(v.into()))
            })
            .collect();
        self.record_clean(collector, name, attrs);
    }

    /// Records attrs that need no scrubbing (the crate's own).
    fn record_clean(&self, collector: &Collector, name: &str, attrs: HashMap<String, String>) {
        let event = Event::with_attrs(
            name.to_owned(),
            self.inner.tool.clone(),
            collector.tool_version.clone(),
            collector.machine_id.clone(),
            attrs,
        );
        if let Err(e) = self.deliver(collector, &event) {
            self.debug_problem(&e.one_line());
        }
    }

    fn deliver(&self, collector: &Collector, event: &Event) -> Result<(), TelemetryError> {
        match &collector.mode {
            Mode::Debug => crate::background::block_on(DebugSink.emit(event)),
            Mode::File(sink) => {
                // Once per process: the directory is private before the
                // sink's first open creates anything in it.
                if !collector.dir_ready.load(Ordering::Acquire)
                    && let Some(dir) = sink.path().parent()
                {
                    crate::fs::create_private_dir_all(dir)
                        .map_err(|e| TelemetryError::io("create", dir, e))?;
                    collector.dir_ready.store(true, Ordering::Release);
                }
                crate::background::block_on(sink.emit(&crate::event::bounded_copy(event)))
            }
            Mode::Spool => {
                let record = Record::new(event);
                let appended = {
                    let mut writer = collector
                        .writer
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    let writer = match &mut *writer {
                        Some(writer) => writer,
                        slot @ None => slot.insert(collector.spool.writer()?),
                    };
                    writer.append(&record)?
                };
                if appended == Appended::Full {
                    let n = collector.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    // Counted in the state file now and then, not every
                    // time, and never waiting long for its lock.
                    if n == 1 || n.is_multiple_of(100) {
                        let add = if n == 1 { 1 } else { 100 };
                        collector
                            .spool
                            .update_state(Duration::from_millis(50), |s| {
                                s.dropped_full = s.dropped_full.saturating_add(add);
                            });
                        let max = collector.spool.max_bytes;
                        self.debug_problem(&format!(
                            "the spool is full ({max} bytes); new events are dropped and \
                             counted until the collector takes the backlog"
                        ));
                    }
                }
                // Full or not: a full spool drains only if an uploader runs.
                if self.inner.detached && !collector.spawned.swap(true, Ordering::AcqRel) {
                    self.spawn_uploader(&collector.spool)?;
                }
                Ok(())
            }
        }
    }

    /// Times `work`, then records `name` with `duration_ms` and `outcome`
    /// (`ok` or `error`), and returns what `work` returned.
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
        let start = Instant::now();
        let result = work();
        self.record_timed(name, start.elapsed(), result.is_ok());
        result
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
        self.record_timed(name, start.elapsed(), result.is_ok());
        result
    }

    fn record_timed(&self, name: &str, elapsed: Duration, ok: bool) {
        if let Some(collector) = &self.inner.collector {
            // Digits and `ok`/`error`: nothing to scrub.
            let attrs = HashMap::from([
                ("duration_ms".to_owned(), elapsed.as_millis().to_string()),
                (
                    "outcome".to_owned(),
                    (if ok { "ok" } else { "error" }).to_owned(),
                ),
            ]);
            self.record_clean(collector, name, attrs);
        }
    }

    /// Runs a `telemetry` verb (see [`TelemetryCommand`], a ready clap
    /// subcommand with the `clap` feature) and says what to print. Never
    /// fails: print the report and exit 0.
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
    /// use rtb_telemetry::consent::TelemetryCommand;
    ///
    /// let report = telemetry.command(TelemetryCommand::Disable);
    /// assert!(report.to_string().contains("telemetry: disabled"));
    /// ```
    #[must_use]
    pub fn command(&self, verb: TelemetryCommand) -> CommandReport {
        let inner = &*self.inner;
        if let Some(store) = &inner.store {
            let destination = self.destination();
            return verb.execute(store, &inner.salt, &destination.0, &|status| {
                self.decorate(status, &destination.1);
            });
        }
        let status = self.status();
        let tool = &inner.tool;
        let why = &inner.problems.join("; ");
        match verb {
            TelemetryCommand::Status => CommandReport::text(status.to_string()),
            TelemetryCommand::Enable => CommandReport::failed(
                format!("{tool}: `telemetry enable` did not succeed: {why}\n{status}"),
                TelemetryError::config(
                    format!("{tool} has nowhere to keep a decision: {why}"),
                    "set HOME (or the platform's equivalent); until then telemetry stays off",
                ),
            ),
            TelemetryCommand::Disable | TelemetryCommand::Reset => {
                CommandReport::text(format!("{tool}: nothing to change: {why}\n{status}"))
            }
        }
    }

    /// What `telemetry status` shows: on or off and who decided, the id,
    /// where events go, events waiting, the last upload and its error, and
    /// every problem.
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
    /// let status = telemetry.status();
    /// assert!(status.enabled);
    /// assert!(status.to_string().contains("kept on this machine"));
    /// ```
    #[must_use]
    pub fn status(&self) -> StatusReport {
        let inner = &*self.inner;
        match &inner.store {
            Some(store) => {
                let destination = self.destination();
                let mut status = StatusReport::new(store, &inner.salt, &destination.0);
                self.decorate(&mut status, &destination.1);
                status
            }
            None => StatusReport::unavailable(inner.problems.clone()),
        }
    }

    /// The destination as `status` shows it, and its problems. Reads the
    /// destination variables: only `status` and an enabled handle do.
    fn destination(&self) -> (String, Vec<String>) {
        let inner = &*self.inner;
        let Some(store) = &inner.store else {
            return (String::new(), Vec::new());
        };
        let resolved =
            delivery::resolve(&inner.prefix, &inner.env, &inner.defaults, store.data_dir());
        (resolved.target.describe(), resolved.problems)
    }

    fn decorate(&self, status: &mut StatusReport, destination_problems: &[String]) {
        let inner = &*self.inner;
        for problem in inner.problems.iter().chain(destination_problems) {
            if !status.problems.contains(problem) {
                status.problems.push(problem.clone());
            }
        }
        let Some(store) = &inner.store else { return };
        let spool = self.spool_for(store);
        if let Err(e) = spool.check_dir() {
            status.problems.push(e.one_line());
        }
        let waiting = spool.waiting();
        let state = spool.state();
        if waiting > 0 {
            status.delivery.push(format!(
                "waiting to be sent: {waiting} events in {}",
                spool.dir().display()
            ));
        }
        match (&state.last_attempt, &state.last_error) {
            (Some(at), Some(error)) => status
                .delivery
                .push(format!("last upload attempt: {at}, failed: {error}")),
            (Some(at), None) => status.delivery.push(format!(
                "last upload: {at} ({} events delivered in all)",
                state.delivered
            )),
            _ => {}
        }
        if state.dropped_full > 0 {
            status.delivery.push(format!(
                "dropped: {} events, because the spool was full",
                state.dropped_full
            ));
        }
        if state.expired > 0 {
            status.delivery.push(format!(
                "expired: {} events, older than {} days and never sent",
                state.expired,
                spool.max_age.as_secs() / 86_400
            ));
        }
        if state.skipped > 0 {
            status
                .delivery
                .push(format!("skipped: {} damaged spool lines", state.skipped));
        }
    }

    fn spool_for(&self, store: &ConsentStore) -> Spool {
        let mut spool = Spool::new(store.data_dir());
        (spool.max_bytes, spool.max_age) = self.inner.spool_bounds;
        spool
    }

    /// Uploads what the spool holds now, on the calling thread (blocking,
    /// at most about 20 s): for long-running programs, and for tests.
    /// Closes this process's spool file first, so it is included.
    ///
    /// # Errors
    ///
    /// When telemetry is off, no collector is configured, or the upload
    /// failed (the events stay spooled).
    ///
    /// # Example
    ///
    /// ```no_run
    /// let telemetry = rtb_telemetry::Telemetry::builder("mydaemon", "1.0.0")
    ///     .endpoint("https://telemetry.example.com/v1/events")
    ///     .detached_upload(false) // a long-running program uploads itself
    ///     .init();
    /// telemetry.record("tick");
    /// if let Ok(report) = telemetry.upload_now() {
    ///     println!("{} events delivered", report.delivered);
    /// }
    /// ```
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn upload_now(&self) -> Result<crate::UploadReport, TelemetryError> {
        let inner = &*self.inner;
        let (Some(store), Some(collector)) = (&inner.store, &inner.collector) else {
            return Err(TelemetryError::config(
                "telemetry is off, so there is nothing to upload",
                "enable telemetry first",
            ));
        };
        *collector
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        let resolved =
            delivery::resolve(&inner.prefix, &inner.env, &inner.defaults, store.data_dir());
        let Target::Remote(remote) = resolved.target else {
            return Err(TelemetryError::config(
                "no collector is configured; events are kept in a local file",
                "set the tool's endpoint, or the OTEL_EXPORTER_OTLP_* variables",
            ));
        };
        delivery::upload(&collector.spool, remote, Instant::now() + UPLOAD_BUDGET)
    }

    #[cfg_attr(
        not(feature = "http"),
        allow(
            clippy::unused_self,
            clippy::unnecessary_wraps,
            reason = "without the http feature there is nothing to upload"
        )
    )]
    fn spawn_uploader(&self, spool: &Spool) -> Result<(), TelemetryError> {
        #[cfg(feature = "http")]
        {
            let inner = &*self.inner;
            let key = spool.uploader_key(true).ok_or_else(|| {
                TelemetryError::io(
                    "keep the uploader's key in",
                    spool.dir(),
                    std::io::Error::other("the spool directory is not writable or not ours"),
                )
            })?;
            let exe = std::env::current_exe()
                .map_err(|e| TelemetryError::thread("find its own executable", Some(e)))?;
            let mut command = std::process::Command::new(exe);
            if let Some(vars) = inner.env.fixed_vars() {
                command.env_clear().envs(vars);
            }
            command
                .env(uploader_marker(&inner.prefix), key)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            #[cfg(unix)]
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
            let mut child = command
                .spawn()
                .map_err(|e| TelemetryError::thread("start its uploader process", Some(e)))?;
            // Reaped by a thread, so a long-lived host leaves no zombie; the
            // thread does not keep the host from exiting.
            let _ = std::thread::Builder::new()
                .name("rtb-telemetry-reaper".into())
                .spawn(move || {
                    let _ = child.wait();
                });
        }
        #[cfg(not(feature = "http"))]
        let _ = spool;
        Ok(())
    }

    fn debug_problem(&self, problem: &str) {
        if self.inner.collector.as_ref().is_some_and(|c| c.debug) {
            eprintln_best_effort(&format!("{}: telemetry: {problem}", self.inner.tool));
        }
    }
}

fn eprintln_best_effort(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn uploader_marker(prefix: &str) -> String {
    format!("{prefix}_TELEMETRY_UPLOADER")
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

impl TelemetryBuilder {
    /// The salt mixed into the machine id; one per tool, kept forever
    /// (default: `"<tool>-telemetry"`).
    pub fn salt(mut self, salt: impl Into<String>) -> Self {
        self.salt = Some(salt.into());
        self
    }

    /// The first-run notice: shown once per `version` on an interactive
    /// terminal (never in CI) to a user who has not decided yet.
    pub fn notice(mut self, version: u32, text: impl Into<String>) -> Self {
        self.notice = Some((version, text.into()));
        self
    }

    /// The collector events go to when the user has set none: JSON over
    /// HTTP(S). `<TOOL>_TELEMETRY_ENDPOINT` and the `OTEL_EXPORTER_OTLP_*`
    /// variables take precedence. Without an endpoint, events stay in a
    /// local file.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.defaults.json = Some(url.into());
        self
    }

    /// The same, as an OTLP/HTTP base URL (`/v1/logs` is appended).
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.defaults.otlp = Some(url.into());
        self
    }

    /// Reads variables from `env` instead of the process (for tests). A
    /// fixed environment is also all a detached uploader sees.
    pub fn env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// Keeps the consent file and the data (spool, local file) at these
    /// paths instead of the platform's directories.
    pub fn paths(mut self, consent_file: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        self.paths = Some((consent_file.into(), data_dir.into()));
        self
    }

    /// Whether to start a detached uploader after the first event (default
    /// `true`). Long-running programs and tests turn it off and call
    /// `Telemetry::upload_now`.
    pub fn detached_upload(mut self, detached: bool) -> Self {
        self.detached = detached;
        self
    }

    /// The spool's bounds (default 10 MiB and 30 days): when full, new
    /// events are dropped and counted; older ones are deleted unsent.
    pub fn spool_limits(mut self, max_bytes: u64, max_age: Duration) -> Self {
        self.spool_bounds = (max_bytes, max_age);
        self
    }

    /// Sets everything up. Never fails: see [`Telemetry`].
    ///
    /// In the detached uploader (the marker variable is set), this uploads
    /// and exits the process.
    #[must_use = "recording goes through the handle"]
    pub fn init(self) -> Telemetry {
        let prefix = env_prefix(&self.tool);
        let salt = self
            .salt
            .clone()
            .unwrap_or_else(|| format!("{}-telemetry", self.tool));
        let store = match &self.paths {
            Some((file, data)) => Ok(ConsentStore::at(&self.tool, file, data)),
            None => ConsentStore::new(&self.tool),
        }
        .map(|store| store.with_env(self.env.clone()));
        let mut inner = Inner {
            tool: self.tool.clone(),
            salt,
            prefix,
            env: self.env.clone(),
            defaults: self.defaults.clone(),
            store: None,
            problems: Vec::new(),
            collector: None,
            detached: self.detached,
            spool_bounds: self.spool_bounds,
        };
        let store = match store {
            Ok(store) => store,
            Err(e) => {
                inner.problems.push(e.one_line());
                return Telemetry {
                    inner: Arc::new(inner),
                };
            }
        };
        // The detached uploader — only if the marker holds the spool's key:
        // a user who sets the variable by hand runs their command as usual.
        if let Some(marker) = self.env.var(&uploader_marker(&inner.prefix)) {
            let spool = Spool::new(store.data_dir());
            if spool
                .uploader_key(false)
                .is_some_and(|key| marker.to_str() == Some(key.as_str()))
            {
                run_as_uploader(&inner, &store);
            }
            inner.problems.push(format!(
                "{} is set but is not this tool's uploader key; ignored",
                uploader_marker(&inner.prefix)
            ));
        }
        if let Some((version, text)) = &self.notice
            && let Err(e) = store.show_notice_once(*version, text)
        {
            inner.problems.push(format!(
                "the notice could not be recorded: {}",
                e.one_line()
            ));
        }
        let debug = store.debug_mode();
        match store.resolve_salt(&inner.salt) {
            Ok((_, Some(salt))) => {
                let resolved =
                    delivery::resolve(&inner.prefix, &self.env, &self.defaults, store.data_dir());
                inner.problems.extend(resolved.problems);
                let mode = match resolved.target {
                    _ if debug => Mode::Debug,
                    #[cfg(feature = "http")]
                    Target::Remote(_) => Mode::Spool,
                    Target::File(path) => Mode::File(FileSink::new(path)),
                };
                let mut spool = Spool::new(store.data_dir());
                (spool.max_bytes, spool.max_age) = self.spool_bounds;
                inner.collector = Some(Collector {
                    tool_version: self.tool_version.clone(),
                    machine_id: MachineId::derive(&salt),
                    scrubber: OnceLock::new(),
                    debug,
                    mode,
                    spool,
                    writer: Mutex::new(None),
                    spawned: AtomicBool::new(false),
                    dir_ready: AtomicBool::new(false),
                    dropped: AtomicU64::new(0),
                });
            }
            Ok((_, None)) => {}
            Err(e) => inner
                .problems
                .push(format!("telemetry is off: {}", e.one_line())),
        }
        inner.store = Some(store);
        if debug {
            for problem in &inner.problems {
                eprintln_best_effort(&format!("{}: telemetry: {problem}", inner.tool));
            }
        }
        Telemetry {
            inner: Arc::new(inner),
        }
    }
}

/// The detached uploader: upload what is spooled, then exit the process,
/// within [`UPLOADER_LIFETIME`] whatever the network does.
fn run_as_uploader(inner: &Inner, store: &ConsentStore) -> ! {
    // The watchdog: the process ends on time even if something hangs.
    let _ = std::thread::Builder::new()
        .name("rtb-telemetry-watchdog".into())
        .spawn(|| {
            std::thread::sleep(UPLOADER_LIFETIME);
            std::process::exit(0);
        });
    #[cfg(feature = "http")]
    if let Ok((_, Some(_))) = store.resolve_salt(&inner.salt) {
        let resolved =
            delivery::resolve(&inner.prefix, &inner.env, &inner.defaults, store.data_dir());
        if let Target::Remote(remote) = resolved.target {
            let mut spool = Spool::new(store.data_dir());
            (spool.max_bytes, spool.max_age) = inner.spool_bounds;
            let _ = delivery::upload(&spool, remote, Instant::now() + UPLOAD_BUDGET);
        }
    }
    #[cfg(not(feature = "http"))]
    let _ = (inner, store);
    std::process::exit(0)
}

impl StatusReport {
    /// The status when there is nowhere to keep a decision.
    pub(crate) fn unavailable(problems: Vec<String>) -> Self {
        let mut status = Self::off(PolicySource::Unavailable(
            problems
                .first()
                .cloned()
                .unwrap_or_else(|| "telemetry is unavailable".to_owned()),
        ));
        status.problems = problems.into_iter().skip(1).collect();
        status
    }
}
