//! [`StatusReport`]: what `telemetry status` says.

use std::fmt;
use std::path::PathBuf;

use super::decision::PolicySource;
use super::store::ConsentStore;
use crate::MachineId;

/// What `telemetry status` reports.
///
/// Its `Display` starts with `telemetry: enabled` or `telemetry: disabled`,
/// then says which source decided (naming the environment variable or the
/// file), and, when enabled, the hashed id and where events go; then any
/// problem that keeps telemetry from working.
///
/// # Example
///
/// ```
/// use rtb_telemetry::consent::{ConsentStore, StatusReport};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"));
/// let report = StatusReport::new(&store, "mytool-v1", "events.jsonl");
/// assert!(!report.enabled);
/// assert!(report.to_string().starts_with("telemetry: disabled"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusReport {
    /// Whether telemetry is effectively on.
    pub enabled: bool,
    /// Who decided.
    pub source: PolicySource,
    /// The hashed machine id, when enabled.
    pub machine_id: Option<String>,
    /// Where events go, when enabled.
    pub destination: Option<String>,
    /// The debug variable, when it is set: events go to stderr instead.
    pub debug_variable: Option<String>,
    /// The consent file.
    pub file: PathBuf,
    /// Problems that turn telemetry off or keep events from leaving, one
    /// line each.
    pub problems: Vec<String>,
    /// Lines about local delivery (events waiting, the last upload).
    pub delivery: Vec<String>,
}

impl StatusReport {
    /// Off, decided by `source`, with nothing else to say.
    pub(crate) fn off(source: PolicySource) -> Self {
        Self {
            enabled: false,
            source,
            machine_id: None,
            destination: None,
            debug_variable: None,
            file: PathBuf::new(),
            problems: Vec::new(),
            delivery: Vec::new(),
        }
    }

    /// The status of `store` in its environment. Never writes except to
    /// add a missing per-install nonce to an enabled file; never fails.
    #[must_use]
    pub fn new(store: &ConsentStore, base_salt: &str, destination: &str) -> Self {
        let mut problems = store.switch_problems();
        let (effective, salt) = match store.resolve_salt(base_salt) {
            Ok(resolved) => resolved,
            Err(e) => {
                problems.push(format!("telemetry is off: {}", e.one_line()));
                (store.effective_policy(), None)
            }
        };
        // A file that cannot be used: what to do about it.
        if let PolicySource::Unreadable { .. } = &effective.source
            && let Err(e) = store.load()
            && let Some(help) = miette::Diagnostic::help(&e)
        {
            problems.push(format!("the consent file cannot be used: {help}"));
        }
        // The id is derived only when the user has opted in.
        let machine_id = salt.map(|salt| MachineId::derive(&salt));
        let enabled = effective.policy.is_enabled() && machine_id.is_some();
        Self {
            enabled,
            source: effective.source,
            machine_id,
            destination: enabled.then(|| destination.to_owned()),
            debug_variable: store.debug_mode().then(|| store.debug_variable()),
            file: store.file().to_path_buf(),
            problems,
            delivery: Vec::new(),
        }
    }
}

impl fmt::Display for StatusReport {
    /// One line per item, each escaped for the terminal: much of it comes
    /// from files anyone with the user's rights can edit (the state file,
    /// paths), and none of it may drive the terminal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |text: &dyn fmt::Display| crate::text::printable(&text.to_string());
        writeln!(
            f,
            "telemetry: {}",
            if self.enabled { "enabled" } else { "disabled" }
        )?;
        write!(f, "decided by: {}", shown(&self.source))?;
        if let Some(id) = &self.machine_id {
            write!(f, "\nanonymous id: {}", shown(id))?;
        }
        match (&self.destination, &self.debug_variable) {
            (Some(_), Some(var)) => {
                write!(f, "\nevents go to: stderr only ({} is set)", shown(var))?;
            }
            (Some(dest), None) => write!(f, "\nevents go to: {}", shown(dest))?,
            _ => {}
        }
        for line in &self.delivery {
            write!(f, "\n{}", shown(line))?;
        }
        if !self.enabled && !self.file.as_os_str().is_empty() {
            write!(f, "\nconsent file: {}", shown(&self.file.display()))?;
        }
        for problem in &self.problems {
            write!(f, "\nproblem: {}", shown(problem))?;
        }
        Ok(())
    }
}
