//! An opt-out is never lost: consent changes are read-modify-written under
//! a lock, re-checked after locking, and no read path writes back a stale
//! decision.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};

use rtb_telemetry::consent::{ConsentStore, Decision, StatusReport};
use rtb_telemetry::{Env, NoopSink};

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
                let _ = store.context("1.0.0", "salt", NoopSink);
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
        let _ = store.context("1.0.0", "salt", NoopSink);
        let _ = StatusReport::new(&store, "salt", "x");
    }
    assert_eq!(std::fs::read(store.file()).unwrap(), before);
    assert_eq!(
        std::fs::metadata(store.file()).unwrap().modified().unwrap(),
        modified
    );
}
