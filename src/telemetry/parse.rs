//! Parsing the command line with clap, for telemetry: the subcommand that
//! ran, named without a hand-kept list, and the command lines clap refuses
//! (or answers with help or a version), recorded by kind — never by
//! what was typed.

use std::ffi::OsString;

use super::Telemetry;
use crate::catalog::CommandName;

/// A parsed command line: the tool's own value, and the path of the
/// subcommand that ran (`"run"`, `"remote add"`; empty for a tool without
/// subcommands), ready to name an event.
///
/// # Example
///
/// ```
/// use clap::{Parser, Subcommand};
/// use rtb_telemetry::{Env, Parsed, Telemetry};
///
/// #[derive(Parser)]
/// #[command(name = "mytool")]
/// struct Cli {
///     #[command(subcommand)]
///     command: Command,
/// }
///
/// #[derive(Subcommand)]
/// enum Command {
///     /// Manage remotes.
///     #[command(subcommand)]
///     Remote(Remote),
/// }
///
/// #[derive(Subcommand)]
/// enum Remote {
///     /// Add a remote.
///     Add { name: String },
/// }
///
/// # let dir = tempfile::tempdir().unwrap();
/// let telemetry = Telemetry::builder("mytool", "1.0.0")
/// #   .env(Env::from_vars::<_, &str, &str>([]))
/// #   .paths(dir.path().join("c.json"), dir.path().join("d"))
///     .init();
/// let Parsed { cli, command } = telemetry.try_parse_from::<Cli, _, _>(["mytool", "remote", "add", "origin"])?;
/// assert_eq!(command, "remote add"); // never "origin": only the names of subcommands
/// # let _ = cli;
/// # Ok::<(), clap::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<C> {
    /// What the tool's own parser made of the command line.
    pub cli: C,
    /// The subcommand that ran, its names joined by spaces: a `&str`
    /// (`&command`), and a declared value for a [catalogue](mod@crate::catalog)
    /// (its values are `C`'s subcommand paths).
    pub command: CommandName<C>,
}

impl<Cat> Telemetry<Cat> {
    /// Parses the process's command line into `C` exactly as `C::parse()`
    /// does — the same messages, the same exit codes — and also says
    /// which subcommand ran ([`Parsed::command`]) and records the command
    /// lines clap answers itself instead of returning (which `C::parse()`
    /// alone never lets a tool see):
    ///
    /// | clap's answer | event | exit code |
    /// |---|---|---|
    /// | `--help`, `help`, or help shown for a missing subcommand | `help` | clap's (0, or 2 when it was missing) |
    /// | `--version` | `version` | 0 |
    /// | any usage error | `usage_error` | 2 |
    ///
    /// Each with one attr, `kind`: clap's error kind in snake case
    /// (`unknown_argument`, `missing_required_argument`, `display_help`,
    /// …). Never the arguments, the values or clap's message: those are
    /// what the user typed. Recorded only when telemetry is on, like any
    /// event.
    #[must_use]
    pub fn parse<C: clap::Parser>(&self) -> Parsed<C> {
        self.parse_from(std::env::args_os())
    }

    /// [`parse`](Self::parse) from `args` (the first is the program's
    /// name, as in `C::parse_from`).
    #[must_use]
    pub fn parse_from<C, I, T>(&self, args: I) -> Parsed<C>
    where
        C: clap::Parser,
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        self.try_parse_from(args).unwrap_or_else(|e| {
            self.finish(); // clap exits: no destructor runs
            e.exit()
        })
    }

    /// [`parse_from`](Self::parse_from) without exiting: what clap refused
    /// (or answered with help or a version) is recorded, then returned.
    ///
    /// # Errors
    ///
    /// clap's error, formatted as `C::parse_from` would print it.
    pub fn try_parse_from<C, I, T>(&self, args: I) -> Result<Parsed<C>, clap::Error>
    where
        C: clap::Parser,
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = C::command();
        let parsed = command
            .try_get_matches_from_mut(args)
            .and_then(|mut matches| {
                let path = subcommand_path(&matches, &command);
                C::from_arg_matches_mut(&mut matches).map(|cli| Parsed {
                    cli,
                    command: CommandName::new(path),
                })
            });
        parsed.map_err(|e| {
            let e = e.format(&mut command);
            self.record_named(
                event_of(e.kind()),
                [("kind".to_owned(), kind_name(e.kind()))].into(),
            );
            e
        })
    }
}

/// The names of the subcommands in `matches`, outermost first.
/// The names of the subcommands that matched, as `command` defines them
/// (an alias as its name). A subcommand the tool does not define — what a
/// tool that takes external subcommands (`git foo`) was given — is what the
/// user typed: it is never named, only marked as
/// [`EXTERNAL`](crate::catalog::EXTERNAL).
fn subcommand_path(matches: &clap::ArgMatches, command: &clap::Command) -> String {
    let mut names = Vec::new();
    let (mut at, mut defined) = (matches, command);
    while let Some((name, inner)) = at.subcommand() {
        let Some(sub) = defined.find_subcommand(name) else {
            names.push(crate::catalog::EXTERNAL);
            break;
        };
        names.push(sub.get_name());
        (at, defined) = (inner, sub);
    }
    names.join(" ")
}

/// Every error kind clap has (4.5), for the catalogue's description of
/// the events `parse` records. A kind a later clap adds is recorded by its
/// name all the same, and a collector counts it as undeclared.
pub(crate) const KINDS: &[clap::error::ErrorKind] = {
    use clap::error::ErrorKind as K;
    &[
        K::InvalidValue,
        K::UnknownArgument,
        K::InvalidSubcommand,
        K::NoEquals,
        K::ValueValidation,
        K::TooManyValues,
        K::TooFewValues,
        K::WrongNumberOfValues,
        K::ArgumentConflict,
        K::MissingRequiredArgument,
        K::MissingSubcommand,
        K::InvalidUtf8,
        K::DisplayHelp,
        K::DisplayHelpOnMissingArgumentOrSubcommand,
        K::DisplayVersion,
        K::Io,
        K::Format,
    ]
};

/// The event `parse` records for a refusal of `kind`.
pub(crate) fn event_of(kind: clap::error::ErrorKind) -> &'static str {
    use clap::error::ErrorKind;
    match kind {
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => "help",
        ErrorKind::DisplayVersion => "version",
        _ => "usage_error",
    }
}

/// clap's error kind in snake case: `UnknownArgument` → `unknown_argument`.
pub(crate) fn kind_name(kind: clap::error::ErrorKind) -> String {
    let mut name = String::new();
    for c in format!("{kind:?}").chars() {
        if c.is_ascii_uppercase() {
            if !name.is_empty() {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        } else {
            name.push(c);
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::kind_name;
    use clap::error::ErrorKind;

    #[test]
    fn kinds_are_snake_case() {
        assert_eq!(kind_name(ErrorKind::UnknownArgument), "unknown_argument");
        assert_eq!(
            kind_name(ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand),
            "display_help_on_missing_argument_or_subcommand"
        );
        assert_eq!(kind_name(ErrorKind::Io), "io");
    }
}
