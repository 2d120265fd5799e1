//! The consent store's files: permissions, atomicity, the nonce, XDG.

use std::process::Command;

use rtb_telemetry::consent::{ConsentStore, PolicySource};
use rtb_telemetry::{Env, ErrorKind, FileSink, MachineId, MemorySink, TelemetryContext};

use crate::support::block_on;

fn no_env() -> Env {
    Env::from_vars::<_, &str, &str>([])
}

fn store_in(dir: &tempfile::TempDir) -> ConsentStore {
    ConsentStore::at(
        "mytool",
        dir.path().join("config/telemetry.json"),
        dir.path().join("data"),
    )
    .with_env(no_env())
}

#[cfg(unix)]
#[test]
fn the_consent_file_is_private_and_written_without_leftovers() {
    use rtb_telemetry::consent::Decision;
    use std::ffi::OsString;
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    store.enable().unwrap();
    store.disable().unwrap();
    let mode = std::fs::metadata(store.file())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let entries: Vec<_> = std::fs::read_dir(store.file().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut entries = entries;
    entries.sort();
    assert_eq!(
        entries,
        [
            OsString::from("telemetry.json"),
            OsString::from("telemetry.json.lock")
        ],
        "no temporary file left, only the lock file"
    );
    let dir_mode = std::fs::metadata(store.file().parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700, "the configuration directory is private");
    assert_eq!(store.load().unwrap().state, Decision::Disabled);
}

#[test]
fn the_nonce_exists_only_once_enabled_and_survives_disable() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir).with_env(no_env().with_terminal(true));
    assert!(store.show_notice_once(1, "notice").unwrap());
    assert_eq!(
        store.load().unwrap().install_id,
        None,
        "the notice creates no id"
    );
    store.disable().unwrap();
    assert_eq!(
        store.load().unwrap().install_id,
        None,
        "opting out creates no id"
    );
    assert_eq!(store.salt("base").unwrap(), None);

    store.enable().unwrap();
    let nonce = store.load().unwrap().install_id.expect("created on enable");
    assert_eq!(store.salt("base").unwrap(), Some(format!("base:{nonce}")));
    store.disable().unwrap();
    store.enable().unwrap();
    assert_eq!(
        store.load().unwrap().install_id,
        Some(nonce.clone()),
        "stable until reset"
    );

    // The context's events carry the id derived from exactly that salt.
    let memory = MemorySink::new();
    let ctx = TelemetryContext::from_consent(&store, "1.0.0", "base", memory.clone());
    block_on(ctx.record("run")).unwrap();
    assert_eq!(
        memory.snapshot()[0].machine_id,
        MachineId::derive(&format!("base:{nonce}"))
    );
}

#[test]
fn a_newer_file_counts_as_undecided_and_is_never_silently_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    std::fs::create_dir_all(store.file().parent().unwrap()).unwrap();
    let newer = r#"{"version":2,"state":"enabled","future":{"kept":true}}"#;
    std::fs::write(store.file(), newer).unwrap();
    let effective = store.effective_policy();
    assert!(!effective.policy.is_enabled());
    let PolicySource::Unreadable { reason, .. } = &effective.source else {
        panic!("{effective:?}")
    };
    assert!(reason.contains("newer version"), "{reason}");

    // `enable` refuses, and says why; the file is left as it was.
    let err = store.enable().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Consent, "{err:?}");
    assert!(err.to_string().contains("format 2"), "{err}");
    assert_eq!(std::fs::read_to_string(store.file()).unwrap(), newer);

    // `disable` always works, and keeps what it does not understand.
    store.disable().unwrap();
    let fields: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.file()).unwrap()).unwrap();
    assert_eq!(fields["state"], "disabled");
    assert_eq!(fields["version"], 2);
    assert_eq!(fields["future"]["kept"], true);
}

#[test]
fn a_corrupt_file_counts_as_undecided_and_a_decision_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    std::fs::create_dir_all(store.file().parent().unwrap()).unwrap();
    std::fs::write(store.file(), "{not json").unwrap();
    let effective = store.effective_policy();
    assert!(!effective.policy.is_enabled());
    assert!(matches!(effective.source, PolicySource::Unreadable { .. }));
    let err = store.load().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Consent);
    assert!(err.to_string().contains("is not a consent file"), "{err}");
    store.enable().unwrap();
    assert!(store.effective_policy().policy.is_enabled());
}

#[test]
fn fields_of_other_versions_survive_a_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    std::fs::create_dir_all(store.file().parent().unwrap()).unwrap();
    std::fs::write(
        store.file(),
        r#"{"version":1,"state":"undecided","added_later":[1,2]}"#,
    )
    .unwrap();
    store.enable().unwrap();
    let text = std::fs::read_to_string(store.file()).unwrap();
    assert!(text.contains("added_later"), "{text}");
}

#[test]
fn reset_deletes_data_and_decision_and_is_harmless_when_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    store.reset().unwrap(); // nothing to delete
    store.enable().unwrap();
    let ctx =
        TelemetryContext::from_consent(&store, "1.0.0", "salt", FileSink::new(store.events_path()));
    block_on(ctx.record("run")).unwrap();
    assert!(store.events_path().exists());
    store.reset().unwrap();
    assert!(!store.file().exists());
    assert!(!store.data_dir().exists());
}

#[test]
fn debug_mode_routes_events_away_from_the_sink() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    store.enable().unwrap();
    let memory = MemorySink::new();
    let debug = store
        .clone()
        .with_env(Env::from_vars([("MYTOOL_TELEMETRY_DEBUG", "1")]));
    let ctx = TelemetryContext::from_consent(&debug, "1.0.0", "salt", memory.clone());
    block_on(ctx.record("run")).unwrap();
    assert!(memory.is_empty(), "debug mode writes nothing");
    let ctx = TelemetryContext::from_consent(&store, "1.0.0", "salt", memory.clone());
    block_on(ctx.record("run")).unwrap();
    assert_eq!(memory.len(), 1);
}

#[test]
fn platform_directories_honour_xdg() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--exact", "consent::xdg_child", "--ignored", "--nocapture"])
        .env("XDG_CONFIG_HOME", dir.path().join("cfg"))
        .env("XDG_DATA_HOME", dir.path().join("share"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let expected_file = dir.path().join("cfg/mytool/telemetry.json");
    let expected_data = dir.path().join("share/mytool/telemetry");
    assert!(
        stdout.contains(&format!("file={}", expected_file.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("data={}", expected_data.display())),
        "{stdout}"
    );
}

/// Run by `platform_directories_honour_xdg` with XDG variables set.
#[test]
#[ignore = "a helper: platform_directories_honour_xdg runs it"]
fn xdg_child() {
    let store = ConsentStore::new("mytool").unwrap();
    println!("file={}", store.file().display());
    println!("data={}", store.data_dir().display());
}

#[test]
fn reset_removes_everything_it_can_and_reports_every_failure() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    std::fs::create_dir_all(store.data_dir()).unwrap();
    std::fs::write(store.events_path(), "{}\n").unwrap();
    // The consent path is a (non-empty) directory: it cannot be deleted as
    // a file.
    std::fs::create_dir_all(store.file().join("inside")).unwrap();
    let err = store.reset().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Consent, "{err:?}");
    assert!(
        err.to_string()
            .contains(&store.file().display().to_string()),
        "{err}"
    );
    // What could be removed was: the events did not survive.
    assert!(!store.data_dir().exists(), "the data directory survived");
}

/// A store with a stored `enable`, in `cwd`, with `XDG_CONFIG_DIRS` = `dirs`.
fn enabled_in(dir: &tempfile::TempDir, cwd: &std::path::Path, dirs: &str) -> ConsentStore {
    let store = store_in(dir);
    store.enable().unwrap();
    store.with_env(Env::from_vars([("XDG_CONFIG_DIRS", dirs)]).with_current_dir(cwd))
}

fn status_of(store: &ConsentStore) -> String {
    rtb_telemetry::consent::StatusReport::new(store, "salt", "a collector").to_string()
}

#[test]
fn any_off_wins_whatever_other_switch_files_say_first() {
    let dir = tempfile::tempdir().unwrap();
    let (project, cwd) = (dir.path().join("p"), dir.path().join("p/sub"));
    std::fs::create_dir_all(&cwd).unwrap();
    // The nearer file says something else; the one above says off.
    std::fs::write(cwd.join(".mytool-telemetry"), "# nested, not a switch\n").unwrap();
    std::fs::write(project.join(".mytool-telemetry"), "off\n").unwrap();
    let store = enabled_in(&dir, &cwd, "/nonexistent");
    let effective = store.effective_policy();
    assert!(
        matches!(&effective.source, PolicySource::ProjectFile(p) if p == &project.join(".mytool-telemetry")),
        "{:?}",
        effective.source
    );
    assert!(!effective.policy.is_enabled());
    assert!(status_of(&store).contains("something other than `off`"));

    // The machine's: the first directory's file is a comment, the second's off.
    let (first, second) = (dir.path().join("etc1"), dir.path().join("etc2"));
    for (etc, text) in [(&first, "# managed by puppet\n"), (&second, "off")] {
        std::fs::create_dir_all(etc.join("mytool")).unwrap();
        std::fs::write(etc.join("mytool/telemetry"), text).unwrap();
    }
    let elsewhere = dir.path().to_path_buf();
    let dirs = format!("{}:{}", first.display(), second.display());
    let store = enabled_in(&dir, &elsewhere, &dirs);
    assert!(
        matches!(&store.effective_policy().source, PolicySource::MachineFile(p) if p.starts_with(&second)),
        "{:?}",
        store.effective_policy().source
    );
}

#[test]
fn how_off_may_be_written_and_what_is_not_off() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("p");
    std::fs::create_dir_all(&cwd).unwrap();
    let utf16 = |little: bool| {
        let mut bytes = if little {
            vec![0xFF, 0xFE]
        } else {
            vec![0xFE, 0xFF]
        };
        for unit in "off\r\n".encode_utf16() {
            bytes.extend(if little {
                unit.to_le_bytes()
            } else {
                unit.to_be_bytes()
            });
        }
        bytes
    };
    let off: Vec<Vec<u8>> = vec![
        b"off".to_vec(),
        b" OFF \r\n".to_vec(),
        b"\xEF\xBB\xBFoff\n".to_vec(),
        b"# why: a CI box\n\n  off\n# end\n".to_vec(),
        utf16(true),
        utf16(false),
    ];
    let not_off: Vec<Vec<u8>> = vec![
        b"on".to_vec(),
        b"".to_vec(),
        b"# off".to_vec(),
        b"off\noff".to_vec(),
        b"off please".to_vec(),
        b"of\xC3\xB6".to_vec(),
    ];
    let file = cwd.join(".mytool-telemetry");
    for (bytes, is_off) in off
        .iter()
        .map(|b| (b, true))
        .chain(not_off.iter().map(|b| (b, false)))
    {
        std::fs::write(&file, bytes).unwrap();
        let store = enabled_in(&dir, &cwd, "/nonexistent");
        assert_eq!(
            !store.effective_policy().policy.is_enabled(),
            is_off,
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[cfg(unix)]
#[test]
fn a_switch_that_cannot_be_read_counts_as_off_and_a_planted_link_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("p");
    std::fs::create_dir_all(&cwd).unwrap();
    // A secret the project's link points at: never followed, never shown.
    let secret = dir.path().join("credentials");
    std::fs::write(&secret, "https://bot:ghp_SECRET@github.com").unwrap();
    std::os::unix::fs::symlink(&secret, cwd.join(".mytool-telemetry")).unwrap();
    let store = enabled_in(&dir, &cwd, "/nonexistent");
    assert!(store.effective_policy().policy.is_enabled());
    let status = status_of(&store);
    assert!(status.contains("symbolic link is not followed"), "{status}");
    assert!(
        !status.contains("ghp_") && !status.contains("bot:"),
        "{status}"
    );

    // The machine's file is there but cannot be read (a link loop here; a
    // mode 600 file of root's for other users): off, the safe reading.
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(etc.join("mytool")).unwrap();
    std::os::unix::fs::symlink("telemetry", etc.join("mytool/telemetry")).unwrap();
    let store = enabled_in(&dir, &cwd, etc.to_str().unwrap());
    assert!(
        matches!(
            store.effective_policy().source,
            PolicySource::MachineFile(_)
        ),
        "{:?}",
        store.effective_policy().source
    );

    // A directory where the machine's file should be: a problem, and the
    // reason does not speak of links (the machine's file may be one).
    let other = dir.path().join("etc2");
    std::fs::create_dir_all(other.join("mytool/telemetry")).unwrap();
    let store = enabled_in(&dir, &cwd, other.to_str().unwrap());
    assert!(store.effective_policy().policy.is_enabled());
    let status = status_of(&store);
    assert!(
        status.contains("is not a regular file of at most 4 KiB, so it changes nothing"),
        "{status}"
    );
}

#[cfg(unix)]
#[test]
fn a_directory_named_with_escape_sequences_reaches_the_terminal_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("evil\u{1b}]0;OWNED\u{7}\u{1b}[2J\u{202e}");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join(".mytool-telemetry"), "off").unwrap();
    let store = enabled_in(&dir, &project, "/nonexistent");
    let status = status_of(&store);
    assert!(status.contains("the project's setting"), "{status}");
    assert!(
        !status.contains('\u{1b}') && !status.contains('\u{7}') && !status.contains('\u{202e}'),
        "{status:?}"
    );
    assert!(status.contains("\\u{1b}]0;OWNED"), "{status:?}");
}

/// A consent file others can write (mode 0666 here; any group or other
/// write bit) is never trusted to turn telemetry on: off, and `status`
/// says why. `disable` still replaces it with the user's own.
#[cfg(unix)]
#[test]
fn a_consent_file_others_can_write_never_turns_telemetry_on() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    store.enable().unwrap();
    assert!(store.effective_policy().policy.is_enabled());
    for mode in [0o666, 0o620, 0o602] {
        std::fs::set_permissions(store.file(), std::fs::Permissions::from_mode(mode)).unwrap();
        // A fresh store: nothing remembered from the trusted read.
        let store = store_in(&dir);
        let effective = store.effective_policy();
        assert!(!effective.policy.is_enabled(), "mode {mode:o}");
        let shown = effective.source.to_string();
        assert!(shown.contains("other users can write to it"), "{shown}");
        assert_eq!(store.salt("s").unwrap(), None, "nothing derived");
        let status = rtb_telemetry::consent::TelemetryCommand::Status
            .run(&store, "s", "events.jsonl")
            .to_string();
        assert!(status.starts_with("telemetry: disabled"), "{status}");
        assert!(status.contains("is not trusted"), "{status}");
    }
    store.disable().unwrap();
    let mode = std::fs::metadata(store.file())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "disable writes the user's own file");
    // The directory: others can write it, so they could have put the file
    // (or a link to any file of the user's) there. A sticky directory is
    // fine: nobody replaces another's entry in it.
    store.enable().unwrap();
    let config = store.file().parent().unwrap().to_path_buf();
    for (mode, trusted) in [
        (0o777, false),
        (0o770, false),
        (0o1777, true),
        (0o700, true),
    ] {
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).unwrap();
        let effective = store_in(&dir).effective_policy();
        assert_eq!(
            effective.policy.is_enabled(),
            trusted,
            "directory mode {mode:o}"
        );
        if !trusted {
            let shown = effective.source.to_string();
            assert!(
                shown.contains("other users can write to the directory"),
                "{shown}"
            );
        }
    }
}

/// Another user's consent file saying `enabled`, mode 0666, in a
/// directory that user can write, never makes root's runs record or
/// upload; `status` names the problem.
#[cfg(all(unix, feature = "clap", feature = "otlp"))]
#[test]
#[ignore = "needs root (gives the consent file to another user); CI runs this with --ignored"]
fn another_users_consent_file_never_turns_telemetry_on() {
    use std::os::unix::fs::PermissionsExt;
    crate::support::require_root("it gives the consent file to another user");
    let home = tempfile::tempdir().unwrap();
    let mytool = |args: &[&str]| {
        Command::new(crate::support::mytool())
            .args(args)
            .env_clear()
            .env("HOME", home.path())
            .env("MYTOOL_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/v1/events")
            .output()
            .unwrap()
    };
    assert!(mytool(&["telemetry", "enable"]).status.success());
    let file = home.path().join(".config/mytool/telemetry.json");
    let config = file.parent().unwrap();
    // The other user (uid 54321) owns the file and can write the directory.
    std::os::unix::fs::chown(&file, Some(54321), Some(54321)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::os::unix::fs::chown(config, Some(54321), Some(54321)).unwrap();
    // A link the other user planted, to a file of root's own that says
    // enabled (another tool's decision, say): not trusted either.
    let own = home.path().join(".config/othertool/telemetry.json");
    std::fs::create_dir_all(own.parent().unwrap()).unwrap();
    std::fs::copy(&file, &own).unwrap();
    std::os::unix::fs::chown(&own, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = home.path().join("planted-link");
    std::os::unix::fs::symlink(&own, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(54321), Some(54321)).unwrap();
    for mode in [0o644, 0o666, 0] {
        if mode == 0 {
            // The link, in place of the file, in the other user's
            // directory, which only they can write.
            std::fs::set_permissions(config, std::fs::Permissions::from_mode(0o700)).unwrap();
            std::fs::remove_file(&file).unwrap();
            std::fs::rename(&link, &file).unwrap();
        } else {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let run = mytool(&["run"]);
        assert!(run.status.success());
        let spool = home.path().join(".local/share/mytool/telemetry");
        assert!(
            !spool.exists(),
            "mode {mode:o}: root's run recorded under another user's file"
        );
        let status = String::from_utf8_lossy(&mytool(&["telemetry", "status"]).stdout).into_owned();
        assert!(status.starts_with("telemetry: disabled"), "{status}");
        let why = if mode == 0 {
            "a symbolic link another user made (uid 54321"
        } else {
            "belongs to another user (uid 54321"
        };
        assert!(status.contains(why), "{status}");
    }
}

/// A project's switch above a symlinked directory counts: the shell's
/// logical path (`$PWD`, when it names the working directory) is walked
/// as well as the physical one. A `$PWD` that names another directory
/// (stale, or set by hand) is not.
#[cfg(unix)]
#[test]
fn the_project_switch_is_found_along_the_logical_path_too() {
    let dir = tempfile::tempdir().unwrap();
    // ~/work/project/.mytool-telemetry says off; ~/work/project/build is a
    // link to /scratch/build, where the command runs.
    let project = dir.path().join("work/project");
    let physical = dir.path().join("scratch/build");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&physical).unwrap();
    std::fs::write(project.join(".mytool-telemetry"), "off\n").unwrap();
    std::os::unix::fs::symlink(&physical, project.join("build")).unwrap();
    let store = |pwd: &std::path::Path| {
        let store = store_in(&dir);
        store.enable().unwrap();
        store.with_env(
            Env::from_vars([
                ("XDG_CONFIG_DIRS", "/nonexistent"),
                ("PWD", pwd.to_str().unwrap()),
            ])
            .with_current_dir(&physical),
        )
    };
    let logical = store(&project.join("build"));
    let effective = logical.effective_policy();
    assert!(
        matches!(&effective.source, PolicySource::ProjectFile(p) if p == &project.join(".mytool-telemetry")),
        "{:?}",
        effective.source
    );
    // A $PWD that is not the working directory changes nothing.
    let stale = store(&project);
    assert!(stale.effective_policy().policy.is_enabled());
}

/// A working directory deleted under the shell: the switch is looked for
/// along `$PWD` (an off there wins), and `status` says the look was
/// partial; without a switch telemetry stays on, with the problem shown.
#[cfg(all(unix, feature = "clap", feature = "otlp"))]
#[test]
fn a_deleted_working_directory_is_a_problem_and_pwd_is_still_walked() {
    for switch in [true, false] {
        let home = tempfile::tempdir().unwrap();
        let project = home.path().join("project");
        std::fs::create_dir_all(project.join("gone")).unwrap();
        if switch {
            std::fs::write(project.join(".mytool-telemetry"), "off\n").unwrap();
        }
        let mytool = crate::support::mytool();
        let run = |args: &str| {
            // The shell enters the directory, deletes it, then runs mytool.
            Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "cd {dir} && rmdir {dir} && exec {mytool} {args}",
                    dir = project.join("gone").display(),
                    mytool = mytool.display()
                ))
                .env_clear()
                .env("HOME", home.path())
                .output()
                .unwrap()
        };
        assert!(run("telemetry enable").status.success());
        std::fs::create_dir_all(project.join("gone")).unwrap();
        let status = run("telemetry status");
        assert!(status.status.success());
        let status = String::from_utf8_lossy(&status.stdout);
        assert!(
            status.contains("the working directory cannot be found (deleted?)"),
            "{status}"
        );
        assert_eq!(
            status.starts_with("telemetry: disabled"),
            switch,
            "{status}"
        );
        if switch {
            assert!(status.contains("the project's setting"), "{status}");
        }
    }
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, found);
            } else {
                found.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, dir, &mut found);
    found.sort();
    found
}

/// Showing the notice writes one file, the consent file saying which
/// version was shown — no lock file beside it — whether `init()` shows
/// it or, deferred, the tool does where a person typed the command.
#[test]
fn the_notice_writes_one_file_and_can_wait_for_a_typed_command() {
    use rtb_telemetry::Telemetry;
    for deferred in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = Telemetry::builder("zoxide", "0.9.8")
            .env(no_env().with_terminal(true))
            .paths(
                dir.path().join("config/telemetry.json"),
                dir.path().join("data"),
            )
            .notice(1, "zoxide can send anonymous usage data.");
        if deferred {
            builder = builder.defer_notice();
        }
        let telemetry = builder.init();
        if deferred {
            assert!(
                files_under(dir.path()).is_empty(),
                "init wrote: {:?}",
                files_under(dir.path())
            );
            assert!(telemetry.show_notice(), "shown where the tool asks");
            assert!(!telemetry.show_notice(), "once");
        }
        assert_eq!(
            files_under(dir.path()),
            ["config/telemetry.json"],
            "deferred: {deferred}"
        );
        let stored = ConsentStore::at("zoxide", dir.path().join("config/telemetry.json"), "d")
            .load()
            .unwrap();
        assert_eq!(stored.notice_version, Some(1));
    }
}

/// The tool's own data directory (zoxide's `_ZO_DATA_DIR`, say) holds the
/// crate's files in `telemetry/`, and only that: `reset` deletes it and
/// leaves the tool's own files and the directory itself.
#[test]
fn the_tools_own_data_directory_holds_the_events_and_survives_reset() {
    use rtb_telemetry::Telemetry;
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("zoxide-data");
    std::fs::create_dir_all(&own).unwrap();
    std::fs::write(own.join("db.zo"), "the tool's own database").unwrap();
    let consent = dir.path().join("config/telemetry.json");
    ConsentStore::at("zoxide", &consent, dir.path().join("unused"))
        .enable()
        .unwrap();
    let telemetry = Telemetry::builder("zoxide", "0.9.8")
        .env(no_env())
        .paths(&consent, dir.path().join("unused"))
        .tool_data_dir(&own)
        .init();
    telemetry.record("query");
    assert!(
        own.join("telemetry/events.jsonl").exists(),
        "{:?}",
        files_under(dir.path())
    );
    assert!(!dir.path().join("unused").exists());
    let said = telemetry.command(rtb_telemetry::consent::TelemetryCommand::Reset);
    assert!(said.error().is_none(), "{said}");
    assert!(!own.join("telemetry").exists());
    assert_eq!(files_under(&own), ["db.zo"]);
}
