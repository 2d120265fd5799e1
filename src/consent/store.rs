//! [`ConsentStore`]: where one tool keeps the user's decision and its local
//! data, and what the user does to it (`enable`, `disable`, `reset`, the
//! notice). The stored file and its lock are `file.rs`; what the decision
//! is, with the environment and the switches, `decision.rs`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::{
    Change, Decision, FORMAT_VERSION, OnDisk, StoredConsent, StoredFile, new_install_id, now,
    to_fields,
};
use crate::{Env, TelemetryError};

/// How long a user's change (`enable`, `disable`, `reset`) waits for another
/// process's change to the same file.
pub(super) const LOCK_PATIENCE: Duration = Duration::from_secs(2);
/// How long a command's own bookkeeping (a missing nonce, the notice)
/// waits: a stuck lock must not slow the host, so it gives up and leaves
/// telemetry off for this run.
pub(super) const COMMAND_PATIENCE: Duration = Duration::from_millis(100);

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
    pub(super) tool: String,
    pub(super) file: PathBuf,
    pub(super) data_dir: PathBuf,
    pub(super) env: Env,
    /// The directories the crate named and made in the platform's layout
    /// (`<config>/<tool>`, `<data>/<tool>`): its to remove when they are
    /// empty. None for paths the tool chose.
    pub(super) made: Vec<PathBuf>,
    /// How the tool names its own setting when that setting turns
    /// telemetry off.
    pub(super) tool_switch: Option<String>,
    /// How users type the verbs, up to the verb (`None`: `<tool> telemetry`).
    pub(super) verbs: Option<String>,
    /// The project's switch, looked for once per store (one `stat` per
    /// directory level, however often the decision is checked).
    pub(super) project_switch: std::sync::Arc<std::sync::OnceLock<super::switches::Project>>,
    /// The machine's switch files, looked for once (every record checks
    /// the decision; the files are not read again each time).
    pub(super) machine_switch:
        std::sync::Arc<std::sync::OnceLock<Vec<(PathBuf, super::switches::SwitchSays)>>>,
    /// The version of the file last read that said "enabled": a later check
    /// that finds the same version need not read it again.
    /// With the install nonce it held.
    pub(super) enabled_version:
        std::sync::Arc<std::sync::Mutex<Option<(crate::fs::Fingerprint, String)>>>,
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
        super::naming::verb_as(&self.tool, self.verbs.as_deref(), verb)
    }

    /// The consent file, to read or change.
    pub(super) fn stored(&self) -> StoredFile<'_> {
        StoredFile {
            path: &self.file,
            tool: &self.tool,
            verbs: self.verbs.as_deref(),
        }
    }

    pub(super) fn lock_path(&self) -> PathBuf {
        self.stored().lock_path()
    }

    pub(super) fn newer_error(&self, version: u64) -> TelemetryError {
        self.stored().newer_error(version)
    }

    /// Read-modify-write under the lock (see [`StoredFile::update`]).
    pub(super) fn update(
        &self,
        insist: bool,
        patience: Duration,
        change: impl FnOnce(OnDisk) -> Result<Change, TelemetryError>,
    ) -> Result<(), TelemetryError> {
        self.stored().update(insist, patience, change)
    }

    /// The consent lock (see [`StoredFile::lock`]).
    pub(super) fn lock(
        &self,
        insist: bool,
        patience: Duration,
    ) -> Result<Option<crate::fs::Lock>, TelemetryError> {
        self.stored().lock(insist, patience)
    }

    /// Writes what `change` makes of the file; the caller holds the lock.
    pub(super) fn write_change(
        &self,
        change: impl FnOnce(OnDisk) -> Result<Change, TelemetryError>,
    ) -> Result<(), TelemetryError> {
        self.stored().write_change(change)
    }

    /// What is on disk; when it says "enabled", which version of the file
    /// said so is remembered (see [`still_ours`](Self::still_ours)).
    pub(super) fn read(&self) -> OnDisk {
        let (on_disk, version) = self.stored().read();
        let enabled = match &on_disk {
            OnDisk::Current(s) if s.state == Decision::Enabled => s.install_id.clone(),
            _ => None,
        };
        *self
            .enabled_version
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = enabled
            .zip(version)
            .map(|(nonce, version)| (version, nonce));
        on_disk
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

    /// The environment this store reads.
    #[must_use]
    pub(crate) fn env(&self) -> &Env {
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
}
