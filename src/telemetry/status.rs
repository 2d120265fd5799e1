//! The `telemetry` verbs and `status`.

use super::Telemetry;
use crate::TelemetryError;
use crate::consent::{CommandReport, PolicySource, StatusReport, TelemetryCommand};
use crate::delivery;

impl Telemetry {
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
        if let Some(store) = &inner.store {
            let destination = self.destination();
            return verb.execute(
                store,
                &inner.salt,
                &destination.0,
                &|status| self.decorate(status, &destination.1),
                &|status, out| self.show(store, status, out),
            );
        }
        let status = self.status();
        let tool = &inner.tool;
        let why = &inner.problems.join("; ");
        match verb {
            TelemetryCommand::Status => CommandReport::text(status.to_string()),
            TelemetryCommand::Show => CommandReport::text(format!(
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
                let destination = self.destination();
                let mut status = StatusReport::new(store, &inner.salt, &destination.0);
                self.decorate(&mut status, &destination.1);
                status
            }
            None => StatusReport::unavailable(inner.problems.clone()),
        }
    }

    /// The destination as `status` shows it, and its problems. Reads the
    /// destination variables: only `status` and an enabled handle do.
    fn destination(&self) -> (String, Vec<String>) {
        let inner = &*self.inner;
        let Some(store) = &inner.store else {
            return (String::new(), Vec::new());
        };
        if crate::consent::switches::BUILD_DISABLED {
            return (String::new(), Vec::new());
        }
        let resolved =
            delivery::resolve(&inner.prefix, &inner.env, &inner.defaults, store.data_dir());
        (resolved.target.describe(), resolved.problems)
    }

    fn decorate(&self, status: &mut StatusReport, destination_problems: &[String]) {
        let inner = &*self.inner;
        for problem in inner.problems.iter().chain(destination_problems) {
            if !status.problems.contains(problem) {
                status.problems.push(problem.clone());
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
        #[cfg(feature = "http")]
        if let Some(store) = &inner.store
            && !crate::consent::switches::BUILD_DISABLED
        {
            self.decorate_spool(status, store);
        }
    }

    /// What `telemetry show` lists when telemetry is on: where events go,
    /// then what waits in the spool and the last uploads.
    #[cfg_attr(
        not(feature = "http"),
        expect(clippy::unused_self, reason = "the spool's part needs it")
    )]
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
                crate::redact::printable(destination)
            );
        }
        #[cfg(feature = "http")]
        if !crate::consent::switches::BUILD_DISABLED && self.show_spool(store, out) {
            return;
        }
        let _ = write!(
            out,
            "\nno collector is configured: events are kept in {} and nothing is sent",
            crate::fs::shown(&store.events_path())
        );
    }

    /// The spool's part of `show`; `false` when no collector is configured.
    #[cfg(feature = "http")]
    fn show_spool(&self, store: &crate::consent::ConsentStore, out: &mut String) -> bool {
        use std::fmt::Write as _;
        let inner = &*self.inner;
        let resolved =
            delivery::resolve(&inner.prefix, &inner.env, &inner.defaults, store.data_dir());
        let delivery::Target::Remote(remote) = resolved.target else {
            return false;
        };
        let spool = inner.spool(store);
        let Some(pass) = store.pass(&inner.salt, std::time::Duration::from_secs(1)) else {
            // Turned off, or the decision is busy being changed.
            let _ = write!(out, "\nnothing to show: the decision is being changed");
            return true;
        };
        let filter = crate::spool::upload::Filter::new(&pass, spool.max_age, &remote.id());
        drop(pass);
        let (records, damaged) = spool.waiting_records();
        let (send, other): (Vec<_>, Vec<_>) = records
            .into_iter()
            .partition(|(record, _)| filter.sends(record));
        if send.is_empty() {
            let _ = write!(out, "\nwaiting to be sent: nothing");
        } else {
            let _ = write!(out, "\n{}", next_upload(&spool));
            let how = if remote.protocol.starts_with("OTLP") {
                ": each event's record below becomes one OTLP log record (protobuf), as the \
                 README's \"Where events go\" maps it"
            } else {
                ", each exactly as it will be sent (a request's body is a JSON array of them)"
            };
            let _ = write!(
                out,
                "\nwaiting to be sent: {}{how}:",
                events(send.len() as u64)
            );
            let mut line = Vec::new();
            for (record, _) in send.iter().take(SHOWN) {
                line.clear();
                if record.write_line(&mut line, true).is_ok() {
                    let _ = write!(out, "\n{}", String::from_utf8_lossy(&line).trim_end());
                }
            }
            if send.len() > SHOWN {
                let _ = write!(
                    out,
                    "\n… and {} more, oldest shown first (all in {})",
                    send.len() - SHOWN,
                    crate::fs::shown(spool.dir())
                );
            }
        }
        if !other.is_empty() {
            let _ = write!(
                out,
                "\nnever to be sent: {} recorded before the latest opt-in, under another \
                 id, for another collector, or older than {}; the next upload deletes them",
                events(other.len() as u64),
                human(spool.max_age)
            );
        }
        if damaged > 0 {
            let _ = write!(out, "\ndamaged spool lines (never sent): {damaged}");
        }
        let uploads = spool.state().uploads;
        if uploads.is_empty() {
            let _ = write!(out, "\nlast uploads: none yet");
        } else {
            let _ = write!(out, "\nlast uploads (oldest first):");
            // The state file's text, escaped: anyone with the user's
            // rights can edit it, and none of it may drive the terminal.
            let shown = crate::redact::printable;
            for up in &uploads {
                let _ = write!(
                    out,
                    "\n  {}  {}  {} event{} in {} request{}: {}",
                    shown(&up.at),
                    shown(&up.endpoint),
                    up.delivered,
                    plural(up.delivered),
                    up.requests,
                    plural(up.requests),
                    shown(&up.result)
                );
            }
        }
        true
    }

    #[cfg(feature = "http")]
    fn decorate_spool(&self, status: &mut StatusReport, store: &crate::consent::ConsentStore) {
        let spool = self.inner.spool(store);
        if status.enabled && self.inner.recorder().is_some_and(super::Recorder::spools) {
            status.problems.extend(spool.health());
        }
        if !spool.dir().exists() {
            return;
        }
        let waiting = spool.waiting();
        let state = spool.state();
        let lines = &mut status.delivery;
        if waiting > 0 {
            lines.push(format!(
                "waiting to be sent: {} in {}",
                events(waiting),
                spool.dir().display()
            ));
        }
        match (&state.last_attempt, &state.last_error) {
            (Some(at), Some(error)) => {
                lines.push(format!("last upload attempt: {at}, failed: {error}"));
            }
            (Some(at), None) => lines.push(format!(
                "last upload: {at} ({} delivered in all)",
                events(state.delivered)
            )),
            _ => {}
        }
        if waiting > 0 {
            lines.push(next_upload(&spool));
        }
        let counted = [
            (state.dropped_full, "dropped, because the spool was full"),
            (
                state.write_errors,
                "not spooled, because the spool could not be written",
            ),
            (
                state.rejected,
                "set aside, refused for good by the collector",
            ),
            (
                state.discarded,
                "deleted unsent: recorded before the latest opt-in, under another id, or for another collector",
            ),
            (state.skipped, "skipped: damaged spool lines"),
        ];
        for (count, what) in counted {
            if count > 0 {
                lines.push(format!("{what}: {}", events(count)));
            }
        }
        if state.expired > 0 {
            lines.push(format!(
                "expired: {}, older than {} and never sent",
                events(state.expired),
                human(spool.max_age)
            ));
        }
        if let Some(error) = &state.last_write_error
            && state.write_errors > 0
        {
            lines.push(format!("last write error: {error}"));
        }
        if let Some(why) = &state.last_rejection
            && state.rejected > 0
        {
            lines.push(format!("last refusal: {why}"));
        }
    }
}

/// When the waiting events go: an upload at work, or the next one's time
/// (uploads start with a run of the tool, at most once per interval while
/// the collector answers).
#[cfg(feature = "http")]
pub(super) fn next_upload(spool: &crate::spool::Spool) -> String {
    if let Some(pid) = spool.uploader_at_work() {
        return format!("uploading now (process {pid})");
    }
    let now = crate::spool::now_ms();
    match spool.schedule().next.filter(|&next| next > now) {
        Some(next) => format!(
            "next upload: with the first run of the tool in {} s or later (uploads run at most \
             once every {} while the collector answers, less often after it failed)",
            (next - now).div_ceil(1000),
            human(spool.interval)
        ),
        None => "next upload: due, with the next run of the tool".to_owned(),
    }
}

/// `n` events, in words: `1 event`, `2 events`.
#[cfg(feature = "http")]
fn events(n: u64) -> String {
    format!("{n} event{}", plural(n))
}

#[cfg(feature = "http")]
fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The most records `show` prints.
#[cfg(feature = "http")]
const SHOWN: usize = 100;

/// A duration as `status` says it: in days, hours, minutes or seconds,
/// whichever is whole.
#[cfg(feature = "http")]
fn human(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = match secs {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
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
