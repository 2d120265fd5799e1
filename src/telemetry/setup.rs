//! Setting up: [`TelemetryBuilder`] and `init`.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
#[cfg(feature = "upload")]
use std::time::Duration;

use super::{Inner, Recorder, Telemetry, eprintln_best_effort};
use crate::catalog::{Catalog, Described, Untyped};
use crate::consent::{ConsentStore, env_prefix};
use crate::pipeline::destination;
use crate::pipeline::plan::{Delivery, Inputs, Plan, Problem};
use crate::{CollectionPolicy, Env, Redact, TelemetryContext};

/// Configures [`Telemetry`]; start with [`Telemetry::builder`], finish with
/// [`init`](Self::init). Its `Debug` shows endpoints without credentials.
///
/// # Example
///
/// ```
/// use rtb_telemetry::{Env, Telemetry};
///
/// # let dir = tempfile::tempdir().unwrap();
/// let telemetry = Telemetry::builder("mytool", "1.0.0")
///     .salt("mytool-telemetry-v1")
///     .notice(1, "mytool can send anonymous usage data: `mytool telemetry enable`.")
///     .endpoint("https://telemetry.example.com/v1/events")
///     // For tests: a fixed environment and paths of your own.
///     .env(Env::from_vars::<_, &str, &str>([]))
///     .paths(dir.path().join("telemetry.json"), dir.path().join("data"))
///     .init();
/// assert!(!telemetry.is_enabled()); // nobody has opted in
/// ```
#[must_use = "nothing is set up until `.init()`"]
#[derive(Debug)]
pub struct TelemetryBuilder<C = Untyped> {
    tool: String,
    tool_version: String,
    salt: Option<String>,
    notice: Option<(u32, String)>,
    defer_notice: bool,
    /// Endpoints (and, with `upload`, an HTTP client) of the tool's own.
    settings: destination::Settings,
    /// The spool's bounds and how uploads start (`upload`).
    delivery: Delivery,
    env: Env,
    paths: Option<(PathBuf, PathBuf)>,
    tool_data_dir: Option<PathBuf>,
    off_by_setting: Option<String>,
    verbs: Option<String>,
    /// Set by `count_panics`: the only way to the panic hook's code.
    panics: Option<crate::panics::Support>,
    /// Report mode (`reports`): counts per week instead of events.
    reports: Option<crate::report::Settings>,
    catalog: PhantomData<fn() -> C>,
}

impl TelemetryBuilder {
    pub(super) fn new(tool: &str, tool_version: &str) -> Self {
        Self {
            tool: tool.to_owned(),
            tool_version: tool_version.to_owned(),
            salt: None,
            notice: None,
            defer_notice: false,
            settings: destination::Settings::default(),
            delivery: Delivery::default(),
            env: Env::process(),
            paths: None,
            tool_data_dir: None,
            off_by_setting: None,
            verbs: None,
            panics: None,
            reports: None,
            catalog: PhantomData,
        }
    }

    /// Makes the handle record only catalogue `C`'s declared events (see
    /// [`catalog`](mod@crate::catalog)): `telemetry.record(Build { … })`,
    /// never a name or a free string. `telemetry show --catalog` then
    /// describes `C` (and the events the crate records itself), every event
    /// carries `C::VERSION`, and OTLP gets typed values.
    ///
    /// # Example
    ///
    /// ```
    /// rtb_telemetry::catalog! {
    ///     pub catalog Mytool: version 1;
    ///     pub event Build = "build" { release: bool }
    /// }
    /// let telemetry = rtb_telemetry::Telemetry::builder("mytool", "1.0.0")
    ///     .catalog::<Mytool>()
    ///     .init();
    /// telemetry.record(Build { release: false });
    /// ```
    pub fn catalog<C: Catalog>(self) -> TelemetryBuilder<C> {
        TelemetryBuilder {
            tool: self.tool,
            tool_version: self.tool_version,
            salt: self.salt,
            notice: self.notice,
            defer_notice: self.defer_notice,
            settings: self.settings,
            delivery: self.delivery,
            env: self.env,
            paths: self.paths,
            tool_data_dir: self.tool_data_dir,
            off_by_setting: self.off_by_setting,
            verbs: self.verbs,
            panics: self.panics,
            reports: None,
            catalog: PhantomData,
        }
    }
}

impl<C: Catalog> TelemetryBuilder<C> {
    /// Report mode: instead of an event per `record`, a count per week —
    /// the event and its declared values, no time, no install id — sent
    /// as one report a week with a fresh random id, sampled at the rates
    /// of `reports` (see [`report`](mod@crate::report)). Same consent,
    /// switches, notice, spool and uploader as events; `telemetry show`
    /// shows the week being built and the last report.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{Reports, Telemetry};
    ///
    /// rtb_telemetry::catalog! {
    ///     pub catalog Mytool: version 1;
    ///     pub event Build = "build" { release: bool }
    /// }
    /// let telemetry = Telemetry::builder("mytool", "1.0.0")
    ///     .catalog::<Mytool>()
    ///     .reports(Reports::weekly().rate(0.1))
    ///     .init();
    /// telemetry.record(Build { release: true }); // one more in this week's count
    /// ```
    pub fn reports(mut self, reports: crate::Reports<C>) -> Self {
        let settings = reports.into_settings();
        // The uploader (this tool again) encodes reports over OTLP with
        // report mode's encoder.
        #[cfg(feature = "otlp")]
        if !crate::env::BUILT_WITHOUT_TELEMETRY {
            crate::pipeline::export::otlp::encode_reports_with(settings.support.otlp);
        }
        self.reports = Some(settings);
        self
    }
}

impl<C: Described> TelemetryBuilder<C> {
    /// The salt mixed into the machine id; one per tool, kept forever
    /// (default: `"<tool>-telemetry"`).
    pub fn salt(mut self, salt: impl Into<String>) -> Self {
        self.salt = Some(salt.into());
        self
    }

    /// The first-run notice: shown once per `version` on an interactive
    /// terminal (never in CI) to a user who has not decided yet, by
    /// `init()` — or, after [`defer_notice`](Self::defer_notice), only
    /// where the tool calls [`Telemetry::show_notice`]. Showing it writes
    /// one file (the consent file, saying which version was shown) and
    /// decides nothing.
    pub fn notice(mut self, version: u32, text: impl Into<String>) -> Self {
        self.notice = Some((version, text.into()));
        self
    }

    /// `init()` does not show the notice: the tool shows it with
    /// [`Telemetry::show_notice`] where a person typed the command, and
    /// never where it runs from a shell hook or a prompt (where the
    /// notice would land in the user's prompt) or in a pipeline.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{Env, Telemetry};
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// let telemetry = Telemetry::builder("zoxide", "0.9.8")
    /// #   .env(Env::from_vars::<_, &str, &str>([]).with_terminal(true))
    /// #   .paths(dir.path().join("c.json"), dir.path().join("d"))
    ///     .notice(1, "zoxide can send anonymous usage data: `zoxide telemetry enable`.")
    ///     .defer_notice()
    ///     .init(); // shows nothing, writes nothing
    /// # assert!(!dir.path().join("c.json").exists());
    /// let from_the_prompt_hook = false; // `zoxide add`, run on every `cd`
    /// if !from_the_prompt_hook {
    ///     telemetry.show_notice(); // `zoxide query`, typed by a person
    /// }
    /// # assert!(dir.path().join("c.json").exists());
    /// ```
    pub fn defer_notice(mut self) -> Self {
        self.defer_notice = true;
        self
    }

    /// The collector events go to when the user has set none: JSON over
    /// HTTP(S). `<TOOL>_TELEMETRY_ENDPOINT` and the `OTEL_EXPORTER_OTLP_*`
    /// variables take precedence. Without an endpoint, events stay in a
    /// local file and nothing ever leaves the machine.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.settings.json = Some(url.into());
        self
    }

    /// The same, as an OTLP/HTTP base URL (`/v1/logs` is appended).
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.settings.otlp = Some(url.into());
        self
    }

    /// Reads variables from `env` instead of the process: for tests, or for
    /// a tool that resolves its own configuration. (A detached uploader is
    /// started with the process's environment and runs `main` up to
    /// `init()`, so it builds the same `Env`.)
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

    /// Keeps the spool and the local events in `<dir>/telemetry/`, inside
    /// the tool's own data directory — one its users can move, as with
    /// zoxide's `_ZO_DATA_DIR` — instead of the platform's
    /// (`~/.local/share/<tool>/telemetry/`). The decision stays in the
    /// platform's configuration directory. Only that `telemetry`
    /// directory is the crate's: `telemetry reset` deletes it whole, and
    /// nothing else in `dir`.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::Telemetry;
    ///
    /// let mut builder = Telemetry::builder("zoxide", "0.9.8").salt("zoxide-telemetry-v1");
    /// if let Some(dir) = std::env::var_os("_ZO_DATA_DIR") {
    ///     builder = builder.tool_data_dir(dir); // events in $_ZO_DATA_DIR/telemetry/
    /// }
    /// let telemetry = builder.init();
    /// # let _ = telemetry;
    /// ```
    pub fn tool_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.tool_data_dir = Some(dir.into());
        self
    }

    /// The tool's own configuration turns telemetry off; `setting` names
    /// it for `telemetry status` (say `"telemetry = false in
    /// ~/.config/mytool/config.toml"`). Call it only when the setting says
    /// off: it can only ever turn telemetry off, never on — nothing but the
    /// user's own `telemetry enable` does that.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{Env, Telemetry};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (file, data) = (dir.path().join("c.json"), dir.path().join("d"));
    /// # rtb_telemetry::consent::ConsentStore::at("mytool", &file, &data).enable().unwrap();
    ///
    /// let config_says_off = true; // read from the tool's own config file
    /// let mut builder = Telemetry::builder("mytool", "1.0.0")
    /// #   .env(Env::from_vars::<_, &str, &str>([])).paths(&file, &data)
    ///     .endpoint("https://telemetry.example.com/v1/events");
    /// if config_says_off {
    ///     builder = builder.off_by_setting("telemetry = false in mytool.toml");
    /// }
    /// let telemetry = builder.init();
    /// assert!(!telemetry.is_enabled());
    /// assert!(telemetry.status().to_string().contains("telemetry = false in mytool.toml"));
    /// ```
    pub fn off_by_setting(mut self, setting: impl Into<String>) -> Self {
        self.off_by_setting = Some(setting.into());
        self
    }

    /// Counts the tool's panics: where, never what. In a run that
    /// records, a panic records one `panic` event with its `place`
    /// (`<crate>@<version>/<path inside the crate>:<line>:<column>`) and a
    /// `count`; never the message, the payload, a backtrace, an absolute
    /// path or a user's name. An upload sends one record per place, the
    /// panics of all runs summed. Through the same consent, switches,
    /// spool and uploader as any event: nothing at all when telemetry is
    /// off.
    ///
    /// The hook that was there when `init()` ran (the tool's own, or std's
    /// message) runs after this one, unchanged: what the user sees and the
    /// exit code are the tool's. So a tool with a hook of its own
    /// (human-panic's `setup_panic!`, say) sets it before `init()`: a hook
    /// set after replaces this one, as `std::panic::set_hook` does.
    ///
    /// While panicking, the hook waits on no lock another thread may hold
    /// (each is tried, for 3 ms in all), and panics on many threads at
    /// once are written together. One handle per process counts panics:
    /// the first whose `init()` asks, on a thread that is not panicking. A
    /// catalogue that declares a `panic` event of its own keeps it, and no
    /// panics are counted (`status` says so). The `panic` event joins the
    /// catalogue (`telemetry show --catalog`).
    ///
    /// ```
    /// # use rtb_telemetry::{Env, Telemetry, consent::ConsentStore};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (file, data) = (dir.path().join("c.json"), dir.path().join("d"));
    /// # ConsentStore::at("mytool", &file, &data).enable().unwrap();
    /// let telemetry = Telemetry::builder("mytool", "1.2.0")
    /// #   .env(Env::from_vars::<_, &str, &str>([]))
    /// #   .paths(&file, &data)
    ///     .count_panics()
    ///     .init();
    /// let crashed = std::panic::catch_unwind(|| {
    ///     let settings: Option<&str> = None;
    ///     settings.expect("no settings in /home/ada/.config/mytool")
    /// });
    /// assert!(crashed.is_err());
    /// let line = std::fs::read_to_string(data.join("events.jsonl")).unwrap();
    /// assert!(line.contains(r#""name":"panic""#) && line.contains(r#""count":"1""#));
    /// // Never the message (not "ada": the line's random hex ids may spell it).
    /// assert!(!line.contains("/home") && !line.contains("settings"));
    /// ```
    pub fn count_panics(mut self) -> Self {
        self.panics = Some(crate::panics::SUPPORT);
        #[cfg(feature = "upload")]
        {
            self.delivery.merge_panics = Some(crate::panics::SUPPORT.merge);
        }
        self
    }

    /// How users type the `telemetry` verbs, up to the verb (default
    /// `"<tool> telemetry"`, the clap subcommand): every message the crate
    /// prints names a verb this way, so it runs as printed. A tool that
    /// offers `--telemetry <VERB>` instead says so:
    ///
    /// ```
    /// use rtb_telemetry::{Env, Telemetry, consent::TelemetryCommand};
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// let telemetry = Telemetry::builder("hexyl", "0.17.0")
    /// #   .env(Env::from_vars::<_, &str, &str>([]))
    /// #   .paths(dir.path().join("c.json"), dir.path().join("d"))
    ///     .verbs_as("hexyl --telemetry")
    ///     .init();
    /// let said = telemetry.command(TelemetryCommand::Enable).to_string();
    /// assert!(said.contains("`hexyl --telemetry disable` turns it off"));
    /// ```
    pub fn verbs_as(mut self, command: impl Into<String>) -> Self {
        self.verbs = Some(command.into());
        self
    }

    #[cfg(feature = "upload")]
    #[cfg_attr(docsrs, doc(cfg(feature = "upload")))]
    /// Whether a run starts a detached uploader when an upload is due
    /// (default `true`). Long-running programs and tests turn it off and
    /// call `Telemetry::upload_now`.
    pub fn detached_upload(mut self, detached: bool) -> Self {
        self.delivery.detached = detached;
        self
    }

    #[cfg(feature = "upload")]
    #[cfg_attr(docsrs, doc(cfg(feature = "upload")))]
    /// The spool's bounds (default 10 MiB and 30 days), across every run
    /// of the tool: when full, new events are dropped and counted; older
    /// ones are deleted unsent.
    pub fn spool_limits(mut self, max_bytes: u64, max_age: Duration) -> Self {
        self.delivery.max_bytes = max_bytes;
        self.delivery.max_age = max_age;
        self
    }

    #[cfg(feature = "upload")]
    #[cfg_attr(docsrs, doc(cfg(feature = "upload")))]
    /// The least time between two uploads while the collector answers
    /// (default 60 s). A run starts the uploader only when an upload is
    /// due; the events of the runs in between go with the next one. After
    /// a failed upload the wait grows instead: from about a minute,
    /// doubling, up to an hour.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let telemetry = rtb_telemetry::Telemetry::builder("mytool", "1.0.0")
    ///     .endpoint("https://telemetry.example.com/v1/events")
    ///     .upload_interval(Duration::from_secs(300))
    ///     .spool_limits(1024 * 1024, Duration::from_secs(7 * 24 * 3600));
    /// # let _ = telemetry;
    /// ```
    pub fn upload_interval(mut self, interval: Duration) -> Self {
        self.delivery.interval = interval;
        self
    }

    #[cfg(feature = "upload")]
    #[cfg_attr(docsrs, doc(cfg(feature = "upload")))]
    /// Sends through the tool's own HTTP client instead of the bundled one
    /// (see [`HttpClient`](crate::remote::HttpClient)): a tool that already
    /// links one builds the crate with `upload` alone, and carries no
    /// second client, TLS stack or root store. The detached uploader is
    /// the tool again, so it gets the same client from the same builder
    /// chain.
    pub fn http_client(mut self, client: Arc<dyn crate::remote::HttpClient>) -> Self {
        self.settings.client = Some(client);
        self
    }

    /// Sets everything up. Never fails: see [`Telemetry`].
    ///
    /// In a process started as the detached uploader, this uploads and
    /// exits the process.
    #[must_use = "recording goes through the handle"]
    pub fn init(self) -> Telemetry<C> {
        // First: the uploader (below) encodes with the catalogue's types.
        C::register(&self.tool);
        let store = self.store();
        let mut plan = Plan::resolve(
            Inputs {
                prefix: env_prefix(&self.tool),
                env: self.env.clone(),
                settings: self.settings.clone(),
                delivery: self.delivery,
                base_salt: self
                    .salt
                    .clone()
                    .unwrap_or_else(|| format!("{}-telemetry", self.tool)),
            },
            store.as_ref().map_err(crate::TelemetryError::one_line),
        );
        // A process started as the uploader uploads and exits here: it
        // never returns into the tool, whatever else is wrong.
        super::upload::run_uploader_if_started(&plan, store.as_ref().ok());
        // A catalogue's own `panic` event would make the crate's records
        // undeclared ones: no panics are counted, and `status` says why.
        let mut panics = self.panics.filter(|_| !C::declares(crate::panics::EVENT));
        if self.panics.is_some() && panics.is_none() {
            plan.problems.push(Problem::PanicEventTaken);
        }
        if let Some(reports) = &self.reports {
            plan.problems
                .extend(reports.problems.iter().cloned().map(Problem::ReportRate));
            if panics.take().is_some() {
                plan.problems.push(Problem::PanicsInReportMode);
            }
        }
        let handle = |store, plan, recorder, counting| Telemetry {
            inner: Arc::new(Inner {
                tool: self.tool.clone(),
                verbs: self.verbs.clone(),
                notice: self.notice.clone().filter(|_| self.defer_notice),
                store,
                plan,
                recorder,
                counting,
                reports: self.reports.is_some(),
                panics,
            }),
            catalog: PhantomData,
        };
        let Ok(store) = store else {
            return handle(None, plan, None, None);
        };
        // Before anything is recorded: what is older than the age bound
        // goes, telemetry on or off.
        super::upload::expire(&plan, &store);
        if let Some(variable) = super::upload::marker_set_by_hand(&plan) {
            plan.problems.push(Problem::MarkerSetByHand(variable));
        }
        if let Some((version, text)) = self.notice.as_ref().filter(|_| !self.defer_notice)
            && let Err(e) = store.show_notice_once(*version, text)
        {
            plan.problems.push(Problem::Notice(e));
        }
        let (recorder, counting) = match (plan.recording(&store), &self.reports) {
            (None, _) => (None, None),
            (Some(sink), None) => (
                Some(Recorder {
                    context: TelemetryContext::builder()
                        .tool(self.tool.clone())
                        .tool_version(self.tool_version.clone())
                        .salt(plan.salt.clone().unwrap_or_default())
                        .sink(Redact::new(sink))
                        .policy(CollectionPolicy::Enabled)
                        .build(),
                }),
                None,
            ),
            // Report mode: no machine id is derived, no event is made.
            (Some(out), Some(reports)) => (None, self.counting(&plan, &store, out, reports)),
        };
        // Before anything is recorded: what a run left behind after an
        // opt-out goes (the spool and events only when this run is off).
        store.sweep_after_opt_out(recorder.is_some() || counting.is_some());
        if let Some(support) = panics
            && let Some(active) = recorder.as_ref().and_then(|r| r.context.active())
        {
            (support.install)(active, C::VERSION, super::upload::launcher(&plan));
        }
        let debug = plan.debug;
        let telemetry = handle(Some(store), plan, recorder, counting);
        if debug {
            telemetry.tell_debug();
        }
        telemetry
    }

    /// A report mode's counting, for a run that records.
    fn counting(
        &self,
        plan: &Plan,
        store: &ConsentStore,
        out: crate::pipeline::plan::Recording,
        reports: &crate::report::Settings,
    ) -> Option<&'static crate::report::Counting> {
        let salt = plan.salt.clone()?;
        (reports.support.counting)(crate::report::Start {
            spec: C::spec,
            settings: reports.clone(),
            debug: plan.debug,
            tool: self.tool.clone(),
            tool_version: self.tool_version.clone(),
            salt,
            store: store.clone(),
            out,
        })
    }

    /// The consent store this builder describes.
    fn store(&self) -> Result<ConsentStore, crate::TelemetryError> {
        let store = match &self.paths {
            Some((file, data)) => Ok(ConsentStore::at(&self.tool, file, data)),
            None => ConsentStore::new(&self.tool),
        }?;
        let store = match &self.tool_data_dir {
            Some(dir) => store.in_tool_data_dir(dir),
            None => store,
        };
        let store = store.with_env(self.env.clone());
        let store = match &self.verbs {
            Some(verbs) => store.verbs_as(verbs.clone()),
            None => store,
        };
        Ok(match &self.off_by_setting {
            Some(setting) => store.off_by_setting(setting.clone()),
            None => store,
        })
    }
}

impl<C> Telemetry<C> {
    /// Debug mode, as a run starts: on or off and who decided, what waits
    /// and when it goes, and every problem, on stderr.
    fn tell_debug(&self) {
        let status = self.status();
        let tool = &self.inner.tool;
        let shown = |text: &dyn std::fmt::Display| crate::text::printable(&text.to_string());
        if !status.enabled {
            // One line, so debug mode never looks like it is broken.
            eprintln_best_effort(&format!(
                "{tool}: telemetry: off (decided by: {}); nothing is recorded",
                shown(&status.source)
            ));
        }
        // What earlier runs left to send, and when it goes: a burst of
        // runs does not look like loss.
        for line in status.delivery.iter().chain(&status.problems) {
            eprintln_best_effort(&format!("{tool}: telemetry: {}", shown(line)));
        }
    }
}
