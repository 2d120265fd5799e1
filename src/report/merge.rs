//! As a run ends: its counts added to the week's, under the consent lock
//! and only while the decision it counted under holds; a week that is
//! over sealed into a report, sampled, and handed to where events go.

use super::Settings;
use super::counts::{self, Files};
use super::wire::{self, Last, Report};
use crate::TelemetryError;
use crate::catalog::shape::Shape;
use crate::consent::ConsentStore;
use crate::pipeline::plan::Recording;

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
        wire::decision_of(&self.salt, self.since.as_deref())
    }

    pub(super) fn merge(
        &self,
        shape: &Shape,
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
        shape: &Shape,
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
