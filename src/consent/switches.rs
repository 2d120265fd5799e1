//! Off switches beyond the environment: a project's file, the machine's
//! file, the tool's own setting, and a build without telemetry.

use std::path::{Path, PathBuf};

use crate::Env;

/// What a switch file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Said {
    /// `off` (any case, surrounding white space ignored).
    Off,
    /// Anything else: it changes nothing, and `status` says so.
    Other(String),
}

/// What an off-switch file at `path` says, if there is one. Read only if
/// it is a regular file of at most 4 KiB, without blocking.
fn read_switch(path: &Path) -> Option<Said> {
    match crate::fs::read_small_text(path, 4096) {
        Ok(None) => None,
        Ok(Some(text)) if text.trim().eq_ignore_ascii_case("off") => Some(Said::Off),
        Ok(Some(text)) => Some(Said::Other(text.trim().chars().take(40).collect())),
        Err(e) => Some(Said::Other(format!("unreadable: {e}"))),
    }
}

/// The project's switch: `.<tool>-telemetry` in the working directory or
/// the nearest directory above it that has one. One `stat` per level.
pub(crate) fn project(tool: &str, env: &Env) -> Option<(PathBuf, Said)> {
    let name = format!(".{tool}-telemetry");
    let start = env.current_dir()?;
    start.ancestors().find_map(|dir| {
        let path = dir.join(&name);
        std::fs::symlink_metadata(&path)
            .is_ok()
            .then(|| read_switch(&path).map(|said| (path, said)))
            .flatten()
    })
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

/// The machine's switch: `<tool>/telemetry` in a system configuration
/// directory; the first that exists.
pub(crate) fn machine(tool: &str, env: &Env) -> Option<(PathBuf, Said)> {
    system_dirs(env).into_iter().find_map(|dir| {
        let path = dir.join(tool).join("telemetry");
        read_switch(&path).map(|said| (path, said))
    })
}

/// `true` in a build made with `--cfg rtb_telemetry_disabled`.
pub(crate) const BUILD_DISABLED: bool = cfg!(rtb_telemetry_disabled);
