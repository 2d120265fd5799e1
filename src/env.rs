//! Where the crate reads environment variables from.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::io::IsTerminal;
use std::sync::Arc;

/// `true` in a build made with `--cfg rtb_telemetry_disabled`.
pub(crate) const BUILT_WITHOUT_TELEMETRY: bool = cfg!(rtb_telemetry_disabled);

/// The environment the crate reads: the process's variables by default, or
/// a fixed set (for tests, or for a tool that resolves its own
/// configuration). Also answers "is stderr an interactive terminal?", for
/// the first-run notice.
///
/// Everything that reads variables — [`ConsentStore`](crate::consent::ConsentStore),
/// [`Telemetry`](crate::Telemetry), `OtlpSink::from_env` — holds or takes
/// one of these; there are no `_with(env)` twins. Two things still come
/// from the process: the platform directories (`ConsentStore::new`,
/// `Telemetry` without `.paths(..)`: `HOME`, `XDG_*`), and the user names
/// the default redaction removes (`USER`, `USERNAME`, `LOGNAME`).
///
/// # Example
///
/// ```
/// use rtb_telemetry::Env;
///
/// let env = Env::from_vars([("DO_NOT_TRACK", "1")]);
/// assert_eq!(env.var("DO_NOT_TRACK"), Some("1".into()));
/// assert_eq!(env.var("HOME"), None); // nothing leaks in from the process
/// assert!(!env.is_terminal());
/// ```
#[derive(Clone, Default)]
pub struct Env {
    vars: Vars,
    terminal: Option<bool>,
    /// Where a project's off switch is looked for (default: the process's
    /// working directory).
    current_dir: Option<std::path::PathBuf>,
    /// Behave as a build without telemetry does.
    without_telemetry: bool,
}

#[derive(Clone, Default)]
enum Vars {
    #[default]
    Process,
    Fixed(Arc<HashMap<String, OsString>>),
}

impl Env {
    /// The process environment, and stderr's real terminal status. The
    /// default.
    #[must_use]
    pub fn process() -> Self {
        Self::default()
    }

    /// Exactly these variables, nothing from the process; stderr counts as
    /// not a terminal unless [`with_terminal`](Self::with_terminal) says so.
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<OsString>,
    {
        let vars = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self {
            vars: Vars::Fixed(Arc::new(vars)),
            terminal: Some(false),
            current_dir: None,
            without_telemetry: false,
        }
    }

    /// Overrides whether stderr counts as an interactive terminal.
    ///
    /// # Example
    ///
    /// ```
    /// let env = rtb_telemetry::Env::from_vars([("TERM", "xterm")]).with_terminal(true);
    /// assert!(env.is_terminal());
    /// ```
    #[must_use]
    pub fn with_terminal(mut self, interactive: bool) -> Self {
        self.terminal = Some(interactive);
        self
    }

    /// Looks for a project's off switch (`.<tool>-telemetry`) from `dir`
    /// up instead of from the process's working directory.
    ///
    /// # Example
    ///
    /// ```
    /// let env = rtb_telemetry::Env::process().with_current_dir("/work/project");
    /// assert_eq!(env.current_dir().unwrap(), std::path::Path::new("/work/project"));
    /// ```
    #[must_use]
    pub fn with_current_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// Behaves as a build made with `--cfg rtb_telemetry_disabled` does
    /// (telemetry off, `status` and `enable` say the build has none): for a
    /// tool's tests of what its packagers' users see. Only ever off.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::{Env, consent::{ConsentStore, PolicySource}};
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// let env = Env::from_vars::<_, &str, &str>([]).as_if_built_without_telemetry();
    /// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"))
    ///     .with_env(env);
    /// assert_eq!(store.effective_policy().source, PolicySource::Build);
    /// ```
    #[must_use]
    pub fn as_if_built_without_telemetry(mut self) -> Self {
        self.without_telemetry = true;
        self
    }

    /// Whether this is (or behaves as) a build without telemetry.
    pub(crate) fn built_without_telemetry(&self) -> bool {
        BUILT_WITHOUT_TELEMETRY || self.without_telemetry
    }

    /// Where a project's off switch is looked for from: the physical
    /// working directory (`$PWD` too, when it names the same directory
    /// through a symlink). `None` when it cannot be found (deleted).
    #[must_use]
    pub fn current_dir(&self) -> Option<std::path::PathBuf> {
        self.current_dir
            .clone()
            .or_else(|| std::env::current_dir().ok())
    }

    /// One variable's value, if it is set.
    #[must_use]
    pub fn var(&self, name: &str) -> Option<OsString> {
        match &self.vars {
            Vars::Process => std::env::var_os(name),
            Vars::Fixed(map) => map.get(name).cloned(),
        }
    }

    /// One variable as trimmed text; `None` when unset or blank.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        let value = self.var(name)?;
        let value = value.to_string_lossy();
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// `true` when `name` is set to something other than empty, `0` or
    /// `false` (any case): the `DO_NOT_TRACK` convention.
    pub(crate) fn truthy(&self, name: &str) -> bool {
        self.text(name)
            .is_some_and(|v| !(v == "0" || v.eq_ignore_ascii_case("false")))
    }

    /// Whether stderr is an interactive terminal.
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        self.terminal
            .unwrap_or_else(|| std::io::stderr().is_terminal())
    }
}

impl fmt::Debug for Env {
    // Values may be secrets (API keys in OTLP headers): names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Env");
        match &self.vars {
            Vars::Process => out.field("vars", &"<process>"),
            Vars::Fixed(map) => {
                let mut names: Vec<_> = map.keys().collect();
                names.sort_unstable();
                out.field("vars", &names)
            }
        };
        out.field("terminal", &self.terminal)
            .field("current_dir", &self.current_dir)
            .field("without_telemetry", &self.built_without_telemetry())
            .finish()
    }
}
