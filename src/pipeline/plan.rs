//! What this run does, resolved once in `init()`: off (and who decided),
//! or on — debug mode (printed, nothing kept or sent), the local file, or
//! the spool and a collector — with the problems met on the way, as
//! values. `status`, `show`, the upload decision and the uploader read the
//! plan; none of them resolves the destination or reads the build switch
//! again.

use super::FromHook;
use std::path::PathBuf;
use std::sync::OnceLock;
#[cfg(feature = "upload")]
use std::time::Duration;

use super::destination::{self, Destination, Resolved};
use crate::consent::{ConsentStore, Effective, PolicySource};
use crate::{CollectionPolicy, DebugSink, Env, Event, TelemetryError, TelemetrySink};

/// `true` in a build made with `--cfg rtb_telemetry_disabled`: nothing is
/// ever recorded, and (this being a constant) the recording, spooling,
/// uploading and HTTP code is not in the binary at all.
const BUILT_WITHOUT_TELEMETRY: bool = crate::env::BUILT_WITHOUT_TELEMETRY;

/// How the spool is bounded and uploads are started: the builder's
/// settings, the same in every run (`upload` only; nothing without it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivery {
    #[cfg(feature = "upload")]
    pub(crate) max_bytes: u64,
    #[cfg(feature = "upload")]
    pub(crate) max_age: Duration,
    #[cfg(feature = "upload")]
    pub(crate) interval: Duration,
    /// Whether a run starts a detached uploader when an upload is due.
    #[cfg(feature = "upload")]
    pub(crate) detached: bool,
    /// Merges a place's panic records into one (set by `count_panics`).
    #[cfg(feature = "upload")]
    pub(crate) merge_panics: Option<Merge>,
}

/// An upload's records, a place's panics as one record.
#[cfg(feature = "upload")]
pub(crate) type Merge = fn(Vec<super::spool::Line>) -> Vec<super::spool::Line>;

#[cfg_attr(
    not(feature = "upload"),
    expect(
        clippy::derivable_impls,
        reason = "with `upload`, its fields have defaults of their own"
    )
)]
impl Default for Delivery {
    fn default() -> Self {
        Self {
            #[cfg(feature = "upload")]
            max_bytes: super::spool::DEFAULT_MAX_BYTES,
            #[cfg(feature = "upload")]
            max_age: super::spool::DEFAULT_MAX_AGE,
            #[cfg(feature = "upload")]
            interval: super::spool::DEFAULT_INTERVAL,
            #[cfg(feature = "upload")]
            detached: true,
            #[cfg(feature = "upload")]
            merge_panics: None,
        }
    }
}

/// What went wrong resolving the plan (beside the destination's own
/// problems): each turns telemetry off, or keeps part of it from working.
#[derive(Debug)]
pub(crate) enum Problem {
    /// There is nowhere to keep a decision (no home directory).
    NoStore(String),
    /// The decision could not be completed (a missing per-install value
    /// could not be stored): off for this run.
    Decision(TelemetryError),
    /// The first-run notice could not be recorded (so it was not shown).
    Notice(TelemetryError),
    /// The uploader's variable is set by hand; it changes nothing.
    MarkerSetByHand(String),
    /// `count_panics` was asked for, and the catalogue declares an event
    /// named `panic` of its own.
    PanicEventTaken,
    /// `count_panics` was asked for in report mode.
    PanicsInReportMode,
    /// A report rate outside [0, 1], and what it was taken as.
    ReportRate(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoStore(why) => f.write_str(why),
            Self::Decision(e) => write!(f, "telemetry is off: {}", e.one_line()),
            Self::Notice(e) => write!(f, "the notice could not be recorded: {}", e.one_line()),
            Self::MarkerSetByHand(variable) => write!(
                f,
                "{variable} is set, which only the crate's own uploader uses; ignored"
            ),
            Self::PanicEventTaken => f.write_str(
                "panics are not counted: the tool's catalogue declares an event named `panic` \
                 of its own (rename it to count panics with `count_panics`)",
            ),
            Self::PanicsInReportMode => f.write_str(
                "panics are not counted in report mode (`count_panics` records events; a \
                 report holds only the catalogue's counters)",
            ),
            Self::ReportRate(what) => f.write_str(what),
        }
    }
}

/// What the plan is resolved from.
#[derive(Debug)]
pub(crate) struct Inputs {
    /// The tool's variable prefix (`MYTOOL` in `MYTOOL_TELEMETRY_*`).
    pub(crate) prefix: String,
    pub(crate) env: Env,
    pub(crate) settings: destination::Settings,
    #[cfg_attr(
        not(feature = "upload"),
        expect(dead_code, reason = "nothing to bound or start without `upload`")
    )]
    pub(crate) delivery: Delivery,
    /// The tool's salt, before the per-install value is mixed in.
    pub(crate) base_salt: String,
}

/// What this run does.
#[derive(Debug)]
pub(crate) struct Plan {
    /// On or off, and who decided.
    pub(crate) decision: Effective,
    /// The salt this run's machine id is derived with: `Some` only when
    /// on (nothing is derived before the user opts in).
    pub(crate) salt: Option<String>,
    /// Debug mode: each event printed to stderr, nothing kept or sent.
    pub(crate) debug: bool,
    pub(crate) inputs: Inputs,
    /// Where events go: resolved with the plan when telemetry is on, else
    /// at first use (`status` of an off run) — once either way.
    destination: OnceLock<Resolved>,
    data_dir: Option<PathBuf>,
    pub(crate) problems: Vec<Problem>,
}

impl Plan {
    /// Resolves what this run does. `store` is `Err` (why) when there is
    /// nowhere to keep a decision.
    pub(crate) fn resolve(inputs: Inputs, store: Result<&ConsentStore, String>) -> Self {
        let off = |source| Effective {
            policy: CollectionPolicy::Disabled,
            source,
        };
        let mut plan = Self {
            decision: off(PolicySource::Build),
            salt: None,
            debug: false,
            inputs,
            destination: OnceLock::new(),
            data_dir: None,
            problems: Vec::new(),
        };
        let store = match store {
            Ok(store) => store,
            Err(why) => {
                plan.decision = off(PolicySource::Unavailable(why.clone()));
                plan.problems.push(Problem::NoStore(why));
                return plan;
            }
        };
        plan.data_dir = Some(store.data_dir().to_path_buf());
        plan.debug = store.debug_mode();
        match store.resolve_salt(&plan.inputs.base_salt) {
            Ok((decision, salt)) => {
                plan.decision = decision;
                plan.salt = salt;
            }
            Err(e) => {
                plan.decision = store.effective_policy();
                plan.problems.push(Problem::Decision(e));
            }
        }
        if BUILT_WITHOUT_TELEMETRY {
            plan.decision = off(PolicySource::Build);
            plan.salt = None;
        }
        if plan.on() {
            let _ = plan.destination();
        }
        plan
    }

    /// Whether this build can deliver at all: `false` in a build without
    /// telemetry, where (this being a constant) every spool, upload and
    /// HTTP function behind the check is left out of the binary.
    #[cfg(feature = "upload")]
    #[expect(
        clippy::unused_self,
        reason = "asked of the plan: the build switch is its to know"
    )]
    pub(crate) fn may_deliver(&self) -> bool {
        !BUILT_WITHOUT_TELEMETRY
    }

    /// Whether this run records.
    pub(crate) fn on(&self) -> bool {
        !BUILT_WITHOUT_TELEMETRY && self.salt.is_some()
    }

    /// Where events go (see the field), and what is wrong with it.
    pub(crate) fn destination(&self) -> Option<&Resolved> {
        if BUILT_WITHOUT_TELEMETRY {
            return None;
        }
        let data_dir = self.data_dir.as_deref()?;
        let inputs = &self.inputs;
        Some(self.destination.get_or_init(|| {
            destination::resolve(&inputs.prefix, &inputs.env, &inputs.settings, data_dir)
        }))
    }

    /// Every problem, the destination's included, one line each.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        if let Some(resolved) = self.destination() {
            lines.extend(resolved.problems.iter().map(ToString::to_string));
        }
        lines
    }

    /// The collector, when events go to one.
    #[cfg(feature = "upload")]
    pub(crate) fn collector(&self) -> Option<&destination::collector::Collector> {
        match &self.destination()?.destination {
            Destination::Collector(collector) => Some(collector),
            Destination::File(_) => None,
        }
    }

    /// The spool, with this tool's bounds, when events go to a collector.
    #[cfg(feature = "upload")]
    pub(crate) fn spool(&self) -> Option<super::spool::Spool> {
        self.collector()?;
        let delivery = &self.inputs.delivery;
        let mut spool = super::spool::Spool::new(self.data_dir.as_deref()?);
        spool.max_bytes = delivery.max_bytes;
        spool.max_age = delivery.max_age;
        spool.interval = delivery.interval;
        Some(spool)
    }

    /// Where a recording run's events go: stderr in debug mode, else the
    /// local file or the spool. `None` when this run does not record.
    pub(crate) fn recording(&self, store: &ConsentStore) -> Option<Recording> {
        let salt = self.salt.clone().filter(|_| self.on())?;
        if self.debug {
            return Some(Recording::Debug(DebugSink));
        }
        Some(match &self.destination()?.destination {
            #[cfg(feature = "upload")]
            Destination::Collector(collector) => Recording::Spool(Box::new(
                super::spool::SpoolSink::new(self.spool()?, store.clone(), collector.id(), salt),
            )),
            Destination::File(path) => Recording::File(Box::new(
                super::local_file::LocalFile::new(crate::FileSink::new(path), store.clone(), salt),
            )),
        })
    }
}

/// Where a recording run's events go.
#[derive(Debug)]
pub(crate) enum Recording {
    /// Debug mode: printed to stderr, nothing kept or sent.
    Debug(DebugSink),
    /// The local file (no collector).
    File(Box<super::local_file::LocalFile>),
    /// The spool, for a collector.
    #[cfg(feature = "upload")]
    Spool(Box<super::spool::SpoolSink>),
}

impl Recording {
    /// The spool, when events go to one.
    #[cfg(feature = "upload")]
    pub(crate) fn spool(&self) -> Option<&super::spool::SpoolSink> {
        match self {
            Self::Spool(sink) => Some(sink),
            _ => None,
        }
    }
}

impl Recording {
    /// Writes `event` where this run's events go, now: every destination
    /// is synchronous (a line on stderr, in the local file, in the spool).
    fn write(&self, event: &Event) -> Result<(), TelemetryError> {
        if BUILT_WITHOUT_TELEMETRY {
            // Never reached (such a build records nothing); said here so
            // the sinks' code is not in its binary (benches/weight.py).
            return Ok(());
        }
        match self {
            Self::Debug(_) => DebugSink::print(event),
            Self::File(file) => file.write(event),
            #[cfg(feature = "upload")]
            Self::Spool(spool) => spool.append(event),
        }
    }
}

impl Recording {
    /// Writes panic `events` from the panic hook (`crate::panics`),
    /// taking no lock another thread may hold past `deadline`, nor any file
    /// lock; `claim`: to the spool, claim a due upload (the hook starts
    /// uploaders).
    pub(crate) fn write_from_hook(
        &self,
        events: &[Event],
        deadline: std::time::Instant,
        claim: bool,
    ) -> FromHook {
        #[cfg(not(feature = "upload"))]
        let _ = claim; // no spool, no upload to claim
        if BUILT_WITHOUT_TELEMETRY {
            return FromHook::Dropped;
        }
        match self {
            Self::Debug(_) => {
                events.iter().for_each(DebugSink::print_from_hook);
                FromHook::Written { due: false }
            }
            Self::File(file) => file.write_from_hook(events, deadline),
            #[cfg(feature = "upload")]
            Self::Spool(spool) => spool.append_from_hook(events, deadline, claim),
        }
    }
}

impl TelemetrySink for Recording {
    // A ready future, not an `async fn` over the three sinks' own: no
    // state machine whose resume points keep their code alive when the
    // build switch says none of it runs.
    fn emit(
        &self,
        event: &Event,
    ) -> impl std::future::Future<Output = Result<(), TelemetryError>> + Send {
        std::future::ready(self.write(event))
    }
}
