//! The decision: what the user stored, what the environment and the
//! switches say, which wins ([`Effective`], [`PolicySource`]), and the
//! checks a run makes that it still stands.

use std::fmt;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use super::file::{Decision, OnDisk, StoredConsent, new_install_id, to_fields};
use super::store::{COMMAND_PATIENCE, ConsentStore};
use crate::{CollectionPolicy, Env, TelemetryError};

/// The prefix of a tool's variables: its name upper-cased, with every
/// character that is not ASCII alphanumeric turned into `_`.
///
/// # Example
///
/// ```
/// use rtb_telemetry::consent::env_prefix;
///
/// assert_eq!(env_prefix("mytool"), "MYTOOL");
/// assert_eq!(env_prefix("my-tool.rs"), "MY_TOOL_RS");
/// ```
#[must_use]
pub fn env_prefix(tool: &str) -> String {
    tool.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Variables whose presence means "running in CI", across common providers.
const CI_VARIABLES: &[&str] = &[
    "CI",
    "CONTINUOUS_INTEGRATION",
    "BUILD_NUMBER",
    "RUN_ID",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "TF_BUILD",
    "JENKINS_URL",
    "BUILDKITE",
    "CIRCLECI",
    "TRAVIS",
    "TEAMCITY_VERSION",
    "BITBUCKET_BUILD_NUMBER",
    "CODEBUILD_BUILD_ID",
    "DRONE",
    "APPVEYOR",
];

/// `true` when any common CI variable is set (and, for the generic `CI` and
/// `CONTINUOUS_INTEGRATION`, not set to `0`/`false`/empty).
pub(crate) fn in_ci(env: &Env) -> bool {
    CI_VARIABLES.iter().any(|name| match *name {
        "CI" | "CONTINUOUS_INTEGRATION" => env.truthy(name),
        _ => env.var(name).is_some(),
    })
}

/// Who decided the effective policy.
///
/// # Example
///
/// ```
/// use rtb_telemetry::consent::PolicySource;
///
/// let source = PolicySource::ToolVariable("MYTOOL_TELEMETRY_DISABLED".into());
/// assert_eq!(source.to_string(), "the environment variable MYTOOL_TELEMETRY_DISABLED");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicySource {
    /// This build of the tool has no telemetry (it was built with
    /// `--cfg rtb_telemetry_disabled`).
    Build,
    /// `DO_NOT_TRACK` is set (to anything but empty, `0` or `false`).
    DoNotTrack,
    /// `<TOOL>_TELEMETRY_DISABLED` is set; holds the variable's name.
    ToolVariable(String),
    /// The machine's switch, `<tool>/telemetry` in a system configuration
    /// directory, says `off`; holds its path.
    MachineFile(PathBuf),
    /// A project's switch, `.<tool>-telemetry` in the working directory or
    /// above, says `off`; holds its path.
    ProjectFile(PathBuf),
    /// The tool's own setting turns telemetry off; holds how the tool
    /// names it.
    ToolSetting(String),
    /// The user's stored decision, in this file.
    StoredDecision(PathBuf),
    /// No decision is stored in this file (or it does not exist): off.
    Undecided(PathBuf),
    /// There is nowhere to keep a decision (no home directory): off. Holds
    /// why.
    Unavailable(String),
    /// The file exists but cannot be used, so it counts as undecided: off.
    Unreadable {
        /// The consent file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
}

impl fmt::Display for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Build => f.write_str(
                "this build, which has no telemetry (built with --cfg rtb_telemetry_disabled)",
            ),
            Self::DoNotTrack => f.write_str("the environment variable DO_NOT_TRACK"),
            Self::ToolVariable(name) => write!(f, "the environment variable {name}"),
            Self::MachineFile(path) => {
                write!(f, "the machine-wide setting {}", crate::text::shown(path))
            }
            Self::ProjectFile(path) => {
                write!(f, "the project's setting {}", crate::text::shown(path))
            }
            Self::ToolSetting(name) => write!(f, "the tool's setting {name}"),
            Self::StoredDecision(path) => write!(f, "the decision stored in {}", path.display()),
            Self::Undecided(path) => write!(
                f,
                "no decision yet (none stored in {}); telemetry is off until you enable it",
                path.display()
            ),
            Self::Unavailable(why) => write!(f, "nothing can be decided: {why}"),
            Self::Unreadable { path, reason } => write!(
                f,
                "no usable decision: {} is unreadable ({reason}), so it counts as undecided",
                path.display()
            ),
        }
    }
}

/// The policy in force, and who decided it.
///
/// # Example
///
/// ```
/// use rtb_telemetry::consent::ConsentStore;
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = ConsentStore::at("mytool", dir.path().join("consent.json"), dir.path().join("data"))
///     .with_env(rtb_telemetry::Env::from_vars::<_, &str, &str>([])); // an empty environment
/// let effective = store.effective_policy();
/// assert!(!effective.policy.is_enabled()); // undecided means off
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Enabled or disabled.
    pub policy: CollectionPolicy,
    /// Who decided.
    pub source: PolicySource,
}

/// The user's decision as an uploader or a command's first write sees it,
/// checked under the consent lock, which it holds while it lives.
#[cfg(feature = "upload")]
#[derive(Debug)]
pub(crate) struct HeldDecision {
    _lock: crate::fs::Lock,
    /// The salt of the decision: `<base>:<per-install value>`.
    pub(crate) salt: String,
    /// The current machine id; `None` when the OS gives no stable one.
    pub(crate) machine_id: Option<String>,
    /// When the user opted in (RFC 3339 UTC), if the file says.
    pub(crate) since: Option<String>,
}

impl ConsentStore {
    /// The variable that turns this tool's telemetry off, e.g.
    /// `MYTOOL_TELEMETRY_DISABLED` (`MY_TOOL_…` for `my-tool`).
    #[must_use]
    pub(crate) fn disable_variable(&self) -> String {
        format!("{}_TELEMETRY_DISABLED", env_prefix(&self.tool))
    }

    /// The variable that turns on debug mode, e.g. `MYTOOL_TELEMETRY_DEBUG`.
    #[must_use]
    pub(crate) fn debug_variable(&self) -> String {
        format!("{}_TELEMETRY_DEBUG", env_prefix(&self.tool))
    }

    /// `true` when `<TOOL>_TELEMETRY_DEBUG` is set to anything but empty, `0`
    /// or `false`.
    #[must_use]
    pub(crate) fn debug_mode(&self) -> bool {
        self.env.truthy(&self.debug_variable())
    }

    /// Checks, under the consent lock shared with other readers (so no
    /// `disable` or `reset` is half done), that telemetry is still on;
    /// holds that lock while the returned pass lives. `None` when it is
    /// off, or the lock cannot be had within `patience`: the caller must
    /// then not send, spool or write state.
    #[cfg(feature = "upload")]
    pub(crate) fn pass(&self, base_salt: &str, patience: Duration) -> Option<HeldDecision> {
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
        Some(HeldDecision {
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

    /// [`still_on`](Self::still_on) for a panic hook: the decision read
    /// from the file every time, never through the cache another thread
    /// may hold the lock of.
    pub(crate) fn still_on_from_hook(
        &self,
        patience: Duration,
        salt: &str,
    ) -> Option<crate::fs::Lock> {
        fs::symlink_metadata(&self.file).ok()?;
        let lock = crate::fs::lock_as(&self.lock_path(), crate::fs::Mode::Shared, patience)
            .ok()
            .flatten()?;
        (self.still_ours_from_file(salt) == Some(true)).then_some(lock)
    }

    /// [`still_ours`](Self::still_ours) for a panic hook: the decision read
    /// from the file (never through the cache, whose lock another thread
    /// may hold); `None` when the file cannot be read now (a process out
    /// of descriptors, say): not known to be off, so nothing is deleted
    /// for it.
    pub(crate) fn still_ours_from_file(&self, salt: &str) -> Option<bool> {
        if self.switched_off().is_some() {
            return Some(false);
        }
        match self.stored().read().0 {
            OnDisk::Current(stored) => Some(
                stored.state == Decision::Enabled
                    && stored.install_id.is_some_and(|nonce| is_ours(salt, &nonce)),
            ),
            OnDisk::Unusable(_) => None,
            OnDisk::Missing | OnDisk::Newer { .. } => Some(false),
        }
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
        let ours = |nonce: &str| is_ours(salt, nonce);
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

    /// When the user last opted in, as the stored file says (`None`: not
    /// enabled, or no time stored): what a report mode's counts are kept
    /// under, so none from before the latest `enable` is reported.
    pub(crate) fn opted_in_at(&self) -> Option<String> {
        self.resolve().1?.decided_at
    }

    /// The off switch that keeps telemetry off whatever the user stored,
    /// if one does: the build, `DO_NOT_TRACK`, `<TOOL>_TELEMETRY_DISABLED`,
    /// the machine's file, the project's file, the tool's setting (in that
    /// order, the first that applies).
    pub(crate) fn switched_off(&self) -> Option<PolicySource> {
        use super::switches::SwitchSays;
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
        if let Some((path, SwitchSays::Off)) = self.machine_switch().first() {
            return Some(PolicySource::MachineFile(path.clone()));
        }
        if let Some((path, SwitchSays::Off)) = self.project_switch().found.first() {
            return Some(PolicySource::ProjectFile(path.clone()));
        }
        self.tool_switch.clone().map(PolicySource::ToolSetting)
    }

    /// The project's switch files, off first: looked for once per store.
    /// The machine's switch files, off first: looked for once per store.
    pub(super) fn machine_switch(&self) -> &[(PathBuf, super::switches::SwitchSays)] {
        self.machine_switch
            .get_or_init(|| super::switches::machine(&self.tool, &self.env))
    }

    pub(super) fn project_switch(&self) -> &super::switches::Project {
        self.project_switch
            .get_or_init(|| super::switches::project(&self.tool, &self.env))
    }

    /// Switch files that say something else than `off` (they change
    /// nothing), and a project's switch that could not be looked for in
    /// full: `status` says so.
    pub(crate) fn switch_problems(&self) -> Vec<String> {
        use super::switches::SwitchSays;
        let project = self.project_switch();
        self.machine_switch()
            .iter()
            .chain(&project.found)
            .filter_map(|(path, said)| match said {
                SwitchSays::Off => None,
                SwitchSays::Other(why) => Some(format!(
                    "{} {why}, so it changes nothing",
                    crate::text::shown(path)
                )),
            })
            .chain(project.problem.clone())
            .collect()
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
    pub(super) fn resolve(&self) -> (Effective, Option<StoredConsent>) {
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
}

/// Whether `salt` was made with `nonce` (`<base>:<nonce>`).
fn is_ours(salt: &str, nonce: &str) -> bool {
    salt.strip_suffix(nonce)
        .is_some_and(|base| base.ends_with(':'))
}
