//! A tool with no subcommands offers the verbs without changing its
//! interface: `examples/single_command.rs` against the same tool without
//! telemetry.

use std::process::Command;

use clap::{CommandFactory, Parser};

use crate::support::{example, output_within};

// `examples/single_command.rs`'s arguments, as the tool had them before
// telemetry: the same definition, nothing added.
/// Prints the number of lines in a file.
#[derive(Parser)]
#[command(name = "single_command", version)]
struct Bare {
    /// The file to count the lines of.
    file: std::path::PathBuf,
}

fn run(home: &std::path::Path, cwd: &std::path::Path, args: &[&str]) -> std::process::Output {
    output_within(
        Command::new(example("single_command"))
            .args(args)
            .env_clear()
            .env("HOME", home)
            .current_dir(cwd),
        10,
    )
}

#[test]
fn help_is_byte_for_byte_the_tools_own() {
    let home = tempfile::tempdir().unwrap();
    let bare = Bare::command()
        .version(env!("CARGO_PKG_VERSION"))
        .render_help()
        .to_string();
    let out = run(home.path(), home.path(), &["--help"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        bare.trim_end()
    );
    // No subcommand, so no `help` subcommand and no `[COMMAND]` in usage.
    assert!(!bare.contains("Commands:") && !bare.contains("COMMAND"));
}

#[test]
fn files_named_telemetry_or_help_are_still_files() {
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("telemetry"), "a\nb\n").unwrap();
    std::fs::write(cwd.path().join("help"), "a\nb\nc\n").unwrap();
    for (file, lines) in [("telemetry", "2"), ("help", "3")] {
        let out = run(home.path(), cwd.path(), &[file]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), lines, "{file}");
    }
}

#[test]
fn the_verbs_work_alone_and_the_tool_works_as_before() {
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("f"), "x\n").unwrap();
    let out = run(home.path(), cwd.path(), &["--telemetry", "enable"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("telemetry enabled"),
        "{out:?}"
    );
    let out = run(home.path(), cwd.path(), &["--telemetry=status"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("telemetry: enabled"),
        "{out:?}"
    );
    let out = run(home.path(), cwd.path(), &["f"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    let events = home
        .path()
        .join(".local/share/single_command/telemetry/events.jsonl");
    assert!(
        std::fs::read_to_string(events)
            .unwrap()
            .contains("\"count\"")
    );
    // Without a FILE the tool errors as it always did.
    let out = run(home.path(), cwd.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
}
