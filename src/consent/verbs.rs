//! The `telemetry` verbs: `status`, `enable`, `disable`, `reset`, `show`.

use std::fmt;
use std::fmt::Write as _;

use miette::Diagnostic;

use super::decision::PolicySource;
use super::status::StatusReport;
use super::store::ConsentStore;
use crate::TelemetryError;

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
/// let events = store.events_path().display().to_string();
/// let report = TelemetryCommand::Enable.run(&store, "mytool-v1", &events);
/// assert!(report.error().is_none());
/// let status = TelemetryCommand::Status.run(&store, "mytool-v1", &events);
/// assert!(status.to_string().starts_with("telemetry: enabled"));
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
    /// Show what is waiting to be sent, exactly as it will be sent, and the last uploads.
    Show {
        /// Show instead every event the tool can send, its attrs and their values: its declared catalogue.
        #[cfg_attr(feature = "clap", arg(long))]
        catalog: bool,
        /// With --catalog: print it as JSON, the catalogue a collector checks events against.
        #[cfg_attr(feature = "clap", arg(long, requires = "catalog"))]
        json: bool,
    },
}

/// What a `telemetry` verb did: the text to print, and the error if the
/// change could not be made. Never a reason for the host tool to fail:
/// print it and exit 0.
///
/// # Example
///
/// ```
/// use rtb_telemetry::consent::{ConsentStore, TelemetryCommand};
///
/// // A consent file under a regular file cannot be written.
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("f"), "").unwrap();
/// let store = ConsentStore::at("mytool", dir.path().join("f/c.json"), dir.path().join("d"));
/// let report = TelemetryCommand::Enable.run(&store, "mytool-v1", "events.jsonl");
/// assert!(report.error().is_some());
/// assert!(report.to_string().contains("`mytool telemetry enable` did not fully succeed"));
/// ```
#[derive(Debug)]
pub struct CommandReport {
    text: String,
    error: Option<TelemetryError>,
}

impl CommandReport {
    /// A report that is only text.
    pub(crate) fn text(text: String) -> Self {
        Self { text, error: None }
    }

    /// A report of a verb that could not do what it was asked.
    pub(crate) fn failed(text: String, error: TelemetryError) -> Self {
        Self {
            text,
            error: Some(error),
        }
    }

    /// The error, when the verb could not do what it was asked.
    #[must_use]
    pub fn error(&self) -> Option<&TelemetryError> {
        self.error.as_ref()
    }
}

impl fmt::Display for CommandReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(feature = "clap")]
impl TelemetryCommand {
    /// Gives the `telemetry` subcommand and each of its verbs the host's
    /// help template (clap does not pass a template down to
    /// subcommands). For a derive-based tool, one attribute on the
    /// top-level command:
    ///
    /// ```
    /// use clap::{CommandFactory, Parser, Subcommand};
    /// use rtb_telemetry::consent::TelemetryCommand;
    ///
    /// const TEMPLATE: &str = "{name} — {about}\n\n{usage-heading} {usage}\n\n{all-args}";
    ///
    /// /// A tool with a help template of its own.
    /// #[derive(Parser)]
    /// #[command(name = "mytool", help_template = TEMPLATE)]
    /// #[command(mut_subcommand("telemetry", |c| TelemetryCommand::with_help_template(c, TEMPLATE)))]
    /// struct Cli {
    ///     #[command(subcommand)]
    ///     command: Command,
    /// }
    ///
    /// #[derive(Subcommand)]
    /// enum Command {
    ///     /// Show or change whether mytool sends anonymous usage data.
    ///     #[command(subcommand)]
    ///     Telemetry(TelemetryCommand),
    /// }
    ///
    /// let mut cli = Cli::command();
    /// let telemetry = cli.find_subcommand_mut("telemetry").unwrap();
    /// let help = telemetry.render_help().to_string();
    /// assert!(help.starts_with("telemetry — Show or change"), "{help}");
    /// let status = telemetry.find_subcommand_mut("status").unwrap().render_help().to_string();
    /// assert!(status.starts_with("status — Show whether telemetry is on"), "{status}");
    /// ```
    #[must_use]
    pub fn with_help_template(
        command: clap::Command,
        template: impl Into<clap::builder::StyledStr>,
    ) -> clap::Command {
        let template = template.into();
        let mut command = command.help_template(template.clone());
        for verb in command.get_subcommands_mut() {
            *verb = std::mem::take(verb).help_template(template.clone());
        }
        command
    }
}

impl TelemetryCommand {
    /// The verb of a command line that is exactly `<tool> --telemetry
    /// <VERB>` (or `--telemetry=<VERB>`), for a tool with no subcommands:
    /// checked before the tool parses its arguments, it offers the verbs
    /// without changing the tool's `--help`, its shell completions or the
    /// meaning of any argument it accepts (a file named `telemetry` or
    /// `help` is still a file). `None` for any other command line.
    ///
    /// # Example
    ///
    /// ```
    /// use rtb_telemetry::consent::TelemetryCommand;
    ///
    /// let verb = |line: &[&str]| TelemetryCommand::from_args(line.iter().map(|a| a.into()));
    /// assert_eq!(verb(&["wc", "--telemetry", "status"]), Some(TelemetryCommand::Status));
    /// assert_eq!(verb(&["wc", "--telemetry=disable"]), Some(TelemetryCommand::Disable));
    /// assert_eq!(verb(&["wc", "telemetry"]), None); // a file
    /// assert_eq!(verb(&["wc", "--telemetry", "status", "x"]), None);
    /// ```
    pub fn from_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Option<Self> {
        let args: Vec<std::ffi::OsString> = args.into_iter().skip(1).take(5).collect();
        let (verb, rest) = match args.as_slice() {
            [flag, verb, rest @ ..] if flag == "--telemetry" => (verb.to_str()?.to_owned(), rest),
            [flag, rest @ ..] => (
                flag.to_str()?.strip_prefix("--telemetry=")?.to_owned(),
                rest,
            ),
            _ => return None,
        };
        let rest: Vec<&str> = rest.iter().map(|a| a.to_str()).collect::<Option<_>>()?;
        match (verb.as_str(), rest.as_slice()) {
            ("status", []) => Some(Self::Status),
            ("enable", []) => Some(Self::Enable),
            ("disable", []) => Some(Self::Disable),
            ("reset", []) => Some(Self::Reset),
            ("show", []) => Some(Self::Show {
                catalog: false,
                json: false,
            }),
            ("show", ["--catalog"]) => Some(Self::Show {
                catalog: true,
                json: false,
            }),
            ("show", ["--catalog", "--json"] | ["--json", "--catalog"]) => Some(Self::Show {
                catalog: true,
                json: true,
            }),
            _ => None,
        }
    }

    /// Runs the verb and reports what to print. `base_salt` is the tool's
    /// salt; `destination` says where events go when enabled (a file path
    /// or a URL without credentials), for `status`.
    ///
    /// Never fails: a change that cannot be made is reported in the text
    /// (what failed and what to do) and in [`CommandReport::error`].
    #[must_use]
    pub fn run(self, store: &ConsentStore, base_salt: &str, destination: &str) -> CommandReport {
        self.execute(store, base_salt, destination, &|_| {}, &|status, out| {
            // A bare store keeps nothing to send: its sink has what it got.
            if let Some(destination) = &status.destination {
                let _ = write!(
                    out,
                    "\nnothing waits to be sent on this machine: events go to {destination} as \
                     they are recorded"
                );
            }
        })
    }

    /// [`run`](Self::run), with `decorate` adding to the status shown and
    /// `show` writing what `show` lists after it (called only when
    /// telemetry is on).
    pub(crate) fn execute(
        self,
        store: &ConsentStore,
        base_salt: &str,
        destination: &str,
        decorate: &dyn Fn(&mut StatusReport),
        show: &dyn Fn(&StatusReport, &mut String),
    ) -> CommandReport {
        let tool = store.tool();
        match self {
            Self::Show {
                catalog: true,
                json,
            } => {
                return CommandReport::text(crate::catalog::show(tool, None, json));
            }
            Self::Show { .. } => {
                return CommandReport::text(show_text(
                    store,
                    base_salt,
                    destination,
                    decorate,
                    show,
                ));
            }
            _ => {}
        }
        if let (Self::Enable, Some(source)) = (self, store.switched_off()) {
            return refuse_enable(store, base_salt, destination, decorate, &source);
        }
        let (note, result) = match self {
            Self::Status | Self::Show { .. } => (String::new(), Ok(())),
            Self::Enable => {
                let result = store.enable();
                let note = if store.effective_policy().policy.is_enabled() {
                    format!(
                        "{tool}: telemetry enabled. Thank you! {} turns it off.",
                        store.verb("disable")
                    )
                } else {
                    String::new()
                };
                (note, result)
            }
            Self::Disable => (format!("{tool}: telemetry disabled."), store.disable()),
            Self::Reset => (
                format!(
                    "{tool}: telemetry decision forgotten and local telemetry data deleted; \
                     enabling again starts a new anonymous id."
                ),
                store.reset(),
            ),
        };
        let mut status = StatusReport::new(store, base_salt, destination);
        decorate(&mut status);
        let (text, error) = match result {
            Ok(()) if note.is_empty() => (status.to_string(), None),
            Ok(()) => (format!("{note}\n{status}"), None),
            Err(e) => {
                let verb = match self {
                    Self::Enable => "enable",
                    Self::Disable => "disable",
                    Self::Reset => "reset",
                    Self::Status | Self::Show { .. } => "status",
                };
                let help = e
                    .help()
                    .map(|h| format!("\n  help: {h}"))
                    .unwrap_or_default();
                let text = format!(
                    "{tool}: {} did not fully succeed: {}{help}\n{status}",
                    store.verb(verb),
                    e.one_line()
                );
                (text, Some(e))
            }
        };
        CommandReport { text, error }
    }
}

/// What `show` prints: whether telemetry is on and who decided, then,
/// only when it is on, what `show` lists.
fn show_text(
    store: &ConsentStore,
    base_salt: &str,
    destination: &str,
    decorate: &dyn Fn(&mut StatusReport),
    show: &dyn Fn(&StatusReport, &mut String),
) -> String {
    let mut status = StatusReport::new(store, base_salt, destination);
    decorate(&mut status);
    let mut out = format!(
        "telemetry: {}\ndecided by: {}",
        if status.enabled {
            "enabled"
        } else {
            "disabled"
        },
        crate::text::printable(&status.source.to_string())
    );
    if status.enabled {
        show(&status, &mut out);
    } else {
        out.push_str(
            "\ntelemetry is off: nothing is recorded or sent, so there is nothing to show",
        );
    }
    out
}

/// `enable` under an off switch: the switch wins, and nothing is stored —
/// an `enable` kept under it would turn telemetry on later, when the switch
/// is gone (outside the project, in another shell), which nobody asked for
/// then.
fn refuse_enable(
    store: &ConsentStore,
    base_salt: &str,
    destination: &str,
    decorate: &dyn Fn(&mut StatusReport),
    source: &PolicySource,
) -> CommandReport {
    let tool = store.tool();
    let already = store
        .load()
        .is_ok_and(|stored| stored.state == super::file::Decision::Enabled);
    let undo = match source {
        PolicySource::Build => "this build of the tool cannot collect anything".to_owned(),
        // The user opted in before the switch appeared: that choice is
        // kept, and counts again where the switch does not reach.
        other if already => format!(
            "your earlier opt-in is kept and counts wherever the switch does not; \
             here, {} for it to count",
            undo_hint(other, store)
        ),
        other => format!(
            "to opt in, {}, then run {} again",
            undo_hint(other, store),
            store.verb("enable")
        ),
    };
    let mut status = StatusReport::new(store, base_salt, destination);
    decorate(&mut status);
    CommandReport {
        text: format!(
            "{tool}: telemetry stays off: {source} turns it off, and wins over any choice; \
             nothing was stored.\n  help: {undo}\n{status}"
        ),
        error: Some(TelemetryError::config(
            format!("telemetry is switched off by {source}; nothing was stored"),
            undo,
        )),
    }
}

/// How an off switch is taken away, for `enable`'s answer.
fn undo_hint(source: &PolicySource, store: &ConsentStore) -> String {
    match source {
        PolicySource::DoNotTrack | PolicySource::ToolVariable(_) => "unset the variable".to_owned(),
        PolicySource::MachineFile(path) => {
            format!("an administrator deletes {}", crate::text::shown(path))
        }
        PolicySource::ProjectFile(path) => format!("delete {}", crate::text::shown(path)),
        PolicySource::ToolSetting(_) => "change the tool's setting".to_owned(),
        _ => format!("see {}", store.verb("status")),
    }
}
