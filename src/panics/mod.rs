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
//! unchanged. While the process panics it waits on no lock: each one it
//! needs (in the process or on a file) is tried until [`BUDGET`] is spent,
//! then given up. Panics on many threads at once queue in the process
//! (a `Vec` whose lock is held only to push or take), and whichever hook
//! holds the writing drains the queue into one append, a record per place
//! with its count; a queue that cannot be written in time waits for the
//! next panic's hook. A process records at most [`MAX_PER_PROCESS`]
//! panics.
//!
//! None of this is linked into a tool that does not call `count_panics`:
//! the builder reaches it only through the function pointers of
//! [`Support`], set by that call (the catalogue's check of a `place`
//! value, `AttrKind::Place`, aside: a collector may need it).

#[cfg(feature = "upload")]
mod count;
mod place;
#[cfg(all(test, feature = "upload"))]
mod tests;

use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

#[cfg(feature = "upload")]
pub(crate) use count::merge;
pub(crate) use place::{Owner, is_place};

use crate::Event;
use crate::catalog::CatalogSpec;
use crate::pipeline::FromHook;
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

/// How long one hook may wait, in all, for the locks it needs (the
/// writing's in the process, the consent file's, the spool's or the local
/// file's), and for counting the launch of an uploader.
pub(crate) const BUDGET: Duration = Duration::from_millis(3);

/// What a recording run's events go through.
type Active = crate::context::Active<crate::Redact<Recording>>;

/// Starts the uploader (with `upload`), when a panic's record found one
/// due, waiting at most the given time for the state file's lock.
pub(crate) type Launch = Box<dyn Fn(Duration) + Send + Sync>;

/// What counting panics needs outside this module, as function pointers:
/// `count_panics` sets them, so only a tool that calls it links the hook,
/// the places and the merging.
#[derive(Clone, Copy)]
pub(crate) struct Support {
    /// Installs the hook for a recording run (see [`install_for`]).
    pub(crate) install: fn(&Arc<Active>, Option<u32>, Option<Launch>),
    /// The catalogue with the `panic` event.
    pub(crate) with_panic: fn(CatalogSpec) -> CatalogSpec,
    /// What `show --catalog` says of panics without a catalogue.
    pub(crate) untyped: fn(&str) -> String,
    /// An upload's records, a place's panics as one record.
    #[cfg(feature = "upload")]
    pub(crate) merge: fn(Vec<crate::pipeline::spool::Line>) -> Vec<crate::pipeline::spool::Line>,
}

impl std::fmt::Debug for Support {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("panics::Support")
    }
}

/// The support `count_panics` sets.
pub(crate) const SUPPORT: Support = Support {
    install: install_for,
    with_panic: crate::catalog::with_panic,
    untyped: crate::catalog::panics_untyped,
    #[cfg(feature = "upload")]
    merge,
};

/// Installs the hook for the run `active` records with (its tool and
/// version name the tool's own places; the user's names are the ones the
/// scrubber removes).
fn install_for(active: &Arc<Active>, catalog_version: Option<u32>, launch: Option<Launch>) {
    let owner = Owner {
        tool: active.tool.clone(),
        version: active.tool_version.clone(),
        users: crate::redact::user_names()
            .iter()
            .map(|name| name.to_lowercase())
            .collect(),
    };
    install(Counter::new(
        Arc::downgrade(active),
        owner,
        catalog_version,
        launch,
    ));
}

/// What the hook records with.
pub(crate) struct Counter {
    /// The run's recorder; gone once the handle is dropped.
    active: Weak<Active>,
    owner: Owner,
    /// The tool's catalogue's version, if it declares one (the `panic`
    /// event is in it).
    catalog_version: Option<u32>,
    launch: Option<Launch>,
    seen: AtomicU32,
    /// Panics recorded and not yet written (held only to push or take).
    queue: Mutex<Vec<Event>>,
    /// Held by the hook that writes.
    writing: Mutex<()>,
}

/// Whether a hook is installed in this process (one: the first handle
/// that asks).
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs the hook, once per process: `false` when one already was, or
/// when this thread is panicking (std does not let a panicking thread
/// change the hook: a handle made in a `Drop` during unwinding counts no
/// panics).
pub(crate) fn install(counter: Counter) -> bool {
    if std::thread::panicking() || INSTALLED.swap(true, Ordering::AcqRel) {
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
    /// Adds `events` to the queue: `false` if its lock stayed busy.
    fn enqueue(&self, events: Vec<Event>, patience: Duration) -> bool {
        let Some(mut queue) = crate::fs::try_mutex(&self.queue, patience) else {
            return false;
        };
        queue.extend(events);
        true
    }

    pub(crate) fn new(
        active: Weak<Active>,
        owner: Owner,
        catalog_version: Option<u32>,
        launch: Option<Launch>,
    ) -> Self {
        Self {
            active,
            owner,
            catalog_version,
            launch,
            seen: AtomicU32::new(0),
            queue: Mutex::new(Vec::new()),
            writing: Mutex::new(()),
        }
    }

    /// Records a panic at `location`. Never panics itself: a panic in a
    /// panic hook aborts the process.
    fn count(&self, location: &Location<'_>) {
        let deadline = Instant::now() + BUDGET;
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
        let left = || deadline.saturating_duration_since(Instant::now());
        // Queued first: if another hook is writing, it writes this too.
        if !self.enqueue(vec![event], left()) {
            return;
        }
        let mut due = false;
        let mut patience = left();
        // A few rounds at most: what others queued while this one wrote.
        for _ in 0..4 {
            let Some(writing) = crate::fs::try_mutex(&self.writing, patience) else {
                break; // the hook that holds it writes what is queued
            };
            let Some(mut queue) = crate::fs::try_mutex(&self.queue, left()) else {
                break;
            };
            let events = merged(std::mem::take(&mut *queue));
            drop(queue);
            if events.is_empty() {
                break;
            }
            let claim = self.launch.is_some();
            match active
                .sink
                .inner()
                .write_from_hook(&events, deadline, claim)
            {
                FromHook::Written { due: claimed } => due |= claimed,
                FromHook::Busy => {
                    // Back in the queue, for the next panic's hook (lost
                    // if none comes: the budget is spent, and the process
                    // is ending).
                    self.enqueue(events, left());
                    break;
                }
                FromHook::Dropped => {}
            }
            drop(writing);
            patience = Duration::ZERO; // the next holder writes the rest
        }
        if due && let Some(launch) = &self.launch {
            launch(left());
        }
        // Never let go here: were the handle dropped meanwhile, this would
        // be the last reference, and its end (counting what it could not,
        // waiting for a lock) would run inside the panic hook. One count
        // per panic is leaked; the run's recorder then outlives its handle.
        std::mem::forget(active);
    }
}

/// The largest count (`i64::MAX`: OTLP's `int_value`).
const MAX_COUNT: u64 = i64::MAX as u64;

/// A count as the catalogue's `count` kind allows it: a canonical decimal
/// from 1 to `i64::MAX`.
pub(crate) fn count_of(text: &str) -> Option<u64> {
    crate::catalog::number(text).filter(|&n| n > 0 && n <= MAX_COUNT)
}

/// `a + b`, held at the most a count can say.
pub(crate) fn add(a: u64, b: u64) -> u64 {
    a.saturating_add(b).min(MAX_COUNT)
}

/// The queued panics, one event per place with the counts summed (the
/// first's time).
fn merged(queued: Vec<Event>) -> Vec<Event> {
    let mut out: Vec<(Event, u64)> = Vec::new();
    for event in queued {
        let n = event
            .attrs
            .get(COUNT)
            .and_then(|c| count_of(c))
            .unwrap_or(1);
        match out
            .iter_mut()
            .find(|(first, _)| first.attrs.get(PLACE) == event.attrs.get(PLACE))
        {
            Some((_, count)) => *count = add(*count, n),
            None => out.push((event, n)),
        }
    }
    out.into_iter()
        .map(|(event, n)| event.with_attr(COUNT, n.to_string()))
        .collect()
}
