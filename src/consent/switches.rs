//! Off switches beyond the environment: a project's file, the machine's
//! file, the tool's own setting, and a build without telemetry.

use std::path::{Path, PathBuf};

use crate::Env;

/// What a switch file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SwitchSays {
    /// `off` (any case; white space, a byte-order mark, UTF-16 and `#`
    /// comment lines ignored), or a file that is there but cannot be read:
    /// whoever put it there meant something, and off is the safe reading.
    Off,
    /// Anything else: it changes nothing, and `status` says why (never what
    /// the file holds: a planted link could point at a secret).
    Other(&'static str),
}

/// The text of a switch file: UTF-8 (a byte-order mark dropped) or UTF-16
/// with its mark (what Windows PowerShell 5's `echo off >` writes).
fn decode(bytes: &[u8]) -> String {
    let utf16 = |little: bool| {
        let units = bytes[2..]
            .chunks_exact(2)
            .map(|pair| {
                let pair = [pair[0], pair[1]];
                if little {
                    u16::from_le_bytes(pair)
                } else {
                    u16::from_be_bytes(pair)
                }
            })
            .collect::<Vec<_>>();
        String::from_utf16_lossy(&units)
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(true),
        [0xFE, 0xFF, ..] => utf16(false),
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8_lossy(rest).into_owned(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// What `text` says: `off` alone on the one line that is neither blank
/// nor a `#` comment.
pub(crate) fn says(text: &str) -> SwitchSays {
    let mut lines = text
        .lines()
        .map(|line| line.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}'))
        .filter(|line| !line.is_empty() && !line.starts_with('#'));
    match (lines.next(), lines.next()) {
        (Some(line), None) if line.eq_ignore_ascii_case("off") => SwitchSays::Off,
        _ => SwitchSays::Other("says something other than `off`"),
    }
}

/// What an off-switch file at `path` says, if there is one. Read only if
/// it is a regular file of at most 4 KiB, without blocking, following a
/// symlink only when `follow` (the project's file, which anyone who
/// writes to a repository can plant, never does).
fn read_switch(path: &Path, follow: bool) -> Option<SwitchSays> {
    use std::io::ErrorKind;
    match crate::fs::read_small_bytes(path, 4096, follow) {
        Ok(None) => None,
        Ok(Some(bytes)) => Some(says(&decode(&bytes))),
        Err(e) => Some(match e.kind() {
            ErrorKind::InvalidInput | ErrorKind::InvalidData if follow => {
                SwitchSays::Other("is not a regular file of at most 4 KiB")
            }
            ErrorKind::InvalidInput | ErrorKind::InvalidData => SwitchSays::Other(
                "is not a regular file of at most 4 KiB (a symbolic link is not followed)",
            ),
            // There, but not readable (permissions, a link loop, I/O).
            _ => SwitchSays::Off,
        }),
    }
}

/// Every switch in `found`, off first: the first that says `off` decides
/// (any off wins), and the others are problems `status` shows.
fn off_first(found: Vec<(PathBuf, SwitchSays)>) -> Vec<(PathBuf, SwitchSays)> {
    // A partition, not a stable sort: the same order, and none of the
    // sort's code in every tool's binary (docs/benchmarks.md, weight).
    let (mut off, others): (Vec<_>, Vec<_>) = found
        .into_iter()
        .partition(|(_, said)| *said == SwitchSays::Off);
    off.extend(others);
    off
}

/// The project's switches, as looked for once per run.
#[derive(Debug, Default)]
pub(crate) struct Project {
    /// Every `.<tool>-telemetry` found, off first.
    pub(crate) found: Vec<(PathBuf, SwitchSays)>,
    /// Why the look may have missed one (a deleted working directory).
    pub(crate) problem: Option<String>,
}

/// The project's switches: `.<tool>-telemetry` in the working directory
/// and every directory above it, along both its physical path and the
/// shell's logical one (`$PWD`, when it names the same directory: a
/// switch above a symlinked directory counts), off first. One `stat` per
/// level (levels the two paths share are looked at once).
///
/// A working directory that cannot be found (deleted under the shell) is
/// a problem `status` shows; `$PWD` is then the only path there is.
pub(crate) fn project(tool: &str, env: &Env) -> Project {
    let name = format!(".{tool}-telemetry");
    let logical = env
        .var("PWD")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let (starts, problem) = match env.current_dir() {
        Some(physical) => {
            let logical = logical.filter(|l| *l != physical && same_dir(l, &physical));
            (vec![Some(physical), logical], None)
        }
        None => (
            vec![logical.clone()],
            Some(match logical {
                Some(pwd) => format!(
                    "the working directory cannot be found (deleted?): the project's switch \
                     ({name}) was looked for only along $PWD, {}",
                    crate::text::shown(&pwd)
                ),
                None => format!(
                    "the working directory cannot be found (deleted?) and $PWD is not set: \
                     no project's switch ({name}) could be looked for"
                ),
            }),
        ),
    };
    let mut seen = std::collections::HashSet::new();
    let found = starts
        .iter()
        .flatten()
        .flat_map(|start| start.ancestors())
        .filter(|dir| seen.insert(dir.to_path_buf()))
        .filter_map(|dir| {
            let path = dir.join(&name);
            std::fs::symlink_metadata(&path).ok()?;
            read_switch(&path, false).map(|said| (path, said))
        })
        .collect();
    Project {
        found: off_first(found),
        problem,
    }
}

/// Whether `a` and `b` are the same directory (the same device and inode:
/// `$PWD` through a symlink and the physical path).
fn same_dir(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => a.is_dir() && a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        // Windows has no `$PWD` of its own; a shell that sets one (Git
        // Bash, Cygwin) writes it in its own form.
        let _ = (a, b);
        false
    }
}

/// The directories an administrator puts machine-wide settings in.
fn system_dirs(env: &Env) -> Vec<PathBuf> {
    if cfg!(windows) {
        env.text("ProgramData")
            .map(PathBuf::from)
            .into_iter()
            .collect()
    } else if cfg!(target_os = "macos") {
        vec![PathBuf::from("/Library/Application Support")]
    } else {
        // XDG_CONFIG_DIRS, by its specification: colon-separated,
        // absolute paths only, `/etc/xdg` when unset or empty.
        let dirs: Vec<PathBuf> = env
            .text("XDG_CONFIG_DIRS")
            .map(|list| {
                list.split(':')
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .collect()
            })
            .unwrap_or_default();
        if dirs.is_empty() {
            vec![PathBuf::from("/etc/xdg")]
        } else {
            dirs
        }
    }
}

/// The machine's switches: `<tool>/telemetry` in each system
/// configuration directory, off first.
pub(crate) fn machine(tool: &str, env: &Env) -> Vec<(PathBuf, SwitchSays)> {
    off_first(
        system_dirs(env)
            .into_iter()
            .filter_map(|dir| {
                let path = dir.join(tool).join("telemetry");
                read_switch(&path, true).map(|said| (path, said))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::{SwitchSays, decode, says};
    use proptest::prelude::*;

    fn case(word: &str, upper: &[bool]) -> String {
        word.chars()
            .zip(upper.iter().cycle())
            .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
            .collect()
    }

    proptest! {
        /// `off` in any case, among comments and blank lines, in UTF-8
        /// with or without a mark or in UTF-16: off.
        #[test]
        fn off_among_comments_and_blanks_is_off(
            upper in proptest::collection::vec(any::<bool>(), 3),
            before in proptest::collection::vec("(#[^\n]*|[ \t]*)", 0..4),
            after in proptest::collection::vec("(#[^\n]*|[ \t]*)", 0..4),
            pad in "[ \t]{0,3}",
            crlf in any::<bool>(),
            encoding in 0..4u8,
        ) {
            let newline = if crlf { "\r\n" } else { "\n" };
            let mut lines = before;
            lines.push(format!("{pad}{}{pad}", case("off", &upper)));
            lines.extend(after);
            let text = lines.join(newline);
            let bytes = match encoding {
                0 => text.into_bytes(),
                1 => [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat(),
                2 => [vec![0xFF, 0xFE], text.encode_utf16().flat_map(u16::to_le_bytes).collect()].concat(),
                _ => [vec![0xFE, 0xFF], text.encode_utf16().flat_map(u16::to_be_bytes).collect()].concat(),
            };
            prop_assert_eq!(says(&decode(&bytes)), SwitchSays::Off);
        }

        /// One more line that is not blank, a comment or `off` itself (any
        /// text at all) makes the file say something else.
        #[test]
        fn any_other_line_makes_it_not_off(
            other in "\\PC{1,20}",
            first in any::<bool>(),
        ) {
            let trimmed = other.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
            prop_assume!(!trimmed.is_empty() && !trimmed.starts_with('#'));
            prop_assume!(!trimmed.contains('\n') && !trimmed.contains('\r'));
            let text = if first { format!("{other}\noff") } else { format!("off\n{other}") };
            prop_assert_ne!(says(&text), SwitchSays::Off);
            prop_assert_eq!(says(&other) == SwitchSays::Off, trimmed.eq_ignore_ascii_case("off"));
        }
    }
}
