//! The `telemetry` verbs: `status`, `enable`, `disable`, `reset`.

use std::fmt;
use std::path::PathBuf;

use super::env::{self, EnvLookup, PolicySource};
use super::store::ConsentStore;
use crate::{MachineId, TelemetryError};

/// The `telemetry` subcommand's verbs. With the `clap` feature this is a
/// ready `clap::Subcommand`; mount it with one line:
///
/// ```ignore
/// #[derive(clap::Subcommand)]
/// enum Command {
///     /// Show or change whether mytool sends anonymous usage data.
///     #[command(subcommand)]
///     Telemetry(rtb_telemetry::consent::TelemetryCommand),
///     // … the tool's own commands
/// }
/// ```
///
/// # Example
///
/// ```
/// use rtb_telemetry::consent::{ConsentStore, TelemetryCommand};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"));
/// let events = store.events_path();
/// TelemetryCommand::Enable.run(&store, "mytool-v1", &events.display().to_string())?;
/// let status = TelemetryCommand::Status.run(&store, "mytool-v1", &events.display().to_string())?;
/// assert!(status.starts_with("telemetry: enabled"));
/// # Ok::<(), rtb_telemetry::TelemetryError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::Subcommand))]
pub enum TelemetryCommand {
    /// Show whether telemetry is on, who decided, and where events go.
    Status,
    /// Opt in to anonymous usage telemetry.
    Enable,
    /// Opt out of anonymous usage telemetry.
    Disable,
    /// Forget the decision, delete local telemetry data, and start a new anonymous id.
    Reset,
}

impl TelemetryCommand {
    /// Runs the verb and returns what to print. `base_salt` is the tool's
    /// salt; `destination` says where events go when enabled (a file path or
    /// a URL), for `status`.
    ///
    /// # Errors
    ///
    /// When the consent file or the local data cannot be written or deleted.
    pub fn run(
        self,
        store: &ConsentStore,
        base_salt: &str,
        destination: &str,
    ) -> Result<String, TelemetryError> {
        self.run_with(store, base_salt, destination, &env::process_env)
    }

    /// [`run`](Self::run) with the environment read through `env`.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub fn run_with(
        self,
        store: &ConsentStore,
        base_salt: &str,
        destination: &str,
        env: EnvLookup<'_>,
    ) -> Result<String, TelemetryError> {
        let tool = store.tool();
        let then = |note: String| -> Result<String, TelemetryError> {
            let status = StatusReport::gather(store, base_salt, destination, env)?;
            Ok(format!("{note}\n{status}"))
        };
        match self {
            Self::Status => {
                Ok(StatusReport::gather(store, base_salt, destination, env)?.to_string())
            }
            Self::Enable => {
                store.enable()?;
                then(format!(
                    "{tool}: telemetry enabled. Thank you! `{tool} telemetry disable` turns it off."
                ))
            }
            Self::Disable => {
                store.disable()?;
                then(format!("{tool}: telemetry disabled."))
            }
            Self::Reset => {
                store.reset()?;
                then(format!(
                    "{tool}: telemetry decision forgotten and local telemetry data deleted; \
                     enabling again starts a new anonymous id."
                ))
            }
        }
    }
}

/// What `telemetry status` reports.
///
/// Its `Display` starts with `telemetry: enabled` or `telemetry: disabled`,
/// then says which source decided (naming the environment variable or the
/// file), and, when enabled, the hashed id and where events go.
///
/// # Example
///
/// ```
/// use rtb_telemetry::consent::{ConsentStore, StatusReport};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"));
/// let report = StatusReport::new(&store, "mytool-v1", "events.jsonl")?;
/// assert!(!report.enabled);
/// assert!(report.to_string().starts_with("telemetry: disabled"));
/// # Ok::<(), rtb_telemetry::TelemetryError>(())
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
}

impl StatusReport {
    /// The status of `store` in this process's environment.
    ///
    /// # Errors
    ///
    /// When telemetry is on but its per-install nonce cannot be stored.
    pub fn new(
        store: &ConsentStore,
        base_salt: &str,
        destination: &str,
    ) -> Result<Self, TelemetryError> {
        Self::gather(store, base_salt, destination, &env::process_env)
    }

    fn gather(
        store: &ConsentStore,
        base_salt: &str,
        destination: &str,
        env: EnvLookup<'_>,
    ) -> Result<Self, TelemetryError> {
        let (effective, salt) = store.resolve_salt(base_salt, env)?;
        let enabled = effective.policy.is_enabled();
        // The id is derived only when the user has opted in.
        let machine_id = salt.map(|salt| MachineId::derive(&salt));
        let debug = store.debug_mode_with(env);
        Ok(Self {
            enabled,
            source: effective.source,
            machine_id,
            destination: enabled.then(|| destination.to_owned()),
            debug_variable: debug.then(|| store.debug_variable()),
            file: store.file().to_path_buf(),
        })
    }
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "telemetry: {}",
            if self.enabled { "enabled" } else { "disabled" }
        )?;
        write!(f, "decided by: {}", self.source)?;
        if let Some(id) = &self.machine_id {
            write!(f, "\nanonymous id: {id}")?;
        }
        match (&self.destination, &self.debug_variable) {
            (Some(_), Some(var)) => write!(f, "\nevents go to: stderr only ({var} is set)")?,
            (Some(dest), None) => write!(f, "\nevents go to: {dest}")?,
            _ => {}
        }
        if !self.enabled {
            write!(f, "\nconsent file: {}", self.file.display())?;
        }
        Ok(())
    }
}
