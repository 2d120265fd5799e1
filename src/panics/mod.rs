//! Panics, counted: where the tool panicked, never what it was doing.
//!
//! [`TelemetryBuilder::count_panics`](crate::TelemetryBuilder::count_panics)
//! installs a panic hook in a run that records. A panic then records one
//! event, through the same consent, switches, spool and uploader as any:
//!
//! ```json
//! {"name":"panic","attrs":{"place":"mytool@1.2.0/src/main.rs:120:13","count":"1"}, …}
//! ```
//!
//! - `place`: the crate, its version and the path inside it, the line and
//!   column (`place.rs`); never the message, the payload, a backtrace, an
//!   absolute path or a user's name.
//! - `count`: 1 as recorded; an upload sends one record per place with
//!   the panics of all runs summed (`count.rs`).
//!
//! The hook runs first, then the hook that was there before (the tool's
//! own, or std's message), so what the user sees and the exit code are
//! unchanged. While the process panics it takes no lock another thread
//! may hold (in-process locks are tried, never waited for), tries each
//! file lock for at most [`PATIENCE`], writes one line, and returns; a
//! process records at most [`MAX_PER_PROCESS`] panics.

#[cfg(feature = "upload")]
mod count;
mod place;
#[cfg(all(test, feature = "upload"))]
mod tests;

use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

#[cfg(feature = "upload")]
pub(crate) use count::merge;
pub(crate) use place::{Owner, is_place};

use crate::Event;
use crate::pipeline::plan::Recording;

/// The event's name.
pub(crate) const EVENT: &str = "panic";
/// Where it panicked.
pub(crate) const PLACE: &str = "place";
/// How many times.
pub(crate) const COUNT: &str = "count";

/// The most panics one process records (a server that catches them
/// records no more than this many).
pub(crate) const MAX_PER_PROCESS: u32 = 100;

/// How long the hook waits for each file lock (the consent file's, the
/// spool's).
pub(crate) const PATIENCE: Duration = Duration::from_millis(2);

/// What a recording run's events go through.
type Active = crate::context::Active<crate::Redact<Recording>>;

/// Starts the uploader (with `upload`), when a panic's record found one due.
pub(crate) type Launch = Box<dyn Fn() + Send + Sync>;

/// What the hook records with.
pub(crate) struct Counter {
    /// The run's recorder; gone once the handle is dropped.
    pub(crate) active: Weak<Active>,
    pub(crate) owner: Owner,
    /// The tool's catalogue's version, if it declares one (the `panic`
    /// event is in it).
    pub(crate) catalog_version: Option<u32>,
    pub(crate) launch: Option<Launch>,
    pub(crate) seen: AtomicU32,
}

/// Whether a hook is installed in this process (one: the first handle
/// that asks).
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs the hook, once per process: `false` when one already was.
pub(crate) fn install(counter: Counter) -> bool {
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return false;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(location) = info.location() {
            counter.count(location);
        }
        previous(info);
    }));
    true
}

impl Counter {
    /// Records a panic at `location`. Never panics itself: a panic in a
    /// panic hook aborts the process.
    fn count(&self, location: &Location<'_>) {
        if self.seen.fetch_add(1, Ordering::Relaxed) >= MAX_PER_PROCESS {
            return;
        }
        let Some(active) = self.active.upgrade() else {
            return;
        };
        let place = place::place(
            location.file(),
            location.line(),
            location.column(),
            &self.owner,
        );
        let mut event = Event::new(
            EVENT,
            active.tool.as_str(),
            active.tool_version.as_str(),
            active.machine_id.as_str(),
        )
        .with_attr(PLACE, place)
        .with_attr(COUNT, "1");
        event.catalog_version = self.catalog_version;
        let due = active.sink.inner().write_from_hook(&event, PATIENCE);
        if due && let Some(launch) = &self.launch {
            launch();
        }
        // The handle was dropped meanwhile: its end (counting what it
        // could not) is not run inside a panic hook.
        if Arc::strong_count(&active) == 1 {
            std::mem::forget(active);
        }
    }
}

/// The user's names, from the environment: never a place's components.
pub(crate) fn users(env: &crate::Env) -> Vec<String> {
    let mut users: Vec<String> = ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .filter_map(|v| env.var(v)?.into_string().ok())
        .chain(["HOME", "USERPROFILE"].iter().filter_map(|v| {
            let home = env.var(v)?.into_string().ok()?;
            let last = home
                .trim_end_matches(['/', '\\'])
                .rsplit(['/', '\\'])
                .next()?;
            Some(last.to_owned())
        }))
        .filter(|u| !u.is_empty())
        .collect();
    users.sort_unstable();
    users.dedup();
    users
}
