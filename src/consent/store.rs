//! The consent file: the user's decision, persisted per tool.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::env::{Effective, PolicySource, env_prefix};
use crate::pipeline::layout;
use crate::{
    CollectionPolicy, DebugSink, Env, RuntimePolicy, TelemetryContext, TelemetryError,
    TelemetrySink, ToolSink,
};

/// The version of the consent file's format.
const FORMAT_VERSION: u32 = 1;
/// The largest consent file read; a real one is under 300 bytes.
const MAX_FILE_BYTES: u64 = 64 * 1024;
/// How long a user's change (`enable`, `disable`, `reset`) waits for another
/// process's change to the same file.
const LOCK_PATIENCE: Duration = Duration::from_secs(2);
/// How long a command's own bookkeeping (a missing nonce, the notice)
/// waits: a stuck lock must not slow the host, so it gives up and leaves
/// telemetry off for this run.
const COMMAND_PATIENCE: Duration = Duration::from_millis(100);

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
/// Fields this version does not know are kept when it rewrites the file.
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
    #[serde(default)]
    pub state: Decision,
    /// When it was decided, RFC 3339 UTC.
    #[serde(default)]
    pub decided_at: Option<String>,
    /// The newest first-run notice version the user was shown.
    #[serde(default)]
    pub notice_version: Option<u32>,
    /// A random per-install nonce mixed into the machine id's salt. Created
    /// only when the user enables telemetry; `reset` deletes it, so the next
    /// id differs from the old one.
    #[serde(default)]
    pub install_id: Option<String>,
    /// Fields written by other versions, kept as they are.
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// What is on disk at the consent path.
enum OnDisk {
    Missing,
    Current(StoredConsent),
    /// A format this build does not know; kept whole so a change can
    /// preserve it.
    Newer {
        version: u64,
        fields: Map<String, Value>,
    },
    Unusable(TelemetryError),
}

/// Where one tool keeps the user's telemetry decision and its local data,
/// and the environment it reads the opt-out variables from.
///
/// Changes (`enable`, `disable`, the notice, a missing nonce) are
/// read-modify-written under an advisory lock on `<file>.lock`, re-reading
/// the file after locking, so concurrent commands never lose an opt-out.
/// Reads never write. The file is read only if it is a regular file of at
/// most 64 KiB (a FIFO, device or huge file there counts as unreadable, at
/// once), and written atomically, mode 0600, in a directory created private.
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
    env: Env,
    /// The directories the crate named and made in the platform's layout
    /// (`<config>/<tool>`, `<data>/<tool>`): its to remove when they are
    /// empty. None for paths the tool chose.
    made: Vec<PathBuf>,
    /// How the tool names its own setting when that setting turns
    /// telemetry off.
    tool_switch: Option<String>,
    /// How users type the verbs, up to the verb (`None`: `<tool> telemetry`).
    verbs: Option<String>,
    /// The project's switch, looked for once per store (one `stat` per
    /// directory level, however often the decision is checked).
    project_switch: std::sync::Arc<std::sync::OnceLock<super::switches::Project>>,
    /// The machine's switch files, looked for once (every record checks
    /// the decision; the files are not read again each time).
    machine_switch: std::sync::Arc<std::sync::OnceLock<Vec<(PathBuf, super::switches::Said)>>>,
    /// The version of the file last read that said "enabled": a later check
    /// that finds the same version need not read it again.
    /// With the install nonce it held.
    enabled_version: std::sync::Arc<std::sync::Mutex<Option<(crate::fs::Fingerprint, String)>>>,
}

impl ConsentStore {
    /// The store in the platform's directories: the decision in
    /// `<config dir>/<tool>/telemetry.json`, local data under
    /// `<local data dir>/<tool>/telemetry/` (`%LOCALAPPDATA%` on Windows).
    ///
    /// # Errors
    ///
    /// A [`Config`](crate::ErrorKind::Config) error when the platform has no
    /// home directory.
    pub fn new(tool: &str) -> Result<Self, TelemetryError> {
        let dirs = directories::ProjectDirs::from("", "", tool).ok_or_else(|| {
            TelemetryError::config(
                format!("there is no home directory to keep {tool}'s telemetry decision in"),
                "set HOME (or the platform's equivalent); until then telemetry stays off",
            )
        })?;
        let mut store = Self::at(
            tool,
            dirs.config_dir().join("telemetry.json"),
            // Local, not roaming: on Windows the roaming profile may
            // live on a file server, where the spool's renames and
            // deletes fail more often, and a spool has no business
            // following the user to another machine. (On Linux and
            // macOS it is the same directory.)
            dirs.data_local_dir().join("telemetry"),
        );
        store.made = vec![
            dirs.config_dir().to_path_buf(),
            dirs.data_local_dir().to_path_buf(),
        ];
        Ok(store)
    }

    /// Keeps the local data (spool, local events) in `<dir>/telemetry/`,
    /// inside the tool's own data directory (one it lets users move, such
    /// as zoxide's `_ZO_DATA_DIR`), instead of the platform's. Only that
    /// `telemetry` directory is the crate's: `reset` deletes it whole, and
    /// nothing else in `dir`. Touches nothing on disk.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::consent::ConsentStore;
    ///
    /// let store = ConsentStore::at("zoxide", "c.json", "d").in_tool_data_dir("/data/zoxide");
    /// assert_eq!(store.data_dir(), std::path::Path::new("/data/zoxide/telemetry"));
    /// ```
    #[must_use]
    pub fn in_tool_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        self.made
            .retain(|made| Some(made.as_path()) == self.file.parent());
        self.data_dir = dir.join("telemetry");
        self
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
            env: Env::process(),
            made: Vec::new(),
            tool_switch: None,
            verbs: None,
            project_switch: std::sync::Arc::default(),
            machine_switch: std::sync::Arc::default(),
            enabled_version: std::sync::Arc::default(),
        }
    }

    /// Reads variables (and the terminal check) from `env` instead of the
    /// process: the test seam.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{Env, consent::{ConsentStore, PolicySource}};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"))
    ///     .with_env(Env::from_vars([("DO_NOT_TRACK", "1")]));
    /// store.enable()?;
    /// let effective = store.effective_policy();
    /// assert!(!effective.policy.is_enabled());
    /// assert_eq!(effective.source, PolicySource::DoNotTrack);
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    #[must_use]
    pub fn with_env(mut self, env: Env) -> Self {
        self.env = env;
        self.project_switch = std::sync::Arc::default();
        self.machine_switch = std::sync::Arc::default();
        self
    }

    /// The tool's own setting turns telemetry off, named `setting` (what
    /// `status` shows, e.g. `"telemetry = false in ~/.mytool.toml"`). Only
    /// ever off: nothing but the user's own `enable` turns telemetry on.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{Env, consent::{ConsentStore, PolicySource}};
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"))
    ///     .with_env(Env::from_vars::<_, &str, &str>([]))
    ///     .off_by_setting("telemetry = false in mytool.toml");
    /// store.enable()?;
    /// let effective = store.effective_policy();
    /// assert!(!effective.policy.is_enabled());
    /// assert!(matches!(effective.source, PolicySource::ToolSetting(_)));
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    #[must_use]
    pub fn off_by_setting(mut self, setting: impl Into<String>) -> Self {
        self.tool_switch = Some(setting.into());
        self
    }

    /// How users type the `telemetry` verbs, up to the verb: every message
    /// that names a verb (`enable`'s answer, a damaged file's help, an off
    /// switch's) names it this way, so it can be run as printed. The
    /// default, `<tool> telemetry`, is the clap subcommand; a tool that
    /// offers `--telemetry <VERB>` ([`TelemetryCommand::from_args`](super::TelemetryCommand::from_args))
    /// says `"<tool> --telemetry"`.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::consent::{ConsentStore, TelemetryCommand};
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = ConsentStore::at("hexyl", dir.path().join("c.json"), dir.path().join("d"))
    ///     .verbs_as("hexyl --telemetry");
    /// let said = TelemetryCommand::Enable.run(&store, "hexyl-v1", "events.jsonl").to_string();
    /// assert!(said.contains("`hexyl --telemetry disable` turns it off"));
    /// ```
    #[must_use]
    pub fn verbs_as(mut self, command: impl Into<String>) -> Self {
        self.verbs = Some(command.into());
        self
    }

    /// `verb` as users type it, in backticks: `` `mytool telemetry disable` ``.
    pub(crate) fn verb(&self, verb: &str) -> String {
        super::verb_as(&self.tool, self.verbs.as_deref(), verb)
    }

    /// The environment this store reads.
    #[must_use]
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The tool's name.
    #[must_use]
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// The consent file.
    #[must_use]
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The directory of the tool's local telemetry data (deleted by `reset`).
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
        crate::pipeline::layout::local_file(&self.data_dir)
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
        format!("{}_TELEMETRY_DISABLED", env_prefix(&self.tool))
    }

    /// The variable that turns on debug mode, e.g. `MYTOOL_TELEMETRY_DEBUG`.
    #[must_use]
    pub fn debug_variable(&self) -> String {
        format!("{}_TELEMETRY_DEBUG", env_prefix(&self.tool))
    }

    /// `true` when `<TOOL>_TELEMETRY_DEBUG` is set to anything but empty, `0`
    /// or `false`.
    #[must_use]
    pub fn debug_mode(&self) -> bool {
        self.env.truthy(&self.debug_variable())
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self
            .file
            .file_name()
            .map(OsString::from)
            .unwrap_or_default();
        name.push(".lock");
        self.file.with_file_name(name)
    }

    fn read(&self) -> OnDisk {
        let (bytes, meta) = match crate::fs::read_small_with_meta(&self.file, MAX_FILE_BYTES) {
            Ok(None) => return OnDisk::Missing,
            Ok(Some(read)) => read,
            Err(e) => return OnDisk::Unusable(TelemetryError::consent_io("read", &self.file, e)),
        };
        let trusted = crate::fs::check_own_file(&meta)
            .and_then(|()| crate::fs::check_trusted_path(&self.file));
        let on_disk = match trusted {
            Ok(()) => self.parse(&bytes),
            Err(e) => OnDisk::Unusable(TelemetryError::consent(
                &self.file,
                format_args!("is not trusted: {e}"),
                format!(
                    "telemetry stays off while another user could have written it: with its \
                     directory the user's own and private (chmod 700), {} or {} writes a new \
                     file",
                    self.verb("enable"),
                    self.verb("disable")
                ),
            )),
        };
        {
            let enabled = match &on_disk {
                OnDisk::Current(s) if s.state == Decision::Enabled => s.install_id.clone(),
                _ => None,
            };
            *self
                .enabled_version
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                enabled.map(|nonce| (crate::fs::Fingerprint::of(&meta), nonce));
        }
        on_disk
    }

    fn parse(&self, bytes: &[u8]) -> OnDisk {
        let corrupt = |why: &dyn std::fmt::Display| {
            OnDisk::Unusable(TelemetryError::consent(
                &self.file,
                format_args!("is not a consent file this tool can read ({why})"),
                format!(
                    "the file is damaged; {} or {} writes a new one, {} deletes it. Until \
                     then telemetry stays off",
                    self.verb("enable"),
                    self.verb("disable"),
                    self.verb("reset")
                ),
            ))
        };
        let fields = match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(fields)) => fields,
            Ok(_) => return corrupt(&"not a JSON object"),
            Err(e) => return corrupt(&e),
        };
        match fields.get("version").and_then(Value::as_u64) {
            Some(version) if version > u64::from(FORMAT_VERSION) => {
                return OnDisk::Newer { version, fields };
            }
            Some(_) => {}
            None => return corrupt(&"no format version"),
        }
        match from_fields(fields) {
            Ok(stored) => OnDisk::Current(stored),
            Err(e) => corrupt(&e),
        }
    }

    fn newer_error(&self, version: u64) -> TelemetryError {
        TelemetryError::consent(
            &self.file,
            format_args!(
                "was written by a newer version of {} (format {version}; this one reads \
                 {FORMAT_VERSION}), so this version cannot change it without losing what it \
                 does not understand",
                self.tool
            ),
            format!(
                "use the newer {} to change the decision, or {} to start over",
                self.tool,
                self.verb("reset")
            ),
        )
    }

    /// Reads the consent file. A missing file is an empty (undecided) one.
    ///
    /// # Errors
    ///
    /// A [`Consent`](crate::ErrorKind::Consent) error naming the file when
    /// it is unreadable, not a regular file, over 64 KiB, corrupt or of a
    /// newer format. [`effective_policy`](Self::effective_policy) treats all
    /// of those as undecided.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::consent::{ConsentStore, Decision};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"));
    /// assert_eq!(store.load()?.state, Decision::Undecided); // no file yet
    /// std::fs::write(store.file(), "{ junk").unwrap();
    /// assert!(store.load().is_err());
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    pub fn load(&self) -> Result<StoredConsent, TelemetryError> {
        match self.read() {
            OnDisk::Missing => Ok(StoredConsent {
                version: FORMAT_VERSION,
                ..StoredConsent::default()
            }),
            OnDisk::Current(stored) => Ok(stored),
            OnDisk::Newer { version, .. } => Err(self.newer_error(version)),
            OnDisk::Unusable(e) => Err(e),
        }
    }

    /// Read-modify-write under the lock: `change` sees what is on disk
    /// after locking and says what to write (`None`: nothing). An opt-out
    /// (`insist`) is written even when the lock cannot be had in time.
    fn update(
        &self,
        insist: bool,
        patience: Duration,
        change: impl FnOnce(OnDisk) -> Result<Option<Map<String, Value>>, TelemetryError>,
    ) -> Result<(), TelemetryError> {
        let _lock = self.lock(insist, patience)?;
        self.write_change(change)
    }

    /// The consent lock, created with its directory if need be. `None`
    /// only when `insist`ing past a lock nobody let go of in time.
    fn lock(
        &self,
        insist: bool,
        patience: Duration,
    ) -> Result<Option<crate::fs::Lock>, TelemetryError> {
        if let Some(dir) = self.file.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::fs::create_private_dir_all(dir).map_err(|e| {
                TelemetryError::consent_io("create the directory of", &self.file, e)
            })?;
        }
        match crate::fs::lock(&self.lock_path(), patience) {
            Ok(Some(lock)) => Ok(Some(lock)),
            _ if insist => Ok(None),
            Ok(None) => Err(TelemetryError::consent(
                &self.file,
                format_args!(
                    "is being changed by another process that did not finish in {} ms",
                    patience.as_millis()
                ),
                "try again; if it persists, another process is stuck holding the lock",
            )),
            Err(e) => Err(TelemetryError::consent_io("lock", &self.lock_path(), e)),
        }
    }

    /// Writes what `change` makes of the file; the caller holds the lock.
    fn write_change(
        &self,
        change: impl FnOnce(OnDisk) -> Result<Option<Map<String, Value>>, TelemetryError>,
    ) -> Result<(), TelemetryError> {
        let Some(fields) = change(self.read())? else {
            return Ok(());
        };
        let mut bytes = serde_json::to_vec_pretty(&fields)
            .map_err(|e| TelemetryError::serde("the consent file", e))?;
        bytes.push(b'\n');
        crate::fs::write_atomic(&self.file, &bytes, 0o600)
            .map_err(|e| TelemetryError::consent_io("write", &self.file, e))
    }

    /// Checks, under the consent lock shared with other readers (so no
    /// `disable` or `reset` is half done), that telemetry is still on;
    /// holds that lock while the returned pass lives. `None` when it is
    /// off, or the lock cannot be had within `patience`: the caller must
    /// then not send, spool or write state.
    #[cfg(feature = "upload")]
    pub(crate) fn pass(&self, base_salt: &str, patience: Duration) -> Option<Pass> {
        // No consent file (a `reset`): off, and no lock file created for
        // it either (taking the lock would bring one back after `reset`).
        fs::symlink_metadata(&self.file).ok()?;
        let lock = crate::fs::lock_as(&self.lock_path(), crate::fs::Mode::Shared, patience)
            .ok()
            .flatten()?;
        let (_, stored) = self.resolve();
        let stored = stored?;
        let nonce = stored.install_id?;
        let salt = format!("{base_salt}:{nonce}");
        Some(Pass {
            _lock: lock,
            machine_id: crate::machine::derive_stable(&salt),
            salt,
            since: stored.decided_at,
        })
    }

    /// [`pass`](Self::pass) without the machine id: `Some` with the lock
    /// held while telemetry is still on by the decision the run started
    /// with — `salt`, the one its machine id was derived with (after a
    /// `reset` and `enable` meanwhile, on again is another decision, with
    /// another id). For a command's first record.
    pub(crate) fn still_on(&self, patience: Duration, salt: &str) -> Option<crate::fs::Lock> {
        fs::symlink_metadata(&self.file).ok()?; // as in `pass`
        let lock = crate::fs::lock_as(&self.lock_path(), crate::fs::Mode::Shared, patience)
            .ok()
            .flatten()?;
        self.still_ours(salt).then_some(lock)
    }

    /// Whether telemetry is still on by the decision the run started with
    /// (`salt`: see [`still_on`](Self::still_on)), read without the lock
    /// (the file is only ever replaced whole). When the file is still the
    /// version read last, that costs one `stat`.
    pub(crate) fn still_ours(&self, salt: &str) -> bool {
        let seen = self
            .enabled_version
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let ours = |nonce: &str| {
            salt.strip_suffix(nonce)
                .is_some_and(|base| base.ends_with(':'))
        };
        if let (Some((seen, nonce)), Ok(meta)) = (seen, fs::metadata(&self.file))
            && crate::fs::Fingerprint::of(&meta) == seen
            && self.switched_off().is_none()
        {
            return ours(&nonce);
        }
        self.resolve()
            .1
            .and_then(|stored| stored.install_id)
            .is_some_and(|nonce| ours(&nonce))
    }

    /// For a run that finds, after writing, that the user opted out (or
    /// reset) meanwhile — it was paused past `disable`'s wait for the
    /// lock, say: deletes what waits to be sent, and the directories the
    /// crate made for it once they are empty, so nothing of the user's
    /// stays on disk. Best effort; what is left, the next run deletes
    /// ([`sweep_after_opt_out`](Self::sweep_after_opt_out)).
    pub(crate) fn discard_unsent(&self) {
        let _ = self.delete_unsent();
        if !self.made.is_empty() {
            let _ = fs::remove_dir(&self.data_dir); // only if empty
        }
        self.remove_made_dirs();
    }

    /// Removes the directories the crate named and made, each only if it
    /// is empty.
    fn remove_made_dirs(&self) {
        for dir in &self.made {
            let _ = fs::remove_dir(dir); // only if empty
        }
    }

    /// In every run, as it starts: what a run that wrote after an opt-out
    /// (or a `reset`) and could not clean up left behind — killed, say —
    /// is deleted: what an earlier deletion moved aside (`*.deleted-*`,
    /// always garbage), and the spool and the local events file if the
    /// stored decision is not "enabled" (after `disable`, undecided, or no
    /// file). `on`: this run records, so the decision is "enabled" and
    /// those are the user's. One listing of the data directory (one failed
    /// `open` when there is none); the consent file is read only when an
    /// off run finds something.
    pub(crate) fn sweep_after_opt_out(&self, on: bool) {
        let Ok(entries) = fs::read_dir(&self.data_dir) else {
            return;
        };
        let mut left = false;
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if [layout::SPOOL_DIR, layout::LOCAL_FILE].contains(&name.as_ref()) {
                left = true;
            } else if [layout::SPOOL_DIR, layout::LOCAL_FILE]
                .iter()
                .any(|kept| name.starts_with(&format!("{kept}.deleted-")))
            {
                let _ = crate::fs::remove_retrying(&entry.path());
            }
        }
        if on || !left {
            return;
        }
        match self.read() {
            OnDisk::Missing => self.discard_unsent(), // reset: no lock file to bring back
            OnDisk::Current(stored) if stored.state != Decision::Enabled => {
                // Under the lock: a `disable` or `enable` under way finishes
                // first (then the decision is read again).
                if let Ok(Some(_lock)) = crate::fs::lock(&self.lock_path(), COMMAND_PATIENCE)
                    && let OnDisk::Current(stored) = self.read()
                    && stored.state != Decision::Enabled
                {
                    self.discard_unsent();
                }
            }
            // Enabled (the data is the user's to send), or a file this
            // version cannot read: left alone.
            _ => {}
        }
    }

    /// The off switch that keeps telemetry off whatever the user stored,
    /// if one does: the build, `DO_NOT_TRACK`, `<TOOL>_TELEMETRY_DISABLED`,
    /// the machine's file, the project's file, the tool's setting (in that
    /// order, the first that applies).
    pub(crate) fn switched_off(&self) -> Option<PolicySource> {
        use super::switches::Said;
        if self.env.built_without_telemetry() {
            return Some(PolicySource::Build);
        }
        if self.env.truthy("DO_NOT_TRACK") {
            return Some(PolicySource::DoNotTrack);
        }
        let variable = self.disable_variable();
        if self.env.var(&variable).is_some() {
            return Some(PolicySource::ToolVariable(variable));
        }
        if let Some((path, Said::Off)) = self.machine_switch().first() {
            return Some(PolicySource::MachineFile(path.clone()));
        }
        if let Some((path, Said::Off)) = self.project_switch().found.first() {
            return Some(PolicySource::ProjectFile(path.clone()));
        }
        self.tool_switch.clone().map(PolicySource::ToolSetting)
    }

    /// The project's switch files, off first: looked for once per store.
    /// The machine's switch files, off first: looked for once per store.
    fn machine_switch(&self) -> &[(PathBuf, super::switches::Said)] {
        self.machine_switch
            .get_or_init(|| super::switches::machine(&self.tool, &self.env))
    }

    fn project_switch(&self) -> &super::switches::Project {
        self.project_switch
            .get_or_init(|| super::switches::project(&self.tool, &self.env))
    }

    /// Switch files that say something else than `off` (they change
    /// nothing), and a project's switch that could not be looked for in
    /// full: `status` says so.
    pub(crate) fn switch_problems(&self) -> Vec<String> {
        use super::switches::Said;
        let project = self.project_switch();
        self.machine_switch()
            .iter()
            .chain(&project.found)
            .filter_map(|(path, said)| match said {
                Said::Off => None,
                Said::Other(why) => Some(format!(
                    "{} {why}, so it changes nothing",
                    crate::text::shown(path)
                )),
            })
            .chain(project.problem.clone())
            .collect()
    }

    /// The sink a tool's events go to: `sink`, or [`DebugSink`] in debug
    /// mode. Debug mode is decided here and nowhere else.
    pub(crate) fn tool_sink<S>(&self, sink: S) -> ToolSink<S> {
        if self.debug_mode() {
            ToolSink::Debug(DebugSink)
        } else {
            ToolSink::Normal(sink)
        }
    }

    /// Stores the user's opt-in, creating the per-install nonce if there is
    /// none. Enabling twice, or from many processes at once, keeps one
    /// nonce, so every one of them reports the same id.
    ///
    /// # Errors
    ///
    /// When the consent file cannot be written, or holds a newer format
    /// (which is left as it is).
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::consent::ConsentStore;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"));
    /// store.enable()?;
    /// store.enable()?; // the same nonce, so the same id
    /// assert!(store.load()?.install_id.is_some());
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    pub fn enable(&self) -> Result<(), TelemetryError> {
        self.update(false, LOCK_PATIENCE, |on_disk| {
            let mut stored = match on_disk {
                OnDisk::Current(stored) => stored,
                OnDisk::Newer { version, .. } => return Err(self.newer_error(version)),
                OnDisk::Missing | OnDisk::Unusable(_) => StoredConsent::default(),
            };
            // The opt-in time is when telemetry went on; enabling again
            // while on is no new opt-in (nothing recorded since is orphaned).
            if stored.state != Decision::Enabled || stored.decided_at.is_none() {
                stored.decided_at = Some(now());
            }
            stored.state = Decision::Enabled;
            stored.install_id.get_or_insert_with(new_install_id);
            Ok(Some(to_fields(&stored)))
        })
    }

    /// Stores the user's opt-out, then deletes every event not yet sent
    /// (the spool, and the local events file) and what the uploader last
    /// did, while still holding the consent lock: a command or an uploader
    /// that checks the decision under that lock sees the opt-out before it
    /// can write or send again. Works whatever the file held (a damaged
    /// file is replaced; a newer format keeps its other fields), and waits
    /// for no lock longer than 2 s: an opt-out is never lost.
    ///
    /// # Errors
    ///
    /// When the consent file cannot be written, or (after the opt-out was
    /// stored) the unsent events cannot be deleted.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::consent::{ConsentStore, Decision};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"));
    /// std::fs::write(store.file(), "{ junk").unwrap(); // a damaged file
    /// store.disable()?; // works anyway
    /// assert_eq!(store.load()?.state, Decision::Disabled);
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    pub fn disable(&self) -> Result<(), TelemetryError> {
        let _lock = self.lock(true, LOCK_PATIENCE)?;
        self.write_change(|on_disk| {
            let mut fields = match on_disk {
                OnDisk::Current(stored) => to_fields(&stored),
                OnDisk::Newer { fields, .. } => fields,
                OnDisk::Missing | OnDisk::Unusable(_) => to_fields(&StoredConsent::default()),
            };
            fields.insert("state".into(), "disabled".into());
            fields.insert("decided_at".into(), now().into());
            Ok(Some(fields))
        })?;
        self.delete_unsent()
    }

    /// Deletes the spool and the local events file, each renamed away
    /// first so nothing can be added to it meanwhile.
    fn delete_unsent(&self) -> Result<(), TelemetryError> {
        let mut first = None;
        for path in [
            crate::pipeline::layout::spool_dir(&self.data_dir),
            self.events_path(),
        ] {
            if let Err(e) = crate::fs::remove_all_now(&path) {
                let e = TelemetryError::io("delete the unsent events in", &path, e);
                first = Some(match first {
                    None => e,
                    Some(earlier) => TelemetryError::and_also(earlier, &e.one_line()),
                });
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Records, under the lock, that notice `version` was shown, if the
    /// user is still undecided and was not shown it: `true` when recorded.
    ///
    /// The notice leaves one file: the lock file it took is removed again
    /// while held (as `reset` does; a process waiting for it then takes
    /// the one at the path, see `fs::lock`).
    pub(crate) fn record_notice(&self, version: u32) -> Result<bool, TelemetryError> {
        let mut recorded = false;
        let lock = self.lock(false, COMMAND_PATIENCE)?;
        self.write_change(|on_disk| {
            let mut stored = match on_disk {
                OnDisk::Current(stored) => stored,
                OnDisk::Missing => StoredConsent::default(),
                // Only an explicit decision replaces a file we cannot read.
                OnDisk::Newer { .. } | OnDisk::Unusable(_) => return Ok(None),
            };
            if stored.state != Decision::Undecided
                || stored.notice_version.is_some_and(|v| v >= version)
            {
                return Ok(None);
            }
            stored.notice_version = Some(version);
            recorded = true;
            Ok(Some(to_fields(&stored)))
        })?;
        if lock.is_some() {
            let _ = fs::remove_file(self.lock_path());
        }
        drop(lock);
        Ok(recorded)
    }

    /// Forgets the decision, deletes the tool's local telemetry data, and
    /// with the consent file the per-install nonce: the next id after
    /// enabling again differs from the old one. Removes everything it can.
    ///
    /// # Errors
    ///
    /// The first failure (the consent file's, else the data directory's),
    /// naming the other too if both failed.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::consent::ConsentStore;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"));
    /// store.enable()?;
    /// store.reset()?;
    /// assert!(!store.file().exists());
    /// store.reset()?; // nothing left: still fine
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    pub fn reset(&self) -> Result<(), TelemetryError> {
        let lock = crate::fs::lock(&self.lock_path(), LOCK_PATIENCE);
        let held = matches!(lock, Ok(Some(_)));
        let decision = match fs::remove_file(&self.file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Some(TelemetryError::consent_io("delete", &self.file, e))
            }
            _ => None,
        };
        // Still under the lock: no command or uploader can check the
        // decision until the data is gone.
        let data = crate::fs::remove_all_now(&self.data_dir)
            .err()
            .map(|e| TelemetryError::io("delete", &self.data_dir, e));
        // Nothing of the tool's telemetry is left: not its lock file (removed
        // only while held: whoever waits on it then takes the new one, see
        // `fs::lock`; without it, another process holds it and needs it),
        if decision.is_none() && held {
            let _ = fs::remove_file(self.lock_path());
        }
        drop(lock);
        if decision.is_none() {
            // and not the tool's directories the crate made, once empty.
            self.remove_made_dirs();
        }
        match (decision, data) {
            (None, None) => Ok(()),
            (Some(e), None) | (None, Some(e)) => Err(e),
            (Some(decision), Some(data)) => Err(decision.and_also(&data.one_line())),
        }
    }

    /// The policy in force for this process, and who decided it (see the
    /// [module docs](super) for the order). Never writes.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{Env, consent::{ConsentStore, PolicySource}};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"))
    ///     .with_env(Env::from_vars([("MYTOOL_TELEMETRY_DISABLED", "1")]));
    /// store.enable()?;
    /// let effective = store.effective_policy();
    /// assert!(!effective.policy.is_enabled()); // the variable wins
    /// assert!(matches!(effective.source, PolicySource::ToolVariable(_)));
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    #[must_use]
    pub fn effective_policy(&self) -> Effective {
        self.resolve().0
    }

    /// The effective policy, and the stored record when it is enabled.
    fn resolve(&self) -> (Effective, Option<StoredConsent>) {
        let off = |source| Effective {
            policy: CollectionPolicy::Disabled,
            source,
        };
        if let Some(source) = self.switched_off() {
            return (off(source), None);
        }
        let unreadable = |e: TelemetryError| {
            off(PolicySource::Unreadable {
                path: self.file.clone(),
                reason: e.to_string(),
            })
        };
        match self.read() {
            OnDisk::Current(stored) => match stored.state {
                Decision::Enabled => (
                    Effective {
                        policy: CollectionPolicy::Enabled,
                        source: PolicySource::StoredDecision(self.file.clone()),
                    },
                    Some(stored),
                ),
                Decision::Disabled => (off(PolicySource::StoredDecision(self.file.clone())), None),
                Decision::Undecided => (off(PolicySource::Undecided(self.file.clone())), None),
            },
            OnDisk::Missing => (off(PolicySource::Undecided(self.file.clone())), None),
            OnDisk::Newer { version, .. } => (unreadable(self.newer_error(version)), None),
            OnDisk::Unusable(e) => (unreadable(e), None),
        }
    }

    /// The salt for this install: `base` joined with the per-install nonce,
    /// or `None` when telemetry is not effectively enabled (nothing is
    /// derived before the user opts in).
    ///
    /// A file enabled by an older version may lack a nonce; one is then
    /// added under the lock, after checking that the decision still stands,
    /// so this never writes back a stale decision.
    ///
    /// # Errors
    ///
    /// When a missing nonce cannot be stored.
    ///
    /// # Example
    ///
    /// ```
    /// # use rtb_telemetry::consent::ConsentStore;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"));
    /// assert_eq!(store.salt("mytool-v1")?, None); // not opted in
    /// store.enable()?;
    /// let salt = store.salt("mytool-v1")?.unwrap();
    /// assert!(salt.starts_with("mytool-v1:"));
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    pub fn salt(&self, base: &str) -> Result<Option<String>, TelemetryError> {
        Ok(self.resolve_salt(base)?.1)
    }

    /// The effective policy and, when it is enabled, the salt.
    pub(crate) fn resolve_salt(
        &self,
        base: &str,
    ) -> Result<(Effective, Option<String>), TelemetryError> {
        let (effective, stored) = self.resolve();
        let Some(stored) = stored else {
            return Ok((effective, None));
        };
        if let Some(nonce) = stored.install_id {
            return Ok((effective, Some(format!("{base}:{nonce}"))));
        }
        let mut nonce = None;
        self.update(false, COMMAND_PATIENCE, |on_disk| {
            let OnDisk::Current(mut stored) = on_disk else {
                return Ok(None); // changed meanwhile: no longer ours to decide
            };
            if stored.state != Decision::Enabled {
                return Ok(None); // disabled meanwhile: the opt-out stands
            }
            if let Some(existing) = &stored.install_id {
                nonce = Some(existing.clone());
                return Ok(None);
            }
            let fresh = new_install_id();
            stored.install_id = Some(fresh.clone());
            nonce = Some(fresh);
            Ok(Some(to_fields(&stored)))
        })?;
        if let Some(nonce) = nonce {
            return Ok((effective, Some(format!("{base}:{nonce}"))));
        }
        // The decision changed under us; read it again, without writing.
        let (effective, stored) = self.resolve();
        let salt = stored
            .and_then(|s| s.install_id)
            .map(|nonce| format!("{base}:{nonce}"));
        Ok(match salt {
            Some(salt) => (effective, Some(salt)),
            None => (
                Effective {
                    policy: CollectionPolicy::Disabled,
                    ..effective
                },
                None,
            ),
        })
    }

    /// The tool's context, with everything above applied: the effective
    /// policy, the per-install salt, and debug mode (events to stderr
    /// instead of `sink`). When telemetry is off, nothing is derived, read
    /// beyond the consent file, or written.
    ///
    /// Never fails: if the per-install nonce cannot be stored, the context
    /// does not collect (and `telemetry status` says why).
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{Env, MemorySink};
    /// use rtb_telemetry::consent::ConsentStore;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"))
    ///     .with_env(Env::from_vars::<_, &str, &str>([]));
    /// let ctx = store.context("1.0.0", "mytool-v1", MemorySink::new());
    /// assert!(!ctx.is_enabled()); // not opted in
    /// store.enable()?;
    /// assert!(store.context("1.0.0", "mytool-v1", MemorySink::new()).is_enabled());
    /// # Ok::<(), rtb_telemetry::TelemetryError>(())
    /// ```
    pub fn context<S: TelemetrySink>(
        &self,
        tool_version: &str,
        base_salt: &str,
        sink: S,
    ) -> TelemetryContext<ToolSink<S>, RuntimePolicy> {
        let sink = self.tool_sink(sink);
        let builder = TelemetryContext::builder()
            .tool(self.tool.clone())
            .tool_version(tool_version)
            .sink(sink);
        match self.resolve_salt(base_salt) {
            Ok((_, Some(salt))) => builder.salt(salt).policy(CollectionPolicy::Enabled).build(),
            Ok((_, None)) => builder.build(),
            Err(e) => {
                if self.debug_mode() {
                    crate::sink::debug::problem(&self.tool, &e);
                }
                builder.build()
            }
        }
    }
}

/// The user's decision as an uploader or a command's first write sees it,
/// checked under the consent lock, which it holds while it lives.
#[cfg(feature = "upload")]
#[derive(Debug)]
pub(crate) struct Pass {
    _lock: crate::fs::Lock,
    /// The salt of the decision: `<base>:<per-install value>`.
    pub(crate) salt: String,
    /// The current machine id; `None` when the OS gives no stable one.
    pub(crate) machine_id: Option<String>,
    /// When the user opted in (RFC 3339 UTC), if the file says.
    pub(crate) since: Option<String>,
}

/// The consent file's fields, as `StoredConsent`'s serde form writes them
/// (spelled out: the derive's `flatten` machinery costs a tool's binary
/// more than these lines; a unit test checks they agree).
fn to_fields(stored: &StoredConsent) -> Map<String, Value> {
    let mut fields = stored.extra.clone();
    let state = match stored.state {
        Decision::Undecided => "undecided",
        Decision::Enabled => "enabled",
        Decision::Disabled => "disabled",
    };
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    fields.insert("version".into(), FORMAT_VERSION.into());
    fields.insert("state".into(), state.into());
    fields.insert("decided_at".into(), text(&stored.decided_at));
    fields.insert(
        "notice_version".into(),
        stored.notice_version.map_or(Value::Null, Value::from),
    );
    fields.insert("install_id".into(), text(&stored.install_id));
    fields
}

/// [`StoredConsent`] from the file's fields (see [`to_fields`]); what this
/// version does not know is kept in `extra`.
fn from_fields(mut fields: Map<String, Value>) -> Result<StoredConsent, String> {
    let text = |value: Option<Value>, name: &str| match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{name}` is not text")),
    };
    let version = fields
        .remove("version")
        .and_then(|v| v.as_u64())
        .and_then(|v| u32::try_from(v).ok())
        .ok_or("no format version")?;
    let state = match fields.remove("state") {
        None | Some(Value::Null) => Decision::Undecided,
        Some(Value::String(s)) => match s.as_str() {
            "undecided" => Decision::Undecided,
            "enabled" => Decision::Enabled,
            "disabled" => Decision::Disabled,
            other => return Err(format!("unknown state `{other}`")),
        },
        Some(_) => return Err("`state` is not text".into()),
    };
    let decided_at = text(fields.remove("decided_at"), "decided_at")?;
    let notice_version = match fields.remove("notice_version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or("`notice_version` is not a number")?,
        ),
    };
    let install_id = text(fields.remove("install_id"), "install_id")?;
    Ok(StoredConsent {
        version,
        state,
        decided_at,
        notice_version,
        install_id,
        extra: fields,
    })
}

fn now() -> String {
    crate::timestamp::rfc3339_utc(SystemTime::now())
}

fn new_install_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written field mapping agrees with the serde derive, both
    /// ways, unknown fields included.
    #[test]
    fn fields_agree_with_the_serde_form() {
        let mut extra = Map::new();
        extra.insert("future".into(), serde_json::json!({"x": [1, 2]}));
        for state in [Decision::Undecided, Decision::Enabled, Decision::Disabled] {
            let stored = StoredConsent {
                version: FORMAT_VERSION,
                state,
                decided_at: Some("2026-11-30T00:00:00.000000Z".into()),
                notice_version: Some(3),
                install_id: None,
                extra: extra.clone(),
            };
            let by_hand = Value::Object(to_fields(&stored));
            assert_eq!(by_hand, serde_json::to_value(&stored).unwrap());
            let Value::Object(fields) = by_hand else {
                unreachable!()
            };
            assert_eq!(from_fields(fields.clone()).unwrap(), stored);
            assert_eq!(
                serde_json::from_value::<StoredConsent>(Value::Object(fields)).unwrap(),
                stored
            );
        }
        let mut bad = Map::new();
        bad.insert("version".into(), 1.into());
        bad.insert("state".into(), "maybe".into());
        assert!(from_fields(bad).is_err());
    }
}
