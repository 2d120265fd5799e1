//! The counts file: the week being built, kept between runs
//! (`<data dir>/report/counts.json`), merged into under `counts.lock` as
//! each run ends, and sealed into a report once its week is over.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::wire::{self, Last, Tally};
use crate::pipeline::layout;
use crate::{TelemetryError, text};

/// The largest counts file read: far above what a catalogue's counters
/// take (a few KB); anything larger is not ours, and starts again.
const MAX_FILE: u64 = 4 * 1024 * 1024;
/// How long a run's end waits for another run's merge.
pub(super) const MERGE_PATIENCE: Duration = Duration::from_secs(2);

/// The counts of one week and one version of the catalogue, counted under
/// one decision (`of`); the tool's version is the one that counted last (a
/// week with an upgrade reports under the newer version: one report a
/// week).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Section {
    pub(crate) week: String,
    pub(crate) tool_version: String,
    pub(crate) catalog_version: u32,
    /// The decision the counts were made under (a hash of the install's
    /// salt and when the user opted in; never sent): counts of another
    /// are never reported.
    pub(crate) of: String,
    pub(crate) counters: Vec<Tally>,
    /// Once its week is over: the report's id and random number, kept
    /// until it is handed over, so a retry is the same report (the same
    /// id, for the collector to keep once; the same sampling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sealed: Option<(String, f64)>,
}

/// What `counts.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Counts {
    #[serde(default)]
    pub(crate) sections: Vec<Section>,
}

impl Section {
    /// Adds `count` to the counter of `event` with `attrs`.
    pub(crate) fn add(&mut self, event: &str, attrs: &BTreeMap<String, String>, count: u64) {
        match self
            .counters
            .iter_mut()
            .find(|t| t.event == event && t.attrs == *attrs)
        {
            Some(tally) => tally.count = tally.count.saturating_add(count),
            None => self.counters.push(Tally {
                event: event.to_owned(),
                attrs: attrs.clone(),
                count,
            }),
        }
    }
}

/// The report directory's files.
pub(crate) struct Files {
    pub(crate) dir: PathBuf,
}

impl Files {
    pub(crate) fn new(data_dir: &Path) -> Self {
        Self {
            dir: layout::report_dir(data_dir),
        }
    }

    pub(crate) fn counts(&self) -> PathBuf {
        self.dir.join(layout::report::COUNTS)
    }

    pub(crate) fn lock(&self) -> PathBuf {
        self.dir.join(layout::report::LOCK)
    }

    pub(crate) fn last(&self) -> PathBuf {
        self.dir.join(layout::report::LAST)
    }

    /// The directory, made private if it is not there (refused if it is
    /// not the user's own).
    pub(crate) fn prepare(&self) -> Result<(), TelemetryError> {
        if let Some(data_dir) = self.dir.parent() {
            crate::fs::check_private_dir(data_dir)
                .map_err(|e| TelemetryError::io("use", data_dir, e))?;
        }
        crate::fs::check_private_dir(&self.dir)
            .map_err(|e| TelemetryError::io("use", &self.dir, e))?;
        if !self.dir.is_dir() {
            crate::fs::create_private_dir_all(&self.dir)
                .map_err(|e| TelemetryError::io("create", &self.dir, e))?;
        }
        Ok(())
    }

    /// What `counts.json` holds; nothing when it is missing, and (so one
    /// bad file never stops counting) when it is not a file of ours: not a
    /// regular file, too large, or not our JSON. `Err` when it could not be
    /// read now (out of descriptors, say): the merge waits, and overwrites
    /// nothing.
    pub(crate) fn read(&self) -> Result<Counts, TelemetryError> {
        let path = self.counts();
        match crate::fs::read_small_bytes(&path, MAX_FILE, false) {
            Ok(bytes) => Ok(bytes
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or_default()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData
                ) =>
            {
                Ok(Counts::default())
            }
            Err(e) => Err(TelemetryError::io("read", &path, e)),
        }
    }

    /// Replaces `counts.json` whole (0600), or removes it when nothing is
    /// counted; synced to disk only if `sync` (a run's counts, which a
    /// crash may lose, do not wait for the disk at every run's end: ~0.5
    /// ms; a week's sealed id does, so a retry is the same report).
    pub(crate) fn write(&self, counts: &Counts, sync: bool) -> Result<(), TelemetryError> {
        let path = self.counts();
        if counts.sections.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(TelemetryError::io("remove", &path, e))
                }
                _ => Ok(()),
            };
        }
        let bytes = serde_json::to_vec(counts)
            .map_err(|e| TelemetryError::serde(format_args!("the week's counts"), e))?;
        crate::fs::write_replacing(&path, &bytes, 0o600, sync)
            .map_err(|e| TelemetryError::io("write", &path, e))
    }

    /// The last report sealed, as `telemetry show` shows it.
    pub(crate) fn read_last(&self) -> Option<Last> {
        let bytes = crate::fs::read_small_bytes(&self.last(), MAX_FILE, false).ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    pub(crate) fn write_last(&self, last: &Last) -> Result<(), TelemetryError> {
        let path = self.last();
        let bytes = serde_json::to_vec(last)
            .map_err(|e| TelemetryError::serde(format_args!("the last report"), e))?;
        crate::fs::write_atomic(&path, &bytes, 0o600)
            .map_err(|e| TelemetryError::io("write", &path, e))
    }
}

/// What `telemetry show` says of report mode: the week being built, and
/// the last report.
pub(crate) fn show(data_dir: &std::path::Path, waiting: &dyn Fn(&str) -> bool) -> String {
    use std::fmt::Write as _;
    let files = Files::new(data_dir);
    let mut out = String::from("report mode: counts per week, one report a week, no install id\n");
    let counts = files.read().unwrap_or_default();
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
