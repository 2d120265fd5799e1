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

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, CatalogEvent, CatalogSpec};
use crate::consent::ConsentStore;
use crate::pipeline::plan::Recording;
use crate::{TelemetryError, text};

mod counts;
mod shape;
#[cfg(test)]
mod tests;
mod wire;

pub(crate) use counts::Files;
pub use shape::DURATION_BUCKETS_MS;
#[doc(hidden)]
pub use shape::Key;
pub(crate) use wire::Report;

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

/// What a handle's reports are sampled at, checked.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
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

/// A cheap hasher for a counter's key (two integers): no `SipHash` on the
/// increment's path; the keys are the tool's own, not an adversary's.
#[derive(Default)]
struct Mix(u64);

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// An event with at most this many combinations of values is counted in
/// a dense table of its own (an atomic add at the key's place: no lock,
/// no hash); one with more in a map under a lock.
const DENSE_MAX: u64 = 4096;

/// This run's counts, in memory.
struct Table {
    /// Per event (by place), made at its first count when it is small.
    dense: Vec<OnceLock<Box<[AtomicU64]>>>,
    /// (event's place, key) to count, for the events with many keys.
    sparse: Mutex<HashMap<(usize, u64), u64, BuildHasherDefault<Mix>>>,
}

impl Table {
    fn new(events: usize) -> Self {
        Self {
            dense: (0..events).map(|_| OnceLock::new()).collect(),
            sparse: Mutex::new(HashMap::default()),
        }
    }

    /// Adds `n` at `key` of the event at `index`.
    #[inline]
    fn add(&self, index: usize, event: &shape::EventShape, key: u64, n: u64) {
        if event.combinations <= DENSE_MAX
            && let Some(dense) = self.dense.get(index)
        {
            let slots =
                dense.get_or_init(|| (0..event.combinations).map(|_| AtomicU64::new(0)).collect());
            if let Some(slot) = usize::try_from(key).ok().and_then(|k| slots.get(k)) {
                slot.fetch_add(n, Ordering::Relaxed);
            }
        } else {
            self.add_sparse(index, key, n);
        }
    }

    #[inline(never)]
    fn add_sparse(&self, index: usize, key: u64, n: u64) {
        let mut sparse = self.sparse.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = sparse.entry((index, key)).or_insert(0);
        *slot = slot.saturating_add(n);
    }

    /// Every count so far, taken out (each left at 0).
    fn take(&self) -> Vec<((usize, u64), u64)> {
        let mut out = Vec::new();
        for (index, dense) in self.dense.iter().enumerate() {
            for (key, slot) in dense.get().into_iter().flat_map(|s| s.iter().enumerate()) {
                let n = slot.swap(0, Ordering::Relaxed);
                if n > 0 {
                    out.push(((index, key as u64), n));
                }
            }
        }
        let mut sparse = self.sparse.lock().unwrap_or_else(PoisonError::into_inner);
        out.extend(sparse.drain());
        out
    }
}

/// Where a run's counts go as it ends.
pub(crate) enum Keep {
    /// Debug mode: each count printed on stderr, nothing kept or sent.
    Debug { tool: String },
    /// The counts file, and reports to where events would go.
    Disk(Box<Disk>),
}

/// What a run needs to merge its counts and seal a week.
pub(crate) struct Disk {
    pub(crate) files: Files,
    pub(crate) store: ConsentStore,
    /// The salt of the decision the run counts under.
    pub(crate) salt: String,
    /// When the user opted in, as the run started.
    pub(crate) since: Option<String>,
    pub(crate) tool: String,
    pub(crate) tool_version: String,
    pub(crate) catalog_version: u32,
    /// Where a sealed report goes: the spool, or the local file.
    pub(crate) out: Recording,
}

/// A handle's counting: the catalogue's shape, the rates, this run's
/// counts and where they go.
pub(crate) struct Counting {
    shape: shape::Shape,
    settings: Settings,
    table: Table,
    keep: Keep,
}

impl fmt::Debug for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counting").finish_non_exhaustive()
    }
}

/// The last report sealed, as `telemetry show` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Last {
    pub(crate) id: String,
    /// Whether it was sampled (and handed to the spool or the local file).
    pub(crate) sent: bool,
    pub(crate) report: Report,
}

/// The decision counts are made under: a hash of the install's salt and
/// when the user opted in (kept on disk, never sent).
pub(crate) fn decision_of(salt: &str, since: Option<&str>) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{salt}\n{}", since.unwrap_or("")).as_bytes());
    hex::encode(&digest[..16])
}

impl Counting {
    pub(crate) fn new(spec: &CatalogSpec, settings: Settings, keep: Keep) -> Self {
        let shape = shape::Shape::of(spec);
        Self {
            table: Table::new(shape.events.len()),
            shape,
            settings,
            keep,
        }
    }

    /// Adds one to `event`'s counter: in memory, no lock and no
    /// allocation once the event was counted (for an event of at most
    /// 4,096 combinations of values whose values are a catalogue's
    /// `enum`s, `buckets`, `bool`s and `Duration`s; a clap value or a
    /// command name is looked up by its name).
    #[inline]
    pub(crate) fn count<E: CatalogEvent>(&self, event: &E) {
        let Some(shape) = self.shape.events.get(E::INDEX) else {
            return;
        };
        let mut scratch = String::new();
        let mut key = Key::new(shape, &mut scratch);
        event.write_key(&mut key);
        if let Some(key) = key.finish() {
            self.table.add(E::INDEX, shape, key, 1);
            if let Keep::Debug { tool } = &self.keep {
                debug_line(tool, shape, key);
            }
        }
    }

    /// Adds one to the counter of the event named `name` with `attrs` (the
    /// crate's own events, e.g. clap's usage errors).
    pub(crate) fn count_named(&self, name: &str, attrs: &HashMap<String, String>) {
        let Some((index, shape)) = self.shape.find(name) else {
            return;
        };
        let values = attrs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let Some(key) = shape.key_of(&values) else {
            return;
        };
        self.table.add(index, shape, key, 1);
        if let Keep::Debug { tool } = &self.keep {
            debug_line(tool, shape, key);
        }
    }

    /// Adds this run's counts to the week's, and seals a week that is
    /// over: `Ok(true)` when a report went to the spool (an upload may be
    /// due). What could not be merged stays in memory for the next call.
    pub(crate) fn flush(&self) -> Result<bool, TelemetryError> {
        let Keep::Disk(disk) = &self.keep else {
            return Ok(false);
        };
        let taken = self.table.take();
        if taken.is_empty() {
            return Ok(false);
        }
        match disk.merge(&self.shape, &self.settings, &taken) {
            Ok(spooled) => Ok(spooled),
            Err((e, keep)) => {
                if keep {
                    for ((index, key), n) in taken {
                        if let Some(shape) = self.shape.events.get(index) {
                            self.table.add(index, shape, key, n);
                        }
                    }
                }
                Err(e)
            }
        }
    }

    /// The spool, when sealed reports go to one.
    #[cfg(feature = "upload")]
    pub(crate) fn spool(&self) -> Option<&crate::pipeline::spool::SpoolSink> {
        match &self.keep {
            Keep::Disk(disk) => disk.out.spool(),
            Keep::Debug { .. } => None,
        }
    }
}

/// What a report counts for against a batch's byte bound.
#[cfg(feature = "upload")]
pub(crate) fn approx_size(report: &Report) -> usize {
    let counters: usize = report
        .counters
        .iter()
        .map(|c| {
            c.event.len()
                + c.attrs
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 8)
                    .sum::<usize>()
                + 64
        })
        .sum();
    report.tool.len() + report.tool_version.len() + 128 + counters
}

/// Debug mode's line for one count.
fn debug_line(tool: &str, shape: &shape::EventShape, key: u64) {
    let values = shape.values_of(key).unwrap_or_default();
    let attrs: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
    crate::fs::to_stderr(
        format!(
            "{tool}: telemetry: counted {} {{{}}} (report mode: kept for this week's report)\n",
            text::printable(&shape.name),
            text::printable(&attrs.join(", "))
        )
        .as_bytes(),
    );
}

/// Why a merge wrote nothing, and whether the counts may be tried again
/// (`false`: telemetry is off, or was turned on again since the run
/// began; they are dropped).
type NotMerged = (TelemetryError, bool);

impl Disk {
    fn off(&self) -> NotMerged {
        (
            TelemetryError::config(
                "this run's counts were dropped: telemetry was turned off, reset or enabled \
                 again after it started",
                format!("see {}", self.store.verb("status")),
            ),
            false,
        )
    }

    /// The decision this run counts under.
    fn of(&self) -> String {
        decision_of(&self.salt, self.since.as_deref())
    }

    fn merge(
        &self,
        shape: &shape::Shape,
        settings: &Settings,
        taken: &[((usize, u64), u64)],
    ) -> Result<bool, NotMerged> {
        let spooled;
        {
            // Under the consent lock (shared): no `disable` or `reset` is
            // half done, and none can start until the counts are written.
            let Some(_on) = self.store.still_on(counts::MERGE_PATIENCE, &self.salt) else {
                return Err(self.off());
            };
            // Enabled again since the run began (after a `disable`): what
            // it counted is from before the latest opt-in.
            if self.store.opted_in_at() != self.since {
                return Err(self.off());
            }
            self.files.prepare().map_err(|e| (e, true))?;
            let lock_path = self.files.lock();
            let _lock = match crate::fs::lock(&lock_path, counts::MERGE_PATIENCE) {
                Ok(Some(lock)) => lock,
                Ok(None) => {
                    return Err((
                        TelemetryError::io(
                            "lock",
                            &lock_path,
                            std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                "another run held it too long; this run's counts wait",
                            ),
                        ),
                        true,
                    ));
                }
                Err(e) => return Err((TelemetryError::io("lock", &lock_path, e), true)),
            };
            let mut counts = self.files.read();
            let of = self.of();
            // Counts of another decision are never reported.
            counts.sections.retain(|s| s.of == of);
            let week = crate::timestamp::week_of(std::time::SystemTime::now());
            let found = counts.sections.iter().position(|s| {
                s.week == week
                    && s.tool_version == self.tool_version
                    && s.catalog_version == self.catalog_version
            });
            let at = found.unwrap_or_else(|| {
                counts.sections.push(counts::Section {
                    week: week.clone(),
                    tool_version: self.tool_version.clone(),
                    catalog_version: self.catalog_version,
                    of: of.clone(),
                    counters: Vec::new(),
                });
                counts.sections.len() - 1
            });
            for &((index, key), n) in taken {
                let Some(event) = shape.events.get(index) else {
                    continue;
                };
                if let Some(values) = event.values_of(key) {
                    counts.sections[at].add(&event.name, &values, n);
                }
            }
            let (over, current): (Vec<_>, Vec<_>) =
                counts.sections.drain(..).partition(|s| s.week < week);
            counts.sections = current;
            let mut sent_one = false;
            let mut first = None;
            for section in over {
                match self.seal(shape, settings, &section) {
                    Ok(to_spool) => sent_one |= to_spool,
                    Err(e) => {
                        first.get_or_insert(e);
                        counts.sections.push(section); // tried again next run
                    }
                }
            }
            self.files.write(&counts).map_err(|e| (e, true))?;
            if let Some(e) = first {
                return Err((e, false));
            }
            spooled = sent_one;
        }
        // A run held up between its check and its write past an opt-out:
        // what it wrote goes again at once.
        if !self.store.still_ours(&self.salt) {
            self.store.discard_unsent();
            return Err(self.off());
        }
        Ok(spooled)
    }

    /// Seals `section`'s week into a report: sampled, then handed to
    /// where events go (`Ok(true)`: to the spool), and noted as the last.
    fn seal(
        &self,
        shape: &shape::Shape,
        settings: &Settings,
        section: &counts::Section,
    ) -> Result<bool, TelemetryError> {
        let (id, x) = wire::fresh_id_and_x(self.salt.as_bytes());
        let tallies = section.counters.iter().map(|t| {
            let index = shape.find(&t.event).map(|(i, _)| i);
            (t, settings.rate_of(index))
        });
        let report = Report {
            tool: self.tool.clone(),
            tool_version: section.tool_version.clone(),
            catalog_version: section.catalog_version,
            week: section.week.clone(),
            x,
            rate: settings.rate,
            counters: wire::sampled(x, tallies),
        };
        let sent = x < settings.rate && !report.counters.is_empty();
        let mut spooled = false;
        if sent {
            spooled = self.hand_over(&id, &report, &section.of)?;
        }
        let _ = self.files.write_last(&Last { id, sent, report });
        Ok(spooled)
    }

    /// Hands `report` to where events go: `Ok(true)` for the spool.
    fn hand_over(&self, id: &str, report: &Report, of: &str) -> Result<bool, TelemetryError> {
        match &self.out {
            #[cfg(feature = "upload")]
            Recording::Spool(spool) => {
                spool.append_report(id, report, of)?;
                Ok(true)
            }
            Recording::File(file) => {
                let _ = of; // the local file is not sent: no decision to check
                let mut line = Vec::new();
                wire::write_line(&mut line, id, report).map_err(|e| {
                    TelemetryError::serde(format_args!("the report of {}", report.week), e)
                })?;
                file.write_line(&line)?;
                Ok(false)
            }
            Recording::Debug(_) => Ok(false),
        }
    }
}

/// What `telemetry show` says of report mode: the week being built, and
/// the last report.
pub(crate) fn show(data_dir: &std::path::Path, waiting: &dyn Fn(&str) -> bool) -> String {
    use std::fmt::Write as _;
    let files = Files::new(data_dir);
    let mut out = String::from("report mode: counts per week, one report a week, no install id\n");
    let counts = files.read();
    if counts.sections.is_empty() {
        out.push_str("\nthe week being built: nothing counted yet\n");
    }
    for section in &counts.sections {
        let _ = writeln!(
            out,
            "\nthe week of {} being built (version {}, catalogue version {}):",
            text::printable(&section.week),
            text::printable(&section.tool_version),
            section.catalog_version
        );
        for tally in &section.counters {
            let attrs: Vec<String> = tally
                .attrs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(
                out,
                "  {} {{{}}}: {}",
                text::printable(&tally.event),
                text::printable(&attrs.join(", ")),
                tally.count
            );
        }
    }
    match files.read_last() {
        None => out.push_str("\nno report sealed yet: the first goes after this week ends\n"),
        Some(last) => {
            let fate = match (last.sent, waiting(&last.id)) {
                (false, _) => "not sampled: nothing was sent".to_owned(),
                (true, true) => "waiting to be sent".to_owned(),
                (true, false) => "handed over (no longer waiting)".to_owned(),
            };
            let mut line = Vec::new();
            let _ = wire::write_line(&mut line, &last.id, &last.report);
            let _ = write!(
                out,
                "\nthe last report, for the week of {} ({fate}):\n  {}",
                text::printable(&last.report.week),
                String::from_utf8_lossy(&line)
            );
        }
    }
    out
}
