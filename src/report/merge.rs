//! As a run ends: its counts added to the week's, under the consent lock
//! and only while the decision it counted under holds; a week that is
//! over sealed into a report, sampled, and handed to where events go.

use std::time::Duration;

use super::Settings;
use super::counts::{self, Files};
use super::wire::{self, Last, Report};
use crate::TelemetryError;
use crate::catalog::shape::Shape;
use crate::consent::ConsentStore;
use crate::pipeline::plan::Recording;

/// A week over for longer than this is dropped unsent (the spool's
/// default age bound): counts that old tell the authors nothing now.
const MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

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

/// Why a merge wrote nothing, and whether the counts may be tried again
/// (`false`: telemetry is off, or was turned on again since the run
/// began; they are dropped).
pub(crate) type NotMerged = (TelemetryError, bool);

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
        wire::decision_of(&self.salt, self.since.as_deref())
    }

    pub(super) fn merge(
        disk: &Self,
        shape: &Shape,
        settings: &Settings,
        taken: &super::counting::Taken,
    ) -> Result<(), NotMerged> {
        if crate::env::BUILT_WITHOUT_TELEMETRY {
            // Never reached (such a build counts nothing); said here so
            // none of this is in its binary (benches/weight.py).
            return Ok(());
        }
        {
            // Under the consent lock (shared): no `disable` or `reset` is
            // half done, and none can start until the counts are written.
            let Some(_on) = disk.store.still_on(counts::MERGE_PATIENCE, &disk.salt) else {
                return Err(disk.off());
            };
            // Enabled again since the run began (after a `disable`): what
            // it counted is from before the latest opt-in.
            if disk.store.opted_in_at() != disk.since {
                return Err(disk.off());
            }
            disk.files.prepare().map_err(|e| (e, true))?;
            let lock_path = disk.files.lock();
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
            let now = std::time::SystemTime::now();
            let week = crate::timestamp::week_of(now);
            let mut counts = disk.files.read().map_err(|e| (e, true))?;
            disk.add(&mut counts, &week, shape, taken);
            // A week that is over (or, after the clock went back, ahead)
            // is sealed: its id and number fixed and written first, so a
            // report handed over twice (a failed write after) is one
            // report to the collector.
            // `checked_sub`: a clock at (or before) the epoch is no panic.
            let too_old = crate::timestamp::week_of(
                now.checked_sub(MAX_AGE).unwrap_or(std::time::UNIX_EPOCH),
            );
            counts
                .sections
                .retain(|s| s.week == week || s.week.as_str() >= too_old.as_str());
            let mut sealed_now = false;
            for section in counts.sections.iter_mut().filter(|s| s.week != week) {
                if section.sealed.is_none() {
                    section.sealed = Some(wire::fresh_id_and_x(disk.salt.as_bytes()));
                    sealed_now = true;
                }
            }
            if sealed_now {
                disk.files.write(&counts, true).map_err(|e| (e, true))?;
            }
            // From here the file holds this run's counts: a failure below
            // must not give them back to be merged again.
            let mut first = None;
            counts.sections.retain(|section| {
                let Some((id, x)) = &section.sealed else {
                    return true;
                };
                match disk.seal(shape, settings, section, id, *x) {
                    Ok(()) => false,
                    Err(e) => {
                        first.get_or_insert(e);
                        true // tried again next run, as the same report
                    }
                }
            });
            disk.files
                .write(&counts, false)
                .map_err(|e| (e, !sealed_now))?;
            if let Some(e) = first {
                return Err((e, false));
            }
        }
        // A run held up between its check and its write past an opt-out:
        // what it wrote goes again at once.
        if !disk.store.still_ours(&disk.salt) {
            disk.store.discard_unsent();
            return Err(disk.off());
        }
        Ok(())
    }

    /// Adds this run's counts to `week`'s section, dropping the sections
    /// of any other decision (never reported).
    fn add(
        &self,
        counts: &mut counts::Counts,
        week: &str,
        shape: &Shape,
        taken: &super::counting::Taken,
    ) {
        let of = self.of();
        counts.sections.retain(|s| s.of == of);
        let found = counts.sections.iter().position(|s| {
            s.week == week && s.catalog_version == self.catalog_version && s.sealed.is_none()
        });
        let at = found.unwrap_or_else(|| {
            counts.sections.push(counts::Section {
                week: week.to_owned(),
                tool_version: self.tool_version.clone(),
                catalog_version: self.catalog_version,
                of,
                counters: Vec::new(),
                sealed: None,
            });
            counts.sections.len() - 1
        });
        let section = &mut counts.sections[at];
        section.tool_version.clone_from(&self.tool_version);
        for &((index, key), n) in taken {
            let Some(event) = shape.events.get(index) else {
                continue;
            };
            if let Some(values) = event.values_of(key) {
                section.add(&event.name, &values, n);
            }
        }
    }

    /// Hands `section`'s week over as report `id` of number `x`: sampled,
    /// only the counters the catalogue declares, and noted as the last.
    fn seal(
        &self,
        shape: &Shape,
        settings: &Settings,
        section: &counts::Section,
        id: &str,
        x: f64,
    ) -> Result<(), TelemetryError> {
        // Only what this catalogue declares goes: a counter the file holds
        // and the catalogue does not (a hand-edited file, a catalogue
        // changed without a new version, a week counted by another
        // version of it) is dropped with the week.
        let declared = section.counters.iter().filter_map(|t| {
            let (index, event) = shape.find(&t.event)?;
            event.key_of(&t.attrs)?;
            Some((t, settings.rate_of(Some(index))))
        });
        let report = Report {
            tool: self.tool.clone(),
            tool_version: section.tool_version.clone(),
            catalog_version: section.catalog_version,
            week: section.week.clone(),
            x,
            rate: settings.rate,
            counters: wire::sampled(x, declared),
        };
        let sent = x < settings.rate && !report.counters.is_empty();
        if sent {
            self.hand_over(id, &report, &section.of)?;
        }
        let last = Last {
            id: id.to_owned(),
            sent,
            report,
        };
        let _ = self.files.write_last(&last);
        Ok(())
    }

    /// Hands `report` to where events go.
    fn hand_over(&self, id: &str, report: &Report, of: &str) -> Result<(), TelemetryError> {
        match &self.out {
            #[cfg(feature = "upload")]
            Recording::Spool(spool) => {
                let mut json = Vec::new();
                crate::event::write_json(&mut json, report).map_err(|e| {
                    TelemetryError::serde(format_args!("the report of {}", report.week), e)
                })?;
                // Written by `write_json`: UTF-8.
                let json = String::from_utf8_lossy(&json).into_owned();
                spool.append_report(id, &report.week, json, of)
            }
            Recording::File(file) => {
                let _ = of; // the local file is not sent: no decision to check
                let mut line = Vec::new();
                wire::write_line(&mut line, id, report).map_err(|e| {
                    TelemetryError::serde(format_args!("the report of {}", report.week), e)
                })?;
                file.write_line(&line)
            }
            Recording::Debug(_) => Ok(()),
        }
    }
}
