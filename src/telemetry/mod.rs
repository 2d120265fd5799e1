//! The one call a command-line tool makes: [`Telemetry`]. A thin facade
//! over the typed core and the pipeline: `init()` resolves the plan once;
//! recording goes through the typed context, [`Redact`], and where the plan
//! says.
//!
//! - `mod.rs`: the handle, and recording;
//! - `timed.rs`: timed events;
//! - `setup.rs`: the builder and `init`;
//! - `status.rs`: the `telemetry` verbs, `status` and `show`;
//! - `upload.rs`: starting the uploader, and uploading on demand;
//! - `parse.rs`: clap's parse, with the subcommand named.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::catalog::{Attrs, Catalog, CatalogEvent, Untyped};
use crate::consent::ConsentStore;
use crate::pipeline::plan::{Plan, Recording};
use crate::{Redact, RuntimePolicy, TelemetryContext};

#[cfg(feature = "clap")]
pub(crate) mod parse;
mod setup;
mod status;
mod timed;
mod upload;

#[cfg(feature = "clap")]
pub use parse::Parsed;
pub use setup::TelemetryBuilder;
pub use timed::{Timed, TimedWith};

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
///
/// # With a catalogue
///
/// [`catalog::<C>()`](TelemetryBuilder::catalog) makes a handle that
/// records only `C`'s declared events (see [`catalog`](mod@crate::catalog));
/// `record(name)` and the other untyped calls are not there to call:
///
/// ```
/// # use rtb_telemetry::{Env, Telemetry, consent::ConsentStore};
/// # let dir = tempfile::tempdir().unwrap();
/// # let (file, data) = (dir.path().join("c.json"), dir.path().join("d"));
/// # ConsentStore::at("mytool", &file, &data).enable().unwrap();
/// rtb_telemetry::catalog! {
///     pub catalog Mytool: version 1;
///     /// How a command ended.
///     pub enum Outcome { Ok = "ok", Failed = "failed" }
///     /// `mytool build` ended.
///     pub event Build = "build" { outcome: Outcome, took: std::time::Duration }
/// }
///
/// let telemetry = Telemetry::builder("mytool", "1.0.0")
///     .catalog::<Mytool>()
///     # .env(Env::from_vars::<_, &str, &str>([])).paths(&file, &data)
///     .init();
/// let built: Result<u32, String> = telemetry.time(
///     || Ok(42),
///     |result, took| Build {
///         outcome: if result.is_ok() { Outcome::Ok } else { Outcome::Failed },
///         took,
///     },
/// );
/// assert_eq!(built, Ok(42));
/// let line = std::fs::read_to_string(data.join("events.jsonl")).unwrap();
/// assert!(line.contains(r#""outcome":"ok""#) && line.contains(r#""catalog_version":1"#));
/// ```
pub struct Telemetry<C = Untyped> {
    inner: Arc<Inner>,
    catalog: PhantomData<fn() -> C>,
}

impl<C> Clone for Telemetry<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            catalog: PhantomData,
        }
    }
}

struct Inner {
    tool: String,
    /// How users type the verbs (see `TelemetryBuilder::verbs_as`).
    verbs: Option<String>,
    /// The notice `init()` left to [`Telemetry::show_notice`].
    notice: Option<(u32, String)>,
    /// `None` when there is nowhere to keep a decision (no home directory).
    store: Option<ConsentStore>,
    /// What this run does, resolved once by `init()`.
    plan: Plan,
    /// Present only when this run records events.
    recorder: Option<Recorder>,
    /// Present only when this run counts (report mode). Kept for the
    /// process (a few KB per handle, never freed): so a tool that never
    /// asks for reports links no code to drop one.
    counting: Option<&'static crate::report::Counting>,
    /// Whether the tool asked for report mode (this run may be off).
    reports: bool,
    /// How the tool counts its panics, if it does (`count_panics`).
    panics: Option<crate::panics::Support>,
}

/// The context every event goes through: redaction, then where the plan
/// says events go.
type Context = TelemetryContext<Redact<Recording>, RuntimePolicy>;

/// What a recording handle records with.
struct Recorder {
    context: Context,
}

impl Telemetry {
    /// Starts the setup for `tool` at `tool_version` (usually
    /// `env!("CARGO_PKG_VERSION")`).
    pub fn builder(tool: &str, tool_version: &str) -> TelemetryBuilder {
        TelemetryBuilder::new(tool, tool_version)
    }
}

impl<C> Telemetry<C> {
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
        self.inner.recorder().is_some() || self.inner.counting.is_some()
    }

    /// Writes what this run counted (report mode) now, rather than when
    /// the last handle drops: for a tool that ends with
    /// [`std::process::exit`], which runs no destructor. Events need
    /// nothing of the kind (each is written as it is recorded); nor does
    /// a tool whose handle drops at the end of `main`. Never fails: a
    /// problem shows in debug mode, and the counts wait for the next call.
    pub fn finish(&self) {
        self.inner.finish();
    }

    /// Records `name` with `attrs` through the untyped path (the crate's
    /// own events, e.g. clap's usage errors, whatever the handle's type).
    fn record_named(&self, name: &str, attrs: HashMap<String, String>) {
        if let Some(counting) = self.inner.counting {
            counting.count_named(name, &attrs);
            return;
        }
        let Some(recorder) = self.inner.recorder() else {
            return;
        };
        let outcome =
            crate::pipeline::worker::block_on(recorder.context.record_with_attrs(name, attrs));
        if let Err(e) = outcome {
            self.debug_problem(&e.one_line());
        }
        self.after_record();
    }

    /// Records a declared event: one copy of this code for every event
    /// (only the closure that writes its attrs is the event's own).
    fn record_declared(&self, name: &'static str, version: u32, write: &dyn Fn(&mut Attrs<'_>)) {
        let Some(recorder) = self.inner.recorder() else {
            return;
        };
        let outcome = crate::pipeline::worker::block_on(
            recorder.context.record_declared(name, version, write),
        );
        if let Err(e) = outcome {
            self.debug_problem(&e.one_line());
        }
        self.after_record();
    }

    fn debug_problem(&self, problem: &str) {
        if self.inner.recorder().is_some() && self.inner.plan.debug {
            eprintln_best_effort(&format!("{}: telemetry: {problem}", self.inner.tool));
        }
    }
}

impl<C: Catalog> Telemetry<C> {
    /// Records `event`, one of `C`'s declared events: synchronous, touches
    /// only local disk, never fails (a problem is counted and shown in
    /// debug mode). Its values come from declared sets: nothing is
    /// scrubbed. See the [example](Telemetry#with-a-catalogue).
    #[expect(
        clippy::needless_pass_by_value,
        reason = "an event is made to be recorded: `record(Build { .. })`, as the context's"
    )]
    pub fn record<E: CatalogEvent<Catalog = C>>(&self, event: E) {
        if let Some(counting) = self.inner.counting {
            counting.count(&event);
            return;
        }
        self.record_declared(E::NAME, C::VERSION, &|attrs| event.write_attrs(attrs));
    }

    /// Runs `work`, then records the event `event` makes of its result and
    /// how long it took, and returns the result. See the
    /// [example](Telemetry#with-a-catalogue).
    pub fn time<T, E: CatalogEvent<Catalog = C>>(
        &self,
        work: impl FnOnce() -> T,
        event: impl FnOnce(&T, Duration) -> E,
    ) -> T {
        let start = Instant::now();
        let result = work();
        if self.is_enabled() {
            self.record(event(&result, start.elapsed()));
        }
        result
    }
}

impl Telemetry {
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
    /// [`Event::MAX_ATTR_VALUE_BYTES`](crate::Event::MAX_ATTR_VALUE_BYTES); still, pass nothing that identifies
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
        if self.inner.recorder().is_none() {
            return;
        }
        let attrs: HashMap<String, String> = attrs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self.record_named(name, attrs);
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
}

fn eprintln_best_effort(line: &str) {
    crate::fs::to_stderr(format!("{line}\n").as_bytes());
}

impl<C> fmt::Debug for Telemetry<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("tool", &self.inner.tool)
            .field("enabled", &self.is_enabled())
            .field("problems", &self.inner.plan.problems())
            .finish_non_exhaustive()
    }
}

impl<C> Telemetry<C> {
    /// What the panic hook records with, for its tests.
    #[cfg(all(test, feature = "upload"))]
    pub(crate) fn active(
        &self,
    ) -> Option<&Arc<crate::context::Active<Redact<crate::pipeline::plan::Recording>>>> {
        self.inner.recorder()?.context.active()
    }
}

impl Inner {
    /// The recorder, when this run records (as the plan says).
    fn recorder(&self) -> Option<&Recorder> {
        self.recorder.as_ref()
    }

    /// Report mode: this run's counts join the week's (a week that is
    /// over is sealed), and an upload starts if one is due.
    fn finish(&self) {
        let Some(counting) = self.counting else {
            return;
        };
        if let Err(e) = counting.flush()
            && self.plan.debug
        {
            eprintln_best_effort(&format!("{}: telemetry: {}", self.tool, e.one_line()));
        }
        self.after_report();
    }
}

impl Drop for Inner {
    /// The last handle of the run is gone: what it counted is written.
    fn drop(&mut self) {
        self.finish();
    }
}
