//! The consent store's files: permissions, atomicity, the nonce, XDG.

use std::process::Command;

use rtb_telemetry::consent::{ConsentStore, PolicySource};
use rtb_telemetry::{Env, ErrorKind, FileSink, MachineId, MemorySink};

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
    let ctx = store.context("1.0.0", "base", memory.clone());
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
    let ctx = store.context("1.0.0", "salt", FileSink::new(store.events_path()));
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
    let ctx = debug.context("1.0.0", "salt", memory.clone());
    block_on(ctx.record("run")).unwrap();
    assert!(memory.is_empty(), "debug mode writes nothing");
    let ctx = store.context("1.0.0", "salt", memory.clone());
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
