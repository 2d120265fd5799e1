//! The first-run notice: shown once, on an interactive terminal, never in CI.

use super::decision::in_ci;
use super::file::Decision;
use super::store::ConsentStore;
use crate::TelemetryError;

impl ConsentStore {
    /// Shows the tool's telemetry notice on stderr, once per notice version,
    /// and records that it was shown. Returns whether it was shown.
    ///
    /// It is not shown (and nothing is written) under an off switch
    /// (`DO_NOT_TRACK`, `<TOOL>_TELEMETRY_DISABLED`: someone who set one
    /// asked for nothing to happen at all), when stderr is not a terminal,
    /// when a CI variable is set (`CI`, `GITHUB_ACTIONS`, `GITLAB_CI`,
    /// `JENKINS_URL`, `BUILDKITE`, …), when the user has already decided, when this or a newer version
    /// was shown before, or when that cannot be recorded (an unwritable
    /// configuration directory: better silent than shown on every run).
    /// Showing it decides nothing: telemetry stays off until the user
    /// enables it.
    ///
    /// # Errors
    ///
    /// When the consent file cannot record that the notice was shown; the
    /// notice is then not shown.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::Env;
    /// # use rtb_telemetry::consent::ConsentStore;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"))
    ///     .with_env(Env::from_vars::<_, &str, &str>([]).with_terminal(true));
    /// let text = "mytool can send anonymous usage data. Opt in: `mytool telemetry enable`.";
    /// assert!(store.show_notice_once(1, text)?);
    /// assert!(!store.show_notice_once(1, text)?); // once
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    pub fn show_notice_once(&self, version: u32, text: &str) -> Result<bool, TelemetryError> {
        if !self.env().is_terminal() || in_ci(self.env()) || self.switched_off().is_some() {
            return Ok(false);
        }
        // A cheap read first: nearly every run has nothing to do.
        let Ok(stored) = self.load() else {
            return Ok(false); // unreadable: replaced only by an explicit decision
        };
        if stored.state != Decision::Undecided
            || stored.notice_version.is_some_and(|v| v >= version)
        {
            return Ok(false);
        }
        if !self.record_notice(version)? {
            return Ok(false); // another process showed it, or the user decided
        }
        // Best effort: a closed stderr must not stop the tool.
        crate::fs::to_stderr(format!("{}\n", text.trim_end()).as_bytes());
        Ok(true)
    }
}
