//! Report mode: counts per week instead of events, with no install id —
//! the privacy of Go's toolchain telemetry, for a tool with a
//! [catalogue](mod@crate::catalog).
//!
//! A handle made with [`reports`](crate::TelemetryBuilder::reports)
//! records nothing as an event. Each `record` adds one to a counter in
//! memory: the event and its declared attr values (a duration by its
//! [bucket](DURATION_BUCKETS_MS)); no time, no id. As the run ends, its
//! counts are added to the week's in `<data dir>/report/counts.json`
//! (under a lock: many runs at once lose no count). The first run of a
//! new week seals the last one into **one report**: the week's counters,
//! the tool and its version, the catalogue's version, the week (its
//! Monday), and a fresh random report id and number `x` — no machine id,
//! no install id, nothing finer than the week. The report goes through
//! the same consent, switches, spool and uploader as events (or, without
//! a collector, into the local file), and `telemetry show` shows the week
//! being built and the last report.
//!
//! **Sampling.** A report goes out only when its `x` is below the
//! report's rate ([`Reports::rate`]); a counter only when `x` is below its
//! event's rate ([`Reports::event_rate`], never above the report's). So
//! whether anything goes depends on `x` alone, a counter of a lower rate
//! is there only when every counter of a higher rate is, and
//! `count / rate` estimates the count over every install.
//!
//! **As-of.** Counts are kept under the decision they were made in: what
//! was counted before the latest `enable`, or before a `reset`, is never
//! in a report; `disable` deletes the counts and any report not yet sent.
//!
//! # On the wire
//!
//! A JSON collector receives reports in the same array as events, each
//! as `{"id": <report id>, "report": {…}}` (an event is `{"id", "event"}`):
//!
//! ```json
//! {"id":"5c0f…","report":{"tool":"mytool","tool_version":"1.2.0","catalog_version":1,
//!  "week":"2026-11-30","x":0.0371,"rate":0.1,"counters":[
//!   {"event":"run","attrs":{"outcome":"ok","took":"100"},"count":41,"rate":0.1}]}}
//! ```
//!
//! Over OTLP each counter is one log record: the event's name as its body
//! and `event.name`, the attrs typed as an event's, `rtb.count` (int) and
//! `rtb.rate` (double), timestamped at the week's Monday; the resource has
//! `service.name`, `service.version`, `rtb.catalog.version`,
//! `rtb.report.id`, `rtb.report.week` and `rtb.report.x`. No `machine_id`.
//!
//! # Example
//!
//! ```
//! # use rtb_telemetry::{Env, Telemetry, consent::ConsentStore};
//! # let dir = tempfile::tempdir().unwrap();
//! # let (file, data) = (dir.path().join("c.json"), dir.path().join("d"));
//! # ConsentStore::at("mytool", &file, &data).enable().unwrap();
//! use rtb_telemetry::Reports;
//!
//! rtb_telemetry::catalog! {
//!     pub catalog Mytool: version 1;
//!     pub enum Outcome { Ok = "ok", Failed = "failed" }
//!     pub event Build = "build" { outcome: Outcome }
//!     pub event Deploy = "deploy" {}
//! }
//!
//! let telemetry = Telemetry::builder("mytool", "1.0.0")
//!     .catalog::<Mytool>()
//!     .reports(Reports::weekly().rate(0.1).event_rate::<Deploy>(0.01))
//! #   .env(Env::from_vars::<_, &str, &str>([])).paths(&file, &data)
//!     .init();
//! telemetry.record(Build { outcome: Outcome::Ok });
//! telemetry.record(Build { outcome: Outcome::Ok });
//! drop(telemetry); // the run ends: its counts join the week's
//!
//! let counts = std::fs::read_to_string(data.join("report/counts.json")).unwrap();
//! assert!(counts.contains(r#""event":"build","attrs":{"outcome":"ok"},"count":2"#));
//! assert!(!data.join("events.jsonl").exists()); // no event, no id
//! ```

use std::fmt;
use std::marker::PhantomData;

use crate::catalog::{Catalog, CatalogEvent};

mod counting;
mod counts;
mod merge;
#[cfg(feature = "otlp")]
mod otlp;
#[cfg(test)]
mod tests;
pub(crate) mod wire;

pub use crate::catalog::DURATION_BUCKETS_MS;
#[doc(hidden)]
pub use crate::catalog::Key;
pub(crate) use counting::Counting;
pub(crate) use counts::Files;

/// Report mode, as a tool asks for it: a report a week, sent at `rate`,
/// some events at rates of their own. See the [module](self).
///
/// # Example
///
/// ```
/// use rtb_telemetry::Reports;
///
/// rtb_telemetry::catalog! {
///     pub catalog Mytool: version 1;
///     pub event Run = "run" {}
///     pub event Crash = "crash" {}
/// }
/// // One install in ten sends its report; `run` goes in one of a hundred.
/// let reports = Reports::<Mytool>::weekly().rate(0.1).event_rate::<Run>(0.01);
/// # let _ = reports;
/// ```
pub struct Reports<C> {
    settings: Settings,
    catalog: PhantomData<fn() -> C>,
}

/// What a handle's reports are sampled at, checked, and the code of report
/// mode: reached only through these function pointers, which only
/// [`Reports::weekly`] sets, so a tool that never asks for reports links
/// none of it (`benches/weight.py`).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) support: Support,
    pub(crate) rate: f64,
    /// Events (by their place in the catalogue) with rates of their own.
    events: Vec<(usize, f64)>,
    /// Rates that were not in [0, 1], as given.
    pub(crate) problems: Vec<String>,
}

impl<C> Clone for Reports<C> {
    fn clone(&self) -> Self {
        Self {
            settings: self.settings.clone(),
            catalog: PhantomData,
        }
    }
}

impl<C> fmt::Debug for Reports<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reports")
            .field("rate", &self.settings.rate)
            .field("event_rates", &self.settings.events)
            .finish()
    }
}

impl<C: Catalog> Reports<C> {
    /// A report a week, every install's sent (rate 1).
    #[must_use]
    pub fn weekly() -> Self {
        Self {
            settings: Settings {
                support: SUPPORT,
                rate: 1.0,
                events: Vec::new(),
                problems: Vec::new(),
            },
            catalog: PhantomData,
        }
    }

    /// The share of installs whose report goes out, in [0, 1] (a rate
    /// outside is taken as the nearest bound, `NaN` as 0, and `status`
    /// says so).
    #[must_use]
    pub fn rate(mut self, rate: f64) -> Self {
        self.settings.rate = self.settings.checked("the report rate", rate);
        self
    }

    /// The share of reports that carry `E`'s counters, in [0, 1]; at most
    /// the report's rate (a higher one is the report's).
    #[must_use]
    pub fn event_rate<E: CatalogEvent<Catalog = C>>(mut self, rate: f64) -> Self {
        let rate = self
            .settings
            .checked(&format!("the rate of `{}`", E::NAME), rate);
        self.settings.events.retain(|&(i, _)| i != E::INDEX);
        self.settings.events.push((E::INDEX, rate));
        self
    }

    pub(crate) fn into_settings(self) -> Settings {
        self.settings
    }
}

/// Report mode's code, as function pointers (see [`Settings`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Support {
    /// This run's counts, for a handle that records (kept for the
    /// process: see `Inner::counting`).
    pub(crate) counting: fn(Start) -> Option<&'static Counting>,
    /// Adds one to a counter by name (the crate's own events).
    pub(crate) count_named: fn(&Counting, &str, &std::collections::HashMap<String, String>),
    /// Adds a run's counts to the week's; seals a week that is over.
    pub(crate) flush: fn(&Counting) -> Result<(), crate::TelemetryError>,
    /// What `telemetry show` says of report mode.
    pub(crate) show: Show,
    /// Debug mode's line for one count.
    pub(crate) debug: fn(&str, &crate::catalog::shape::EventShape, u64),
    /// How a report goes over OTLP.
    #[cfg(feature = "otlp")]
    pub(crate) otlp: crate::pipeline::export::otlp::ReportEncoder,
}

/// What a run in report mode starts from (`init()`'s part).
pub(crate) struct Start {
    /// The catalogue (`C::spec`: called here, not in each tool's `init`).
    pub(crate) spec: fn() -> Option<crate::catalog::CatalogSpec>,
    pub(crate) settings: Settings,
    /// Debug mode: each count printed, nothing kept.
    pub(crate) debug: bool,
    pub(crate) tool: String,
    pub(crate) tool_version: String,
    /// The salt of the decision the run counts under.
    pub(crate) salt: String,
    pub(crate) store: crate::consent::ConsentStore,
    /// Where a sealed report goes.
    pub(crate) out: crate::pipeline::plan::Recording,
}

/// A run's counting, from `start`; `None` without a catalogue.
fn start(start: Start) -> Option<&'static Counting> {
    let spec = crate::catalog::with_own_events((start.spec)()?);
    let keep: Box<dyn counting::Keeper> = if start.debug {
        Box::new(counting::Printed(start.tool))
    } else {
        Box::new(merge::Disk {
            files: Files::new(start.store.data_dir()),
            since: start.store.opted_in_at(),
            store: start.store,
            salt: start.salt,
            tool: start.tool,
            tool_version: start.tool_version,
            catalog_version: spec.version,
            out: start.out,
        })
    };
    Some(Box::leak(Box::new(Counting::new(
        &spec,
        start.settings,
        keep,
    ))))
}

/// `telemetry show`'s part, from the data directory and whether a record
/// of an id waits in the spool.
pub(crate) type Show = fn(&std::path::Path, &dyn Fn(&str) -> bool) -> String;

const SUPPORT: Support = Support {
    counting: start,
    count_named: Counting::count_named_run,
    flush: Counting::flush_run,
    show: counts::show,
    debug: counting::debug_line,
    // A build without telemetry sends nothing: its binary holds no
    // encoder (a constant, so only one of the two is linked).
    #[cfg(feature = "otlp")]
    otlp: if crate::env::BUILT_WITHOUT_TELEMETRY {
        |_, _, _| {}
    } else {
        otlp::encode
    },
};

impl Settings {
    fn checked(&mut self, what: &str, rate: f64) -> f64 {
        if (0.0..=1.0).contains(&rate) {
            return rate;
        }
        let taken = if rate > 1.0 { 1.0 } else { 0.0 };
        self.problems
            .push(format!("{what} {rate} is not in [0, 1]; taken as {taken}"));
        taken
    }

    /// The rate the event at `index` is sampled at.
    pub(crate) fn rate_of(&self, index: Option<usize>) -> f64 {
        let own = index.and_then(|i| self.events.iter().find(|&&(e, _)| e == i));
        own.map_or(self.rate, |&(_, rate)| rate.min(self.rate))
    }
}
