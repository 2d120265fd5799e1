//! Values a tool's clap types already declare: a `ValueEnum` (by
//! `value_enum Format;` in [`catalog!`](crate::catalog!)) and the
//! subcommand that ran ([`CommandName`]), with no hand-kept list of names.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use super::{__sealed, AttrKind, AttrValue};

/// The names of a `ValueEnum`'s values, as clap spells them: those of
/// `value_variants` that clap names (not `#[value(skip)]`) with a name a
/// catalogue takes (`check::value`: printable ASCII, no quote).
fn declared_names<T: clap::ValueEnum + 'static>()
-> impl Iterator<Item = clap::builder::PossibleValue> {
    T::value_variants()
        .iter()
        .filter_map(T::to_possible_value)
        .filter(|v| super::check::value(v.get_name()))
}

/// The names of a `ValueEnum`'s values, as clap spells them.
#[doc(hidden)]
#[must_use]
pub fn value_enum_kind<T: clap::ValueEnum + 'static>() -> AttrKind {
    AttrKind::Enum(
        declared_names::<T>()
            .map(|v| v.get_name().to_owned())
            .collect(),
    )
}

/// Appends the name clap gives `value` when it is one of the declared
/// names; nothing (an empty value, which no catalogue declares) for a
/// skipped variant, a name a catalogue refuses, or a hand-written
/// `to_possible_value` that names something `value_variants` does not.
#[doc(hidden)]
pub fn write_value_enum<T: clap::ValueEnum + 'static>(value: &T, out: &mut String) {
    let Some(name) = value.to_possible_value() else {
        return;
    };
    if declared_names::<T>().any(|v| v.get_name() == name.get_name()) {
        out.push_str(name.get_name());
    }
}

/// The place of `value`'s name among `attr`'s values, without allocating:
/// its variant found by discriminant in `value_variants`, then a table of
/// each variant's place, made at the attr's first count (clap's
/// `to_possible_value` builds help text).
#[doc(hidden)]
pub fn value_enum_index<T: clap::ValueEnum + 'static>(
    value: &T,
    attr: &super::AttrShape,
) -> Option<u32> {
    let variants = T::value_variants();
    let at = variants
        .iter()
        .position(|v| std::mem::discriminant(v) == std::mem::discriminant(value))?;
    let places = attr.by_variant.get_or_init(|| {
        variants
            .iter()
            .map(|v| {
                let mut name = String::new();
                write_value_enum(v, &mut name);
                let at = attr.values.iter().position(|n| *n == name)?;
                u32::try_from(at).ok()
            })
            .collect()
    });
    places.get(at).copied().flatten()
}

/// The subcommand that ran, as `C`'s clap definition names it (`run`,
/// `telemetry enable`; empty when none was given): an attr whose values
/// are every subcommand path of `C`, read from clap, with no list to keep.
///
/// [`Telemetry::parse`](crate::Telemetry::parse) gives one in
/// [`Parsed::command`](crate::Parsed::command).
///
/// # Example
///
/// ```
/// use clap::Parser;
/// use rtb_telemetry::catalog::{AttrKind, AttrValue, CommandName};
///
/// #[derive(Parser)]
/// #[command(name = "mytool")]
/// enum Cli { Build, Test }
///
/// assert_eq!(
///     <CommandName<Cli> as AttrValue>::kind(),
///     AttrKind::Enum(vec!["build".into(), "test".into()]),
/// );
/// ```
pub struct CommandName<C> {
    path: String,
    cli: PhantomData<fn() -> C>,
}

impl<C> CommandName<C> {
    /// The subcommand path clap matched, `C`'s by construction.
    pub(crate) fn new(path: String) -> Self {
        Self {
            path,
            cli: PhantomData,
        }
    }

    /// The path, e.g. `telemetry enable`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.path
    }
}

impl<C: clap::CommandFactory> CommandName<C> {
    /// `path` when it is one of `C`'s subcommand paths (`"build"`,
    /// `"telemetry enable"`), e.g. for a tool that parses with clap itself.
    #[must_use]
    pub fn of(path: &str) -> Option<Self> {
        let known = paths(&C::command());
        known
            .iter()
            .any(|p| p == path)
            .then(|| Self::new(path.to_owned()))
    }
}

/// Every subcommand path of `command`, depth first; `""` first when it can
/// run without one; `<path> (external)` where it takes subcommands it does
/// not define (never named: they are what the user typed).
fn paths(command: &clap::Command) -> Vec<String> {
    let mut out = Vec::new();
    if !command.is_subcommand_required_set() || !command.has_subcommands() {
        out.push(String::new());
    }
    walk(command, "", &mut out);
    out
}

fn walk(command: &clap::Command, prefix: &str, out: &mut Vec<String>) {
    if command.is_allow_external_subcommands_set() {
        out.push(if prefix.is_empty() {
            super::EXTERNAL.to_owned()
        } else {
            format!("{prefix} {}", super::EXTERNAL)
        });
    }
    for sub in command.get_subcommands() {
        let path = if prefix.is_empty() {
            sub.get_name().to_owned()
        } else {
            format!("{prefix} {}", sub.get_name())
        };
        if !sub.is_subcommand_required_set() || !sub.has_subcommands() {
            out.push(path.clone());
        }
        walk(sub, &path, out);
    }
}

impl<C> Deref for CommandName<C> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.path
    }
}

impl<C> AsRef<str> for CommandName<C> {
    fn as_ref(&self) -> &str {
        &self.path
    }
}

impl<C> Clone for CommandName<C> {
    fn clone(&self) -> Self {
        Self::new(self.path.clone())
    }
}

impl<C> PartialEq for CommandName<C> {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl<C> Eq for CommandName<C> {}

impl<C> PartialEq<str> for CommandName<C> {
    fn eq(&self, other: &str) -> bool {
        self.path == other
    }
}

impl<C> PartialEq<&str> for CommandName<C> {
    fn eq(&self, other: &&str) -> bool {
        self.path == *other
    }
}

impl<C> fmt::Debug for CommandName<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.path, f)
    }
}

impl<C> fmt::Display for CommandName<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

impl<C> __sealed::Declared for CommandName<C> {}
impl<C: clap::CommandFactory + 'static> AttrValue for CommandName<C> {
    fn kind() -> AttrKind {
        AttrKind::Enum(paths(&C::command()))
    }
    #[inline]
    fn write(&self, out: &mut String) {
        out.push_str(&self.path);
    }
    #[inline]
    fn index(&self, attr: &super::AttrShape) -> Option<u32> {
        let at = attr.values.iter().position(|v| *v == self.path)?;
        u32::try_from(at).ok()
    }
}
