//! The first-run notice: shown once, on an interactive terminal, never in CI.

use std::io::{IsTerminal, Write};

use super::env::{self, EnvLookup};
use super::store::{ConsentStore, Decision};
use crate::TelemetryError;

impl ConsentStore {
    /// Shows the tool's telemetry notice on stderr, once per notice version,
    /// and records that it was shown. Returns whether it was shown.
    ///
    /// It is not shown when stderr is not a terminal, when a CI variable is
    /// set (`CI`, `GITHUB_ACTIONS`, `GITLAB_CI`, `JENKINS_URL`, `BUILDKITE`,
    /// …), when the user has already decided, or when this or a newer
    /// version was shown before. Showing it decides nothing: telemetry stays
    /// off until the user enables it.
    ///
    /// # Errors
    ///
    /// When the consent file cannot record that the notice was shown.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::consent::ConsentStore;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"));
    /// // Under `cargo test` stderr is captured, so nothing is shown here.
    /// let shown = store.show_notice_once(
    ///     1,
    ///     "mytool can send anonymous usage data. Opt in: `mytool telemetry enable`.",
    /// )?;
    /// # let _ = shown;
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    pub fn show_notice_once(&self, version: u32, text: &str) -> Result<bool, TelemetryError> {
        let interactive = std::io::stderr().is_terminal();
        self.show_notice_once_with(
            version,
            text,
            interactive,
            &env::process_env,
            &mut std::io::stderr(),
        )
    }

    /// [`show_notice_once`](Self::show_notice_once) with its surroundings
    /// passed in: whether the output is an interactive terminal, the
    /// environment, and where to write. For tests.
    ///
    /// # Errors
    ///
    /// As [`show_notice_once`](Self::show_notice_once).
    ///
    /// # Example
    ///
    /// ```
    /// use std::ffi::OsString;
    /// # use rtb_telemetry::consent::ConsentStore;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"));
    /// let no_env = |_: &str| None::<OsString>;
    /// let mut out = Vec::new();
    /// assert!(store.show_notice_once_with(1, "notice", true, &no_env, &mut out)?);
    /// assert!(!store.show_notice_once_with(1, "notice", true, &no_env, &mut out)?); // once
    /// assert_eq!(String::from_utf8(out).unwrap(), "notice\n");
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    pub fn show_notice_once_with(
        &self,
        version: u32,
        text: &str,
        interactive: bool,
        env: EnvLookup<'_>,
        out: &mut dyn Write,
    ) -> Result<bool, TelemetryError> {
        if !interactive || env::in_ci(env) {
            return Ok(false);
        }
        // An unreadable file counts as undecided; it is replaced only by an
        // explicit decision, never by the notice.
        let Ok(mut stored) = self.load() else {
            return Ok(false);
        };
        if stored.state != Decision::Undecided
            || stored.notice_version.is_some_and(|v| v >= version)
        {
            return Ok(false);
        }
        // Best effort: a closed stderr must not stop the tool.
        let _ = writeln!(out, "{}", text.trim_end());
        stored.notice_version = Some(version);
        self.save(&stored)?;
        Ok(true)
    }
}
