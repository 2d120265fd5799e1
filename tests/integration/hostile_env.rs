//! A hostile environment: another local user planting symlinks and FIFOs,
//! junk where the consent file should be, stray and malformed variables, no
//! home. Telemetry refuses fast and never fails or hangs the host.
//!
//! The `mytool` cases run the real example binary (built from this tree;
//! they are compiled only with the features it needs) under a hang check,
//! so a hang is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
#[cfg(all(feature = "clap", feature = "otlp"))]
use std::process::{Output, Stdio};

use rtb_telemetry::consent::{ConsentStore, PolicySource};
use rtb_telemetry::{Env, ErrorKind, Event, FileSink, TelemetrySink};

use crate::support::{block_on, within};
#[cfg(all(feature = "clap", feature = "otlp"))]
use crate::support::{mytool, output_within};

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

#[cfg(unix)]
#[test]
fn file_sink_refuses_a_planted_symlink_and_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let path = dir.path().join("events.jsonl");
    std::os::unix::fs::symlink(&victim, &path).unwrap();
    let err = block_on(FileSink::new(&path).emit(&Event::new("e", "t", "1", "id"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err:?}");
    assert_eq!(err.path(), Some(path.as_path()));
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

#[cfg(unix)]
#[test]
fn file_sink_refuses_a_fifo_and_a_device_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.jsonl");
    mkfifo(&fifo);
    for path in [fifo, PathBuf::from("/dev/null")] {
        let sink = FileSink::new(&path);
        let err = within(10, move || {
            block_on(sink.emit(&Event::new("e", "t", "1", "id")))
        })
        .expect_err("not a regular file");
        assert_eq!(err.kind(), ErrorKind::Io, "{err:?}");
        assert_eq!(err.path(), Some(path.as_path()));
    }
}

#[cfg(unix)]
#[test]
fn junk_where_the_consent_file_should_be_counts_as_undecided_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.json");
    std::fs::write(&huge, vec![b' '; 100 * 1024]).unwrap();
    let fifo = dir.path().join("fifo.json");
    mkfifo(&fifo);
    let zero = dir.path().join("zero.json");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let as_dir = dir.path().join("dir.json");
    std::fs::create_dir(&as_dir).unwrap();
    for file in [huge, fifo, zero, as_dir] {
        let store = ConsentStore::at("mytool", &file, dir.path().join("data"))
            .with_env(Env::from_vars::<_, &str, &str>([]));
        let reader = store.clone();
        let effective = within(10, move || reader.effective_policy());
        assert!(!effective.policy.is_enabled());
        assert!(
            matches!(effective.source, PolicySource::Unreadable { .. }),
            "{}: {:?}",
            file.display(),
            effective.source
        );
        assert_eq!(store.load().unwrap_err().kind(), ErrorKind::Consent);
    }
}

/// Runs `binary` (mytool, or a copy of it) with exactly `vars` (plus
/// PATH), stdin closed, under a 10-second hang check. Without `HOME` it
/// runs as a user with no passwd entry either (uid 54321, so no home
/// directory can be found at all), which needs root.
#[cfg(all(feature = "clap", feature = "otlp"))]
fn run_binary(binary: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary);
    if !vars.iter().any(|(k, _)| *k == "HOME") {
        use std::os::unix::process::CommandExt;
        command.uid(54_321).gid(54_321).current_dir("/");
    }
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    for (k, v) in vars {
        command.env(k, v);
    }
    output_within(&mut command, 10)
}

#[cfg(all(feature = "clap", feature = "otlp"))]
fn run_mytool(args: &[&str], vars: &[(&str, &str)]) -> Output {
    run_binary(&mytool(), args, vars)
}

#[cfg(all(feature = "clap", feature = "otlp"))]
fn assert_exit_0(out: &Output, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(all(feature = "clap", feature = "otlp"))]
const VERBS: [&[&str]; 5] = [
    &["telemetry", "status"],
    &["telemetry", "enable"],
    &["telemetry", "disable"],
    &["telemetry", "reset"],
    &["run"],
];

#[cfg(all(unix, feature = "clap", feature = "otlp"))]
#[test]
fn mytool_exits_0_whatever_the_environment_holds() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let home = home.to_str().unwrap().to_owned();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let file = file.to_str().unwrap().to_owned();
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "a gRPC-style OTLP endpoint",
            vec![
                ("HOME", &home),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317"),
            ],
        ),
        (
            "the same with DO_NOT_TRACK",
            vec![
                ("HOME", &home),
                ("DO_NOT_TRACK", "1"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317"),
            ],
        ),
        (
            "malformed OTLP headers",
            vec![
                ("HOME", &home),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "junk"),
            ],
        ),
        (
            "an ftp tool endpoint",
            vec![("HOME", &home), ("MYTOOL_TELEMETRY_ENDPOINT", "ftp://x")],
        ),
        (
            "a scheme-less tool endpoint",
            vec![
                ("HOME", &home),
                ("MYTOOL_TELEMETRY_ENDPOINT", "collector.example.com"),
            ],
        ),
        (
            "a tool endpoint with a bad port",
            vec![
                ("HOME", &home),
                ("MYTOOL_TELEMETRY_ENDPOINT", "http://h:99999/"),
            ],
        ),
        (
            "a config directory that is a file",
            vec![
                ("HOME", &home),
                ("XDG_CONFIG_HOME", &file),
                ("XDG_DATA_HOME", &file),
            ],
        ),
        (
            "debug mode on top",
            vec![
                ("HOME", &home),
                ("MYTOOL_TELEMETRY_DEBUG", "1"),
                ("MYTOOL_TELEMETRY_ENDPOINT", "ftp://x"),
            ],
        ),
    ];
    for (what, vars) in &cases {
        for verb in VERBS {
            // Twice: the second run sees whatever the first left behind.
            for _ in 0..2 {
                let out = run_mytool(verb, vars);
                assert_exit_0(&out, &format!("{what}: mytool {}", verb.join(" ")));
            }
        }
        // `run` while enabled too.
        let _ = run_mytool(&["telemetry", "enable"], vars);
        assert_exit_0(
            &run_mytool(&["run"], vars),
            &format!("{what}: run while enabled"),
        );
        let status = run_mytool(&["telemetry", "status"], vars);
        assert_exit_0(&status, what);
    }
}

#[cfg(all(unix, feature = "clap", feature = "otlp"))]
#[test]
fn a_bad_destination_shows_in_status_and_keeps_events_local() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_str().unwrap();
    let vars = [
        ("HOME", home),
        (
            "MYTOOL_TELEMETRY_ENDPOINT",
            "https://user:s3cret@host:99999/?key=k3y",
        ),
    ];
    assert_exit_0(&run_mytool(&["telemetry", "enable"], &vars), "enable");
    assert_exit_0(&run_mytool(&["run"], &vars), "run");
    let out = run_mytool(&["telemetry", "status"], &vars);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("problem: MYTOOL_TELEMETRY_ENDPOINT is not usable"),
        "{text}"
    );
    assert!(text.contains("kept on this machine"), "{text}");
    for secret in ["s3cret", "k3y"] {
        assert!(!text.contains(secret), "a credential leaked: {text}");
    }
}

#[cfg(all(unix, feature = "clap", feature = "otlp"))]
#[test]
#[ignore = "needs python3 (a pty for mytool); CI installs it and runs this with --ignored"]
fn mytool_on_a_terminal_with_an_unwritable_config_dir_exits_0() {
    crate::support::require_tool("python3", "its pty module gives mytool a terminal");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    // python's pty.spawn gives mytool a real terminal, so the notice path runs.
    let script =
        "import pty, sys, os; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))";
    for verb in VERBS {
        let out = output_within(
            Command::new("python3")
                .args(["-c", script])
                .arg(mytool())
                .args(verb)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", dir.path())
                .env("XDG_CONFIG_HOME", &file)
                .env("TERM", "dumb")
                .stdin(Stdio::null()),
            10,
        );
        assert_exit_0(&out, &format!("on a terminal: mytool {}", verb.join(" ")));
    }
}

#[cfg(all(unix, feature = "clap", feature = "otlp"))]
#[test]
fn disable_works_whatever_else_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_str().unwrap();
    let vars = [
        ("HOME", home),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317"),
        ("MYTOOL_TELEMETRY_ENDPOINT", "ftp://x"),
    ];
    assert_exit_0(&run_mytool(&["telemetry", "enable"], &vars), "enable");
    // Junk replaces the consent file: disable still writes a decision.
    let consent = dir.path().join(".config/mytool/telemetry.json");
    std::fs::write(&consent, "{ junk").unwrap();
    let out = run_mytool(&["telemetry", "disable"], &vars);
    assert_exit_0(&out, "disable over junk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("telemetry: disabled"), "{text}");
    let stored = std::fs::read_to_string(&consent).unwrap();
    assert!(stored.contains("\"disabled\""), "{stored}");
}

#[cfg(all(unix, feature = "clap", feature = "otlp"))]
#[test]
fn directories_the_crate_creates_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_str().unwrap();
    let vars = [
        ("HOME", home),
        ("MYTOOL_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/e"),
    ];
    assert_exit_0(&run_mytool(&["telemetry", "enable"], &vars), "enable");
    assert_exit_0(&run_mytool(&["run"], &vars), "run");
    for sub in [
        ".config/mytool",
        ".local/share/mytool/telemetry",
        ".local/share/mytool/telemetry/spool",
    ] {
        let path = dir.path().join(sub);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", path.display());
    }
}

#[cfg(all(unix, feature = "clap", feature = "otlp"))]
#[test]
fn a_user_who_sets_the_uploader_variable_by_hand_still_gets_their_command() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_str().unwrap();
    let plain = [
        ("HOME", home),
        ("MYTOOL_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/e"),
    ];
    assert_exit_0(&run_mytool(&["telemetry", "enable"], &plain), "enable");
    assert_exit_0(&run_mytool(&["run"], &plain), "run"); // creates the uploader key
    for value in ["1", "", "0123456789abcdef0123456789abcdef"] {
        let marked = [
            ("HOME", home),
            ("MYTOOL_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/e"),
            ("MYTOOL_TELEMETRY_UPLOADER", value),
        ];
        let out = run_mytool(&["run"], &marked);
        assert_exit_0(&out, "run with the marker set by hand");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("mytool: done"),
            "{value:?}"
        );
    }
    let marked = [("HOME", home), ("MYTOOL_TELEMETRY_UPLOADER", "1")];
    let out = run_mytool(&["telemetry", "disable"], &marked);
    assert_exit_0(&out, "disable with the marker set by hand");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("telemetry: disabled"),
        "the opt-out held: {text}"
    );
}

/// As a user with no passwd entry and no `HOME`: nothing can be decided,
/// and every verb still exits 0. That user cannot reach a binary in a
/// private home (a clone in root's 0700 home, say), so it runs a copy in a
/// directory anyone can enter.
#[cfg(all(unix, feature = "clap", feature = "otlp"))]
#[test]
#[ignore = "needs root (runs mytool as uid 54321); CI runs this with --ignored"]
fn mytool_exits_0_with_no_home_and_no_passwd_entry() {
    use std::os::unix::fs::PermissionsExt;
    crate::support::require_root("it runs mytool as a user with no passwd entry");
    let shared = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = shared.path().join("mytool");
    std::fs::copy(mytool(), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    for verb in VERBS {
        for _ in 0..2 {
            let out = run_binary(&copy, verb, &[]);
            assert_exit_0(
                &out,
                &format!("no HOME, no passwd entry: mytool {}", verb.join(" ")),
            );
        }
    }
    let status = run_binary(&copy, &["telemetry", "status"], &[]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("nothing can be decided"), "{text}");
}
