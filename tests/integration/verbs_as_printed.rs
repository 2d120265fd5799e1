//! Every command the crate tells a user to run is one the tool has, as the
//! tool mounted it: `mytool telemetry <verb>` (a clap subcommand) and
//! `single_command --telemetry <verb>` (a flag checked before parsing).
//! Each message's command is run as printed, and does what it says.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::example;

/// The two ways of mounting the verbs, as the examples do.
const TOOLS: [(&str, &str); 2] = [
    ("mytool", "mytool telemetry"),
    ("single_command", "single_command --telemetry"),
];

fn run(tool: &str, home: &Path, args: &[String], vars: &[(&str, &str)]) -> Output {
    Command::new(example(tool))
        .args(args)
        .env_clear()
        .env("HOME", home)
        .envs(vars.iter().copied())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The commands named in `text`: every `` `…` `` span that starts with
/// the tool's name, as words.
fn commands_in(tool: &str, text: &str) -> Vec<Vec<String>> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| span.split_whitespace().next() == Some(tool))
        .map(|span| span.split_whitespace().skip(1).map(str::to_owned).collect())
        .collect()
}

/// The one command in `text` that ends in `verb`; fails the test if the
/// text names none, or names it in another form than `mounted`.
fn named(tool: &str, mounted: &str, text: &str, verb: &str) -> Vec<String> {
    let commands = commands_in(tool, text);
    for command in &commands {
        let line = format!("{tool} {}", command.join(" "));
        assert!(
            line.starts_with(mounted),
            "`{line}` is not how {tool} mounts its verbs ({mounted} <verb>): {text}"
        );
    }
    commands
        .into_iter()
        .find(|c| c.last().is_some_and(|v| v == verb))
        .unwrap_or_else(|| panic!("no `{mounted} {verb}` in: {text}"))
}

fn consent_file(tool: &str, home: &Path) -> std::path::PathBuf {
    home.join(".config").join(tool).join("telemetry.json")
}

fn state_of(tool: &str, home: &Path) -> Option<String> {
    let bytes = std::fs::read(consent_file(tool, home)).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value["state"].as_str().map(str::to_owned)
}

#[test]
fn enables_answer_names_the_disable_that_works() {
    for (tool, mounted) in TOOLS {
        let home = tempfile::tempdir().unwrap();
        let enable = format!("{mounted} enable");
        let args: Vec<String> = enable
            .split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect();
        let said = text(&run(tool, home.path(), &args, &[]));
        let disable = named(tool, mounted, &said, "disable");
        let out = run(tool, home.path(), &disable, &[]);
        assert!(out.status.success(), "{tool}: {out:?}");
        assert_eq!(
            state_of(tool, home.path()).as_deref(),
            Some("disabled"),
            "{tool}"
        );
        assert!(
            text(&out).contains("telemetry: disabled"),
            "{tool}: {}",
            text(&out)
        );
    }
}

/// A damaged file: its help names `enable`, `disable` and `reset`, each
/// of which works (a new file; a new file; no file).
#[test]
fn a_damaged_files_help_names_verbs_that_work() {
    for (tool, mounted) in TOOLS {
        for (verb, after) in [
            ("enable", Some("enabled")),
            ("disable", Some("disabled")),
            ("reset", None),
        ] {
            let home = tempfile::tempdir().unwrap();
            let file = consent_file(tool, home.path());
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, "{ junk").unwrap();
            let status = format!("{mounted} status");
            let args: Vec<String> = status
                .split_whitespace()
                .skip(1)
                .map(str::to_owned)
                .collect();
            let said = text(&run(tool, home.path(), &args, &[]));
            let command = named(tool, mounted, &said, verb);
            assert!(run(tool, home.path(), &command, &[]).status.success());
            assert_eq!(
                state_of(tool, home.path()).as_deref(),
                after,
                "{tool} {verb}"
            );
            assert_eq!(file.exists(), after.is_some(), "{tool} {verb}");
        }
    }
}

/// `enable` under `DO_NOT_TRACK`: the answer names the `enable` to run
/// once the variable is unset, and it turns telemetry on.
#[test]
fn an_off_switchs_answer_names_the_enable_that_works() {
    for (tool, mounted) in TOOLS {
        let home = tempfile::tempdir().unwrap();
        let enable = format!("{mounted} enable");
        let args: Vec<String> = enable
            .split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect();
        let said = text(&run(tool, home.path(), &args, &[("DO_NOT_TRACK", "1")]));
        assert!(said.contains("unset the variable"), "{tool}: {said}");
        let again = named(tool, mounted, &said, "enable");
        assert!(run(tool, home.path(), &again, &[]).status.success());
        assert_eq!(
            state_of(tool, home.path()).as_deref(),
            Some("enabled"),
            "{tool}"
        );
    }
}

/// A file of a newer format: `enable` cannot change it, and names the
/// `reset` that starts over.
#[test]
fn a_newer_files_answer_names_the_reset_that_works() {
    for (tool, mounted) in TOOLS {
        let home = tempfile::tempdir().unwrap();
        let file = consent_file(tool, home.path());
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, r#"{"version":99,"state":"enabled"}"#).unwrap();
        let enable = format!("{mounted} enable");
        let args: Vec<String> = enable
            .split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect();
        let said = text(&run(tool, home.path(), &args, &[]));
        let reset = named(tool, mounted, &said, "reset");
        assert!(run(tool, home.path(), &reset, &[]).status.success());
        assert!(!file.exists(), "{tool}: reset starts over");
    }
}

/// A consent file others can write: its help names the `enable` that
/// writes the user's own.
#[cfg(unix)]
#[test]
fn a_files_others_can_write_help_names_the_enable_that_works() {
    use std::os::unix::fs::PermissionsExt;
    for (tool, mounted) in TOOLS {
        let home = tempfile::tempdir().unwrap();
        let enable = format!("{mounted} enable");
        let args: Vec<String> = enable
            .split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect();
        assert!(run(tool, home.path(), &args, &[]).status.success());
        let file = consent_file(tool, home.path());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        let status = format!("{mounted} status");
        let args: Vec<String> = status
            .split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect();
        let said = text(&run(tool, home.path(), &args, &[]));
        assert!(said.starts_with("telemetry: disabled"), "{tool}: {said}");
        let enable = named(tool, mounted, &said, "enable");
        assert!(run(tool, home.path(), &enable, &[]).status.success());
        let said = text(&run(tool, home.path(), &args, &[]));
        assert!(said.starts_with("telemetry: enabled"), "{tool}: {said}");
    }
}
