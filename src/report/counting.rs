//! A run's counts, in memory: a dense table of atomic counters per event
//! (or a map under a lock for an event of many combinations), taken out
//! as the run ends.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use super::Settings;
use super::merge::Disk;
use crate::catalog::shape::{EventShape, Shape};
use crate::catalog::{CatalogEvent, CatalogSpec, Key};
use crate::{TelemetryError, text};

/// A run's counts taken out: (event's place, key) and count.
pub(crate) type Taken = [((usize, u64), u64)];

/// An event with at most this many combinations of values is counted in
/// a dense table of its own (an atomic add at the key's place: no lock,
/// no hash); one with more in a map under a lock.
const DENSE_MAX: u64 = 4096;

/// This run's counts, in memory.
struct Table {
    /// Per event (by place), made at its first count when it is small.
    dense: Vec<OnceLock<Box<[AtomicU64]>>>,
    /// (event's place, key) and count, for the events with many keys: a
    /// list searched in order (a run counts a handful of them; a map's
    /// code would weigh on every tool, report mode or not).
    sparse: Mutex<Vec<((usize, u64), u64)>>,
}

impl Table {
    fn new(events: usize) -> Self {
        Self {
            dense: (0..events).map(|_| OnceLock::new()).collect(),
            sparse: Mutex::new(Vec::new()),
        }
    }

    /// Adds `n` at `key` of the event at `index`.
    #[inline]
    fn add(&self, index: usize, event: &EventShape, key: u64, n: u64) {
        if event.combinations <= DENSE_MAX
            && let Some(dense) = self.dense.get(index)
        {
            let slots = match dense.get() {
                Some(slots) => slots,
                None => Self::make(dense, event),
            };
            if let Some(slot) = usize::try_from(key).ok().and_then(|k| slots.get(k)) {
                slot.fetch_add(n, Ordering::Relaxed);
            }
        } else {
            self.add_sparse(index, key, n);
        }
    }

    /// An event's dense table, at its first count (one copy for every
    /// event: not in each event's code).
    #[cold]
    #[inline(never)]
    fn make<'a>(dense: &'a OnceLock<Box<[AtomicU64]>>, event: &EventShape) -> &'a [AtomicU64] {
        dense.get_or_init(|| (0..event.combinations).map(|_| AtomicU64::new(0)).collect())
    }

    #[cold]
    #[inline(never)]
    fn add_sparse(&self, index: usize, key: u64, n: u64) {
        let mut sparse = self.sparse.lock().unwrap_or_else(PoisonError::into_inner);
        match sparse.iter_mut().find(|(at, _)| *at == (index, key)) {
            Some((_, count)) => *count = count.saturating_add(n),
            None => sparse.push(((index, key), n)),
        }
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
        out.append(&mut sparse);
        out
    }
}

/// Where a run's counts go as it ends: behind a trait object, so a tool
/// that never asks for reports links none of its code (not even the drop
/// of what it holds).
pub(crate) trait Keeper: Send + Sync {
    /// Debug mode: the tool's name (each count printed, nothing kept).
    fn debug_tool(&self) -> Option<&str> {
        None
    }
    /// Adds `taken` to the week's counts (see `Disk::merge`).
    fn merge(
        &self,
        shape: &Shape,
        settings: &Settings,
        taken: &Taken,
    ) -> Result<(), super::merge::NotMerged>;
    /// The spool, when sealed reports go to one.
    #[cfg(feature = "upload")]
    fn spool(&self) -> Option<&crate::pipeline::spool::SpoolSink> {
        None
    }
}

/// Debug mode: each count printed on stderr, nothing kept or sent.
pub(super) struct Printed(pub(super) String);

impl Keeper for Printed {
    fn debug_tool(&self) -> Option<&str> {
        Some(&self.0)
    }
    fn merge(&self, _: &Shape, _: &Settings, _: &Taken) -> Result<(), super::merge::NotMerged> {
        Ok(())
    }
}

impl Keeper for Disk {
    fn merge(
        &self,
        shape: &Shape,
        settings: &Settings,
        taken: &Taken,
    ) -> Result<(), super::merge::NotMerged> {
        Disk::merge(self, shape, settings, taken)
    }
    #[cfg(feature = "upload")]
    fn spool(&self) -> Option<&crate::pipeline::spool::SpoolSink> {
        self.out.spool()
    }
}

/// A handle's counting: the catalogue's shape, the rates, this run's
/// counts and where they go.
pub(crate) struct Counting {
    shape: Shape,
    settings: Settings,
    table: Table,
    keep: Box<dyn Keeper>,
    /// Debug mode (each count printed): read without a virtual call.
    debug: bool,
}

impl fmt::Debug for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counting").finish_non_exhaustive()
    }
}

impl Counting {
    pub(super) fn new(spec: &CatalogSpec, settings: Settings, keep: Box<dyn Keeper>) -> Self {
        let shape = Shape::of(spec);
        Self {
            table: Table::new(shape.events.len()),
            shape,
            settings,
            debug: keep.debug_tool().is_some(),
            keep,
        }
    }

    /// Adds one to `event`'s counter: in memory, no lock and no
    /// allocation once the event was counted (for an event of at most
    /// 4,096 combinations of values whose values are a catalogue's
    /// `enum`s, `buckets`, `bool`s and `Duration`s; a clap value or a
    /// command name is looked up by its name).
    ///
    /// Only the key is the event's own code (a few instructions per attr);
    /// the rest is one copy for every event (`docs/benchmarks.md`: a
    /// declared catalogue's weight).
    #[inline]
    pub(crate) fn count<E: CatalogEvent>(&self, event: &E) {
        let Some(shape) = self.shape.events.get(E::INDEX) else {
            return;
        };
        let mut key = Key::new(shape);
        event.write_key(&mut key);
        if let Some(key) = key.value() {
            self.table.add(E::INDEX, shape, key, 1);
            if self.debug {
                self.print(shape, key);
            }
        }
    }

    /// Debug mode's line for a count (one copy for every event).
    #[cold]
    #[inline(never)]
    fn print(&self, shape: &EventShape, key: u64) {
        if let Some(tool) = self.keep.debug_tool() {
            (self.settings.support.debug)(tool, shape, key);
        }
    }

    /// Adds one to the counter of the event named `name` with `attrs` (the
    /// crate's own events, e.g. clap's usage errors).
    pub(crate) fn count_named(&self, name: &str, attrs: &HashMap<String, String>) {
        (self.settings.support.count_named)(self, name, attrs);
    }

    /// [`count_named`](Self::count_named)'s work (reached through `Support`).
    pub(super) fn count_named_run(&self, name: &str, attrs: &HashMap<String, String>) {
        let Some((index, shape)) = self.shape.find(name) else {
            return;
        };
        if attrs.len() != shape.attrs.len() {
            return;
        }
        let Some(key) = shape.key_by(|name| attrs.get(name).map(String::as_str)) else {
            return;
        };
        self.table.add(index, shape, key, 1);
        if let Some(tool) = self.keep.debug_tool() {
            (self.settings.support.debug)(tool, shape, key);
        }
    }

    /// Adds this run's counts to the week's, and seals a week that is
    /// over. What could not be merged stays in memory for the next call.
    pub(crate) fn flush(&self) -> Result<(), TelemetryError> {
        (self.settings.support.flush)(self)
    }

    /// [`flush`](Self::flush)'s work (reached through `Support`).
    pub(super) fn flush_run(&self) -> Result<(), TelemetryError> {
        let taken = self.table.take();
        if taken.is_empty() {
            return Ok(());
        }
        match self.keep.merge(&self.shape, &self.settings, &taken) {
            Ok(()) => Ok(()),
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

    /// What `telemetry show` says of report mode.
    pub(crate) fn show(&self, data_dir: &std::path::Path, waits: &dyn Fn(&str) -> bool) -> String {
        (self.settings.support.show)(data_dir, waits)
    }

    /// The spool, when sealed reports go to one.
    #[cfg(feature = "upload")]
    pub(crate) fn spool(&self) -> Option<&crate::pipeline::spool::SpoolSink> {
        self.keep.spool()
    }
}

/// Debug mode's line for one count.
pub(super) fn debug_line(tool: &str, shape: &EventShape, key: u64) {
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
