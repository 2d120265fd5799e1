//! An opt-out is never lost: consent changes are read-modify-written under
//! a lock, re-checked after locking, and no read path writes back a stale
//! decision.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};

use rtb_telemetry::consent::{ConsentStore, Decision, StatusReport};
use rtb_telemetry::{Env, NoopSink, TelemetryContext};

fn store_in(dir: &std::path::Path) -> ConsentStore {
    ConsentStore::at(
        "mytool",
        dir.join("config/telemetry.json"),
        dir.join("data"),
    )
    .with_env(Env::from_vars::<_, &str, &str>([]))
}

/// A file enabled by an older version: no per-install nonce, so the read
/// path of `run` has to add one, which is where a stale write could
/// revert a concurrent `disable`.
fn enabled_without_nonce(store: &ConsentStore) {
    std::fs::create_dir_all(store.file().parent().unwrap()).unwrap();
    std::fs::write(store.file(), r#"{"version":1,"state":"enabled"}"#).unwrap();
}

#[test]
fn run_racing_disable_never_reverts_the_opt_out() {
    const TRIALS: usize = 500;
    let mut reverts = 0;
    for _ in 0..TRIALS {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        enabled_without_nonce(&store);
        let gate = Arc::new(Barrier::new(2));
        let run = {
            let (store, gate) = (store.clone(), Arc::clone(&gate));
            std::thread::spawn(move || {
                gate.wait();
                // What `mytool run` does first: resolve the policy and salt.
                let _ = TelemetryContext::from_consent(&store, "1.0.0", "salt", NoopSink);
            })
        };
        let disable = {
            let (store, gate) = (store.clone(), Arc::clone(&gate));
            std::thread::spawn(move || {
                gate.wait();
                store.disable().unwrap();
            })
        };
        run.join().unwrap();
        disable.join().unwrap();
        if store.load().unwrap().state != Decision::Disabled {
            reverts += 1;
        }
    }
    assert_eq!(
        reverts, 0,
        "{reverts} of {TRIALS} trials reverted the opt-out"
    );
}

#[test]
fn concurrent_enables_end_with_one_id_that_every_one_reports() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        let gate = Arc::new(Barrier::new(10));
        let ids: Vec<_> = (0..10)
            .map(|_| {
                let (store, gate) = (store.clone(), Arc::clone(&gate));
                std::thread::spawn(move || {
                    gate.wait();
                    store.enable().unwrap();
                    StatusReport::new(&store, "salt", "x").machine_id.unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let distinct: HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), 1, "{distinct:?}");
    }
}

#[test]
fn reading_never_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path());
    store.disable().unwrap();
    let before = std::fs::read(store.file()).unwrap();
    let modified = std::fs::metadata(store.file()).unwrap().modified().unwrap();
    for _ in 0..10 {
        let _ = store.effective_policy();
        let _ = store.salt("salt");
        let _ = TelemetryContext::from_consent(&store, "1.0.0", "salt", NoopSink);
        let _ = StatusReport::new(&store, "salt", "x");
    }
    assert_eq!(std::fs::read(store.file()).unwrap(), before);
    assert_eq!(
        std::fs::metadata(store.file()).unwrap().modified().unwrap(),
        modified
    );
}

/// The ids in a JSON Lines file of events (none when it does not exist).
#[cfg(feature = "http")]
fn ids_in(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let event = v.get("event").unwrap_or(&v);
            event["machine_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[cfg(feature = "http")]
/// A run that started before `reset` and `enable` (in another process)
/// records after them: nothing under the old id is written, so the two ids
/// are never found side by side — in the local file, or in the spool.
#[test]
fn a_run_from_before_reset_and_enable_writes_nothing_under_the_old_id() {
    for endpoint in [None, Some("http://127.0.0.1:9/v1/events")] {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        store.enable().unwrap();
        let vars: Vec<(&str, &str)> = endpoint
            .map(|e| vec![("MYTOOL_TELEMETRY_ENDPOINT", e)])
            .unwrap_or_default();
        let run = |vars: &[(&str, &str)]| {
            rtb_telemetry::Telemetry::builder("mytool", "1.0.0")
                .env(Env::from_vars(vars.to_vec()))
                .paths(store.file(), store.data_dir())
                .detached_upload(false)
                .init()
        };
        let old = run(&vars);
        let old_id = old.status().machine_id.expect("on");
        store.reset().unwrap();
        store.enable().unwrap();
        old.record("late");
        let new = run(&vars);
        let new_id = new.status().machine_id.expect("on");
        assert_ne!(old_id, new_id);
        new.record("fresh");
        let file = match endpoint {
            None => store.data_dir().join("events.jsonl"),
            Some(_) => store.data_dir().join("spool/events.jsonl"),
        };
        let ids = ids_in(&file);
        assert!(
            !ids.contains(&old_id),
            "{endpoint:?}: the old id was written: {ids:?}"
        );
        assert_eq!(ids, vec![new_id], "{endpoint:?}");
    }
}

/// `reset` while another process holds the consent lock leaves the lock
/// file: removing it would let a third process take a lock of its own on
/// a new file while the holder still holds the old one.
#[test]
fn reset_never_removes_a_lock_file_someone_else_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path());
    store.enable().unwrap();
    let mut lock_path = store.file().as_os_str().to_owned();
    lock_path.push(".lock");
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&lock_path)
        .unwrap();
    let held = crate::support::hold_lock(held);
    // It waits, gives up on the lock and still forgets the decision (an
    // opt-out is never lost), but leaves the lock alone.
    let _ = store.reset();
    assert!(!store.file().exists());
    assert!(
        std::path::Path::new(&lock_path).exists(),
        "the held lock file was removed"
    );
    let blocked = store.enable();
    assert!(
        blocked.is_err(),
        "enable got a lock while another process held it"
    );
    drop(held);
    store.enable().unwrap();
}
