//! The `telemetry` verbs and `status`.

use super::Telemetry;
use crate::TelemetryError;
use crate::consent::{CommandReport, PolicySource, StatusReport, TelemetryCommand};

#[cfg(feature = "upload")]
#[path = "spool_status.rs"]
mod spool;

/// Without `upload` there is no spool to speak of.
#[cfg(not(feature = "upload"))]
mod spool {
    use crate::consent::{ConsentStore, StatusReport};
    use crate::pipeline::plan::Plan;

    pub(super) fn show(_: &Plan, _: &ConsentStore, _: &mut String) -> bool {
        false
    }

    pub(super) fn decorate(_: &Plan, _: &ConsentStore, _: &mut StatusReport) {}

    pub(super) fn waits(_: &Plan, _: &str) -> bool {
        false
    }
}

impl<Cat: crate::catalog::Described> Telemetry<Cat> {
    /// Runs a `telemetry` verb (see [`TelemetryCommand`], a ready clap
    /// subcommand with the `clap` feature) and says what to print. Never
    /// fails: print the report and exit 0.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::{Env, Telemetry, consent::ConsentStore};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (file, data) = (dir.path().join("c.json"), dir.path().join("d"));
    /// # ConsentStore::at("mytool", &file, &data).enable().unwrap();
    /// # let telemetry = Telemetry::builder("mytool", "1.0.0")
    /// #     .env(Env::from_vars::<_, &str, &str>([]))
    /// #     .paths(&file, &data)
    /// #     .init();
    /// use rtb_telemetry::consent::TelemetryCommand;
    ///
    /// let report = telemetry.command(TelemetryCommand::Disable);
    /// assert!(report.to_string().contains("telemetry: disabled"));
    /// ```
    #[must_use]
    pub fn command(&self, verb: TelemetryCommand) -> CommandReport {
        let inner = &*self.inner;
        if let TelemetryCommand::Show {
            catalog: true,
            json,
        } = verb
        {
            let spec = Cat::spec()
                .map(crate::catalog::with_own_events)
                .map(|spec| match inner.panics {
                    Some(panics) => (panics.with_panic)(spec),
                    None => spec,
                });
            let mut text = crate::catalog::show(&inner.tool, spec.as_ref(), json);
            if let Some(panics) = inner.panics.filter(|_| spec.is_none() && !json) {
                text.push_str(&(panics.untyped)(&inner.tool));
            }
            return CommandReport::text(text);
        }
        if let Some(store) = &inner.store {
            return verb.execute(
                store,
                &inner.plan.inputs.base_salt,
                &self.destination(),
                &|status| self.decorate(status),
                &|status, out| self.show(store, status, out),
            );
        }
        let status = self.status();
        let tool = &inner.tool;
        let why = &inner.plan.problems().join("; ");
        match verb {
            TelemetryCommand::Status => CommandReport::text(status.to_string()),
            TelemetryCommand::Show { .. } => CommandReport::text(format!(
                "telemetry: disabled\ndecided by: {}\ntelemetry is off: nothing is recorded or \
                 sent, so there is nothing to show",
                status.source
            )),
            TelemetryCommand::Enable => CommandReport::failed(
                format!(
                    "{tool}: {} did not succeed: {why}\n{status}",
                    crate::consent::verb_as(tool, inner.verbs.as_deref(), "enable")
                ),
                TelemetryError::config(
                    format!("{tool} has nowhere to keep a decision: {why}"),
                    "set HOME (or the platform's equivalent); until then telemetry stays off",
                ),
            ),
            TelemetryCommand::Disable | TelemetryCommand::Reset => {
                CommandReport::text(format!("{tool}: nothing to change: {why}\n{status}"))
            }
        }
    }
}

impl<Cat> Telemetry<Cat> {
    /// What `telemetry status` shows: on or off and who decided, the id,
    /// where events go, events waiting, the last and the next upload,
    /// what was dropped, refused or could not be written, and every
    /// problem.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::{Env, Telemetry, consent::ConsentStore};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (file, data) = (dir.path().join("c.json"), dir.path().join("d"));
    /// # ConsentStore::at("mytool", &file, &data).enable().unwrap();
    /// # let telemetry = Telemetry::builder("mytool", "1.0.0")
    /// #     .env(Env::from_vars::<_, &str, &str>([]))
    /// #     .paths(&file, &data)
    /// #     .init();
    /// let status = telemetry.status();
    /// assert!(status.enabled);
    /// assert!(status.to_string().contains("kept on this machine"));
    /// ```
    #[must_use]
    pub fn status(&self) -> StatusReport {
        let inner = &*self.inner;
        match &inner.store {
            Some(store) => {
                let mut status =
                    StatusReport::new(store, &inner.plan.inputs.base_salt, &self.destination());
                self.decorate(&mut status);
                status
            }
            None => StatusReport::unavailable(inner.plan.problems()),
        }
    }

    /// Where events go, as `status` shows it: what the plan resolved.
    fn destination(&self) -> String {
        self.inner
            .plan
            .destination()
            .map(|resolved| resolved.destination.describe())
            .unwrap_or_default()
    }

    fn decorate(&self, status: &mut StatusReport) {
        let inner = &*self.inner;
        if inner.reports {
            // Report mode derives and sends no id: none to show.
            status.machine_id = None;
            status.delivery.push(
                "report mode: counts per week, one report a week with a fresh random id and no \
                 machine id (`telemetry show` prints the week being counted)"
                    .to_owned(),
            );
        }
        for problem in inner.plan.problems() {
            if !status.problems.contains(&problem) {
                status.problems.push(problem);
            }
        }
        if status.enabled
            && let Some(limit) = crate::fs::size_limit()
        {
            status.problems.push(format!(
                "the process's file-size limit (`ulimit -f`) is {limit} bytes: no telemetry \
                 file grows past it, and events that would not fit are dropped (counted, like \
                 a full spool's)"
            ));
        }
        if let Some(store) = &inner.store {
            spool::decorate(&inner.plan, store, status);
        }
    }

    /// What `telemetry show` lists when telemetry is on: where events go,
    /// then what waits in the spool and the last uploads.
    fn show(&self, store: &crate::consent::ConsentStore, status: &StatusReport, out: &mut String) {
        use std::fmt::Write as _;
        if let Some(variable) = &status.debug_variable {
            let _ = write!(
                out,
                "\ndebug mode ({variable} is set): each event is printed to stderr as it is \
                 recorded; nothing is kept or sent"
            );
            return;
        }
        if let Some(destination) = &status.destination {
            let _ = write!(
                out,
                "\nevents go to: {}",
                crate::text::printable(destination)
            );
        }
        if let Some(counting) = &self.inner.counting {
            let plan = &self.inner.plan;
            let waits = |id: &str| spool::waits(plan, id);
            let _ = write!(
                out,
                "\n{}",
                counting.show(store.data_dir(), &waits).trim_end()
            );
        }
        if spool::show(&self.inner.plan, store, out) {
            return;
        }
        let _ = write!(
            out,
            "\nno collector is configured: events are kept in {} and nothing is sent",
            crate::text::shown(&store.events_path())
        );
    }
}

impl StatusReport {
    /// The status when there is nowhere to keep a decision.
    pub(crate) fn unavailable(problems: Vec<String>) -> Self {
        let mut status = Self::off(PolicySource::Unavailable(
            problems
                .first()
                .cloned()
                .unwrap_or_else(|| "telemetry is unavailable".to_owned()),
        ));
        status.problems = problems.into_iter().skip(1).collect();
        status
    }
}
