//! The consent file: the user's decision, persisted per tool.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::env::{self, Effective, EnvLookup, PolicySource};
use crate::{
    CollectionPolicy, RuntimePolicy, TelemetryContext, TelemetryError, TelemetrySink, ToolSink,
};

/// The version of the consent file's format.
const FORMAT_VERSION: u32 = 1;

/// What the user decided.
///
/// # Example
///
/// ```
/// assert_eq!(rtb_telemetry::consent::Decision::default(), rtb_telemetry::consent::Decision::Undecided);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// No decision yet. Counts as off.
    #[default]
    Undecided,
    /// The user opted in.
    Enabled,
    /// The user opted out.
    Disabled,
}

/// The consent file's content.
///
/// ```json
/// {"version":1,"state":"enabled","decided_at":"2026-11-23T21:53:42.123456Z","notice_version":1,"install_id":"…"}
/// ```
///
/// # Example
///
/// ```
/// use rtb_telemetry::consent::{ConsentStore, Decision};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"));
/// store.enable()?;
/// let stored = store.load()?;
/// assert_eq!(stored.state, Decision::Enabled);
/// assert!(stored.decided_at.is_some());
/// # Ok::<(), rtb_telemetry::TelemetryError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredConsent {
    /// The file format's version, currently 1.
    pub version: u32,
    /// The decision.
    pub state: Decision,
    /// When it was decided, RFC 3339 UTC.
    pub decided_at: Option<String>,
    /// The newest first-run notice version the user was shown.
    pub notice_version: Option<u32>,
    /// A random per-install nonce mixed into the machine id's salt. Created
    /// only when the user enables telemetry; `reset` deletes it, so the next
    /// id differs from the old one.
    pub install_id: Option<String>,
}

/// Where one tool keeps the user's telemetry decision and its local data.
///
/// # Example
///
/// ```no_run
/// use rtb_telemetry::consent::ConsentStore;
///
/// // ~/.config/mytool/telemetry.json and ~/.local/share/mytool/telemetry/ on
/// // Linux (XDG_CONFIG_HOME and XDG_DATA_HOME honoured).
/// let store = ConsentStore::new("mytool")?;
/// println!("{}", store.file().display());
/// # Ok::<(), rtb_telemetry::TelemetryError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConsentStore {
    tool: String,
    file: PathBuf,
    data_dir: PathBuf,
}

impl ConsentStore {
    /// The store in the platform's directories: the decision in
    /// `<config dir>/<tool>/telemetry.json`, local data under
    /// `<data dir>/<tool>/telemetry/`.
    ///
    /// # Errors
    ///
    /// [`TelemetryError::Config`] when the platform has no home directory.
    pub fn new(tool: &str) -> Result<Self, TelemetryError> {
        let dirs = directories::ProjectDirs::from("", "", tool).ok_or_else(|| {
            TelemetryError::config(
                format!("no home directory to keep {tool}'s telemetry decision in"),
                "set HOME (or the platform's equivalent), or give the paths with ConsentStore::at",
            )
        })?;
        Ok(Self::at(
            tool,
            dirs.config_dir().join("telemetry.json"),
            dirs.data_dir().join("telemetry"),
        ))
    }

    /// A store at paths the tool author chooses. Touches nothing on disk.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::consent::ConsentStore;
    ///
    /// let store = ConsentStore::at("mytool", "/etc/mytool/telemetry.json", "/var/lib/mytool/telemetry");
    /// assert_eq!(store.events_path(), std::path::Path::new("/var/lib/mytool/telemetry/events.jsonl"));
    /// ```
    #[must_use]
    pub fn at(tool: &str, file: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            tool: tool.to_owned(),
            file: file.into(),
            data_dir: data_dir.into(),
        }
    }

    /// The tool's name.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::consent::ConsentStore;
    /// assert_eq!(ConsentStore::at("mytool", "c.json", "d").tool(), "mytool");
    /// ```
    #[must_use]
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// The consent file.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::consent::ConsentStore;
    /// assert_eq!(ConsentStore::at("mytool", "c.json", "d").file(), std::path::Path::new("c.json"));
    /// ```
    #[must_use]
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The directory of the tool's local telemetry data (deleted by `reset`).
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::consent::ConsentStore;
    /// assert_eq!(ConsentStore::at("mytool", "c.json", "d").data_dir(), std::path::Path::new("d"));
    /// ```
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where a local `FileSink` should write: `<data dir>/events.jsonl`.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::consent::ConsentStore;
    /// let store = ConsentStore::at("mytool", "c.json", "d");
    /// assert_eq!(store.events_path(), std::path::Path::new("d/events.jsonl"));
    /// ```
    #[must_use]
    pub fn events_path(&self) -> PathBuf {
        self.data_dir.join("events.jsonl")
    }

    /// The variable that turns this tool's telemetry off, e.g.
    /// `MYTOOL_TELEMETRY_DISABLED`.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::consent::ConsentStore;
    /// assert_eq!(ConsentStore::at("my-tool", "c", "d").disable_variable(), "MY_TOOL_TELEMETRY_DISABLED");
    /// ```
    #[must_use]
    pub fn disable_variable(&self) -> String {
        format!("{}_TELEMETRY_DISABLED", env::env_prefix(&self.tool))
    }

    /// The variable that turns on debug mode, e.g. `MYTOOL_TELEMETRY_DEBUG`.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::consent::ConsentStore;
    /// assert_eq!(ConsentStore::at("mytool", "c", "d").debug_variable(), "MYTOOL_TELEMETRY_DEBUG");
    /// ```
    #[must_use]
    pub fn debug_variable(&self) -> String {
        format!("{}_TELEMETRY_DEBUG", env::env_prefix(&self.tool))
    }

    /// Reads the consent file. A missing file is an empty (undecided) one.
    ///
    /// # Errors
    ///
    /// An unreadable, corrupt or newer-format file, as a `TelemetryError`
    /// naming the file. [`effective_policy`](Self::effective_policy) treats
    /// that as undecided.
    pub fn load(&self) -> Result<StoredConsent, TelemetryError> {
        let bytes = match fs::read(&self.file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(StoredConsent {
                    version: FORMAT_VERSION,
                    ..StoredConsent::default()
                });
            }
            Err(e) => return Err(TelemetryError::io("read", &self.file, e)),
        };
        let stored: StoredConsent = serde_json::from_slice(&bytes).map_err(|e| {
            TelemetryError::io(
                "parse",
                &self.file,
                io::Error::new(io::ErrorKind::InvalidData, e),
            )
        })?;
        if stored.version != FORMAT_VERSION {
            let why = format!(
                "format version {} (this build reads {FORMAT_VERSION})",
                stored.version
            );
            return Err(TelemetryError::io(
                "understand",
                &self.file,
                io::Error::new(io::ErrorKind::InvalidData, why),
            ));
        }
        Ok(stored)
    }

    /// Stores the user's opt-in, creating the per-install nonce if there is
    /// none.
    ///
    /// # Errors
    ///
    /// When the consent file cannot be written.
    pub fn enable(&self) -> Result<(), TelemetryError> {
        let mut stored = self.load().unwrap_or_default();
        stored.state = Decision::Enabled;
        stored.decided_at = Some(crate::event::rfc3339_utc(SystemTime::now()));
        stored.install_id.get_or_insert_with(new_install_id);
        self.save(&stored)
    }

    /// Stores the user's opt-out.
    ///
    /// # Errors
    ///
    /// When the consent file cannot be written.
    pub fn disable(&self) -> Result<(), TelemetryError> {
        let mut stored = self.load().unwrap_or_default();
        stored.state = Decision::Disabled;
        stored.decided_at = Some(crate::event::rfc3339_utc(SystemTime::now()));
        self.save(&stored)
    }

    /// Forgets the decision, deletes the tool's local telemetry data, and
    /// with the consent file the per-install nonce: the next id after
    /// enabling again differs from the old one.
    ///
    /// # Errors
    ///
    /// When the file or the data directory exists but cannot be deleted.
    pub fn reset(&self) -> Result<(), TelemetryError> {
        match fs::remove_file(&self.file) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(TelemetryError::io("delete", &self.file, e)),
        }
        match fs::remove_dir_all(&self.data_dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(TelemetryError::io("delete", &self.data_dir, e)),
        }
    }

    /// The policy in force for this process, and who decided it (see the
    /// [module docs](super) for the order).
    #[must_use]
    pub fn effective_policy(&self) -> Effective {
        self.effective_policy_with(&env::process_env)
    }

    /// [`effective_policy`](Self::effective_policy) with the environment
    /// read through `env`, for tests.
    ///
    /// # Example
    ///
    /// ```
    /// use std::ffi::OsString;
    /// use rtb_telemetry::consent::{ConsentStore, PolicySource};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"));
    /// store.enable()?;
    /// let env = |name: &str| (name == "DO_NOT_TRACK").then(|| OsString::from("1"));
    /// let effective = store.effective_policy_with(&env);
    /// assert!(!effective.policy.is_enabled());
    /// assert_eq!(effective.source, PolicySource::DoNotTrack);
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    #[must_use]
    pub fn effective_policy_with(&self, env: EnvLookup<'_>) -> Effective {
        self.resolve(env).0
    }

    /// The effective policy, and the stored record when it decided (so
    /// callers that need the record do not read the file again).
    fn resolve(&self, env: EnvLookup<'_>) -> (Effective, Option<StoredConsent>) {
        let off = |source| Effective {
            policy: CollectionPolicy::Disabled,
            source,
        };
        if env::truthy(env("DO_NOT_TRACK")) {
            return (off(PolicySource::DoNotTrack), None);
        }
        let variable = self.disable_variable();
        if env(&variable).is_some() {
            return (off(PolicySource::ToolVariable(variable)), None);
        }
        match self.load() {
            Ok(stored) => {
                let effective = match stored.state {
                    Decision::Enabled => Effective {
                        policy: CollectionPolicy::Enabled,
                        source: PolicySource::StoredDecision(self.file.clone()),
                    },
                    Decision::Disabled => off(PolicySource::StoredDecision(self.file.clone())),
                    Decision::Undecided => off(PolicySource::Undecided(self.file.clone())),
                };
                (effective, Some(stored))
            }
            Err(e) => (
                off(PolicySource::Unreadable {
                    path: self.file.clone(),
                    reason: unreadable_reason(&e),
                }),
                None,
            ),
        }
    }

    /// `true` when `<TOOL>_TELEMETRY_DEBUG` is set to anything but empty, `0`
    /// or `false`.
    #[must_use]
    pub fn debug_mode(&self) -> bool {
        self.debug_mode_with(&env::process_env)
    }

    pub(crate) fn debug_mode_with(&self, env: EnvLookup<'_>) -> bool {
        env::truthy(env(&self.debug_variable()))
    }

    /// The salt for this install: `base` joined with the per-install nonce,
    /// or `None` when telemetry is not effectively enabled (nothing is
    /// derived before the user opts in). Creates the nonce if an enabled file
    /// lacks one.
    ///
    /// # Errors
    ///
    /// When a missing nonce cannot be stored.
    pub fn salt(&self, base: &str) -> Result<Option<String>, TelemetryError> {
        self.salt_with(base, &env::process_env)
    }

    /// [`salt`](Self::salt) with the environment read through `env`.
    ///
    /// # Errors
    ///
    /// As [`salt`](Self::salt).
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::consent::ConsentStore;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"));
    /// assert_eq!(store.salt_with("mytool-v1", &|_| None)?, None); // not opted in
    /// store.enable()?;
    /// let salt = store.salt_with("mytool-v1", &|_| None)?.unwrap();
    /// assert!(salt.starts_with("mytool-v1:"));
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    pub fn salt_with(
        &self,
        base: &str,
        env: EnvLookup<'_>,
    ) -> Result<Option<String>, TelemetryError> {
        Ok(self.resolve_salt(base, env)?.1)
    }

    /// The effective policy and, when it is enabled, the salt: one read of
    /// the consent file (a second only to store a missing nonce).
    pub(crate) fn resolve_salt(
        &self,
        base: &str,
        env: EnvLookup<'_>,
    ) -> Result<(Effective, Option<String>), TelemetryError> {
        let (effective, stored) = self.resolve(env);
        let Some(mut stored) = stored.filter(|_| effective.policy.is_enabled()) else {
            return Ok((effective, None));
        };
        let nonce = if let Some(nonce) = &stored.install_id {
            nonce.clone()
        } else {
            let nonce = new_install_id();
            stored.install_id = Some(nonce.clone());
            self.save(&stored)?;
            nonce
        };
        Ok((effective, Some(format!("{base}:{nonce}"))))
    }

    /// The tool's context, with everything above applied: the effective
    /// policy, the per-install salt, and debug mode (events to stderr
    /// instead of `sink`). When telemetry is off, nothing is derived, read
    /// beyond the consent file, or written.
    ///
    /// # Errors
    ///
    /// When telemetry is on but its per-install nonce cannot be stored.
    pub fn context<S: TelemetrySink>(
        &self,
        tool_version: &str,
        base_salt: &str,
        sink: S,
    ) -> Result<TelemetryContext<ToolSink<S>, RuntimePolicy>, TelemetryError> {
        self.context_with(tool_version, base_salt, sink, &env::process_env)
    }

    /// [`context`](Self::context) with the environment read through `env`.
    ///
    /// # Errors
    ///
    /// As [`context`](Self::context).
    pub fn context_with<S: TelemetrySink>(
        &self,
        tool_version: &str,
        base_salt: &str,
        sink: S,
        env: EnvLookup<'_>,
    ) -> Result<TelemetryContext<ToolSink<S>, RuntimePolicy>, TelemetryError> {
        let sink = if self.debug_mode_with(env) {
            ToolSink::Debug(crate::DebugSink)
        } else {
            ToolSink::Normal(sink)
        };
        let builder = TelemetryContext::builder()
            .tool(self.tool.clone())
            .tool_version(tool_version)
            .sink(sink);
        Ok(match self.salt_with(base_salt, env)? {
            Some(salt) => builder.salt(salt).policy(CollectionPolicy::Enabled).build(),
            None => builder.build(),
        })
    }

    /// Writes `stored` atomically: a temporary file (mode 0600) in the same
    /// directory, synced, then renamed over the old one.
    pub(crate) fn save(&self, stored: &StoredConsent) -> Result<(), TelemetryError> {
        let stored = StoredConsent {
            version: FORMAT_VERSION,
            ..stored.clone()
        };
        let mut bytes = serde_json::to_vec_pretty(&stored)
            .map_err(|e| TelemetryError::serde("consent file", e))?;
        bytes.push(b'\n');
        if let Some(dir) = self.file.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)
                .map_err(|e| TelemetryError::io("create the directory of", &self.file, e))?;
        }
        let mut tmp_name = self
            .file
            .file_name()
            .map(OsString::from)
            .unwrap_or_default();
        tmp_name.push(format!(".tmp.{}", std::process::id()));
        let tmp = self.file.with_file_name(tmp_name);
        let written = write_private(&tmp, &bytes).and_then(|()| fs::rename(&tmp, &self.file));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(TelemetryError::io("write", &self.file, e));
        }
        Ok(())
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    // A stale temporary file from a crashed run might have other permissions.
    let _ = fs::remove_file(path);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn new_install_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn unreadable_reason(err: &TelemetryError) -> String {
    use std::error::Error as _;
    match err.source() {
        Some(source) => source.to_string(),
        None => err.to_string(),
    }
}
