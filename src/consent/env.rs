//! What the environment says: opt-out variables, debug mode, CI.

use std::fmt;
use std::path::PathBuf;

use crate::{CollectionPolicy, Env};

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
