//! The hook while other threads hold what it needs.

use std::panic::Location;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use super::{Counter, Owner};
use crate::consent::ConsentStore;
use crate::{Env, Telemetry, TelemetryBuilder};

/// Runs `count` on its own thread: `None` if it has not returned within
/// 10 s (a hang check: the hook's own bound is milliseconds).
fn returns(counter: &Arc<Counter>) -> Option<()> {
    let (done, finished) = mpsc::channel();
    let counter = Arc::clone(counter);
    std::thread::spawn(move || {
        counter.count(Location::caller());
        let _ = done.send(());
    });
    finished.recv_timeout(Duration::from_secs(10)).ok()
}

/// A handle of tool `hooktest`, opted in, recording to a spool under
/// `dir` for a collector nobody listens at (no uploader started), with
/// `configure`'s settings.
fn spooling(
    dir: &std::path::Path,
    configure: impl FnOnce(TelemetryBuilder) -> TelemetryBuilder,
) -> Telemetry {
    let (file, data) = (dir.join("c.json"), dir.join("d"));
    ConsentStore::at("hooktest", &file, &data).enable().unwrap();
    let builder = Telemetry::builder("hooktest", "1.0.0")
        .env(Env::from_vars([(
            "HOOKTEST_TELEMETRY_ENDPOINT",
            "http://127.0.0.1:9/events",
        )]))
        .paths(&file, &data)
        .detached_upload(false);
    configure(builder).init()
}

/// A counter for `telemetry`'s recorder, as `count_panics` installs it.
fn counter_for(telemetry: &Telemetry) -> Arc<Counter> {
    Arc::new(Counter::new(
        Arc::downgrade(telemetry.active().unwrap()),
        Owner::default(),
        None,
        None,
    ))
}

/// The panics spooled: their counts, summed.
fn panics_spooled(spool: &std::path::Path) -> u64 {
    std::fs::read_to_string(spool.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["event"]["name"] == "panic")
        .map(|r| {
            r["event"]["attrs"]["count"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum()
}

/// A thread stuck holding the run's writer lock (or the panicking thread
/// itself, mid-record) never holds the hook up; another process holding
/// the spool's file lock holds it up for its budget, then the panic waits
/// in the process for the next hook (and nothing hangs).
#[test]
fn the_hook_takes_no_lock_a_stuck_thread_holds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let telemetry = spooling(dir.path(), |builder| builder);
    telemetry.record("start"); // the spool exists
    let active = telemetry.active().unwrap();
    let counter = counter_for(&telemetry);
    let sink = active.sink.inner().spool().unwrap();
    let spool = data.join("spool");
    std::thread::scope(|s| {
        let (taken, is_taken) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        s.spawn(move || {
            let _writer = sink.hold_writer();
            taken.send(()).unwrap();
            let _ = released.recv(); // until the test is done
        });
        is_taken.recv().unwrap();
        let file_lock = crate::fs::lock(&spool.join("spool.lock"), Duration::ZERO)
            .unwrap()
            .unwrap();
        assert!(returns(&counter).is_some(), "the hook waited for a lock");
        assert_eq!(panics_spooled(&spool), 0, "written past the spool's lock");
        drop(file_lock);
        assert!(returns(&counter).is_some(), "the hook waited for a lock");
        // The first panic waited in the process's queue; the second's hook
        // wrote both, as one record of count 2.
        assert_eq!(
            panics_spooled(&spool),
            2,
            "the writer lock held by a stuck thread kept the panics out"
        );
        drop(release);
    });
}

#[allow(
    dead_code,
    unreachable_pub,
    reason = "a declaration only: its event's name is what is checked"
)]
mod taken {
    crate::catalog! {
        pub catalog Own: version 3;
        pub enum Kind { Oom = "oom" }
        pub event Panic = "panic" { kind: Kind }
    }
}

/// A catalogue with a `panic` event of its own: the crate counts no
/// panics (its records would be undeclared ones), and `status` says why.
#[test]
fn a_catalogues_own_panic_event_is_not_shadowed() {
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = (dir.path().join("c.json"), dir.path().join("d"));
    ConsentStore::at("owntool", &file, &data).enable().unwrap();
    let telemetry = Telemetry::builder("owntool", "1.0.0")
        .catalog::<taken::Own>()
        .env(Env::from_vars::<_, &str, &str>([]))
        .paths(&file, &data)
        .count_panics()
        .init();
    let status = telemetry.status().to_string();
    assert!(
        status.contains("panics are not counted") && status.contains("`panic`"),
        "{status}"
    );
    let catalog = telemetry
        .command(crate::consent::TelemetryCommand::Show {
            catalog: true,
            json: false,
        })
        .to_string();
    assert!(
        catalog.contains("kind: one of oom") && !catalog.contains("place"),
        "{catalog}"
    );
}

/// A handle made while its thread unwinds (in a `Drop`, a "record on
/// exit" guard) installs no hook: std would abort the process for trying.
#[test]
fn no_hook_is_installed_by_a_panicking_thread() {
    struct Late;
    impl Drop for Late {
        fn drop(&mut self) {
            let counter = Counter::new(std::sync::Weak::new(), Owner::default(), None, None);
            assert!(std::thread::panicking());
            assert!(!super::install(counter));
        }
    }
    let unwound = std::panic::catch_unwind(|| {
        let _late = Late;
        std::panic::resume_unwind(Box::new("unwinding"));
    });
    assert!(unwound.is_err());
}

/// The hook reads the decision from the file: a file it cannot read now
/// (here a directory in its place; in life, a process out of descriptors)
/// is not an opt-out, so nothing is deleted for it.
#[test]
fn a_decision_that_cannot_be_read_is_not_taken_for_an_opt_out() {
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = (dir.path().join("c.json"), dir.path().join("d"));
    let store =
        ConsentStore::at("readtest", &file, &data).with_env(Env::from_vars::<_, &str, &str>([]));
    store.enable().unwrap();
    let (_, salt) = store.resolve_salt("base").unwrap();
    let salt = salt.unwrap();
    assert_eq!(store.still_ours_from_file(&salt), Some(true));
    assert_eq!(
        store.still_ours_from_file("base:another-nonce"),
        Some(false)
    );
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    assert_eq!(store.still_ours_from_file(&salt), None, "unknown, not off");
    std::fs::remove_dir(&file).unwrap();
    assert_eq!(
        store.still_ours_from_file(&salt),
        Some(false),
        "no file: undecided"
    );
}

/// A full spool drops the panic's record and counts it, as it does a
/// run's (`status` shows it).
#[test]
fn a_panic_the_full_spool_drops_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let telemetry = spooling(dir.path(), |builder| {
        builder.spool_limits(1, Duration::from_secs(3600))
    });
    telemetry.record("start"); // dropped: the spool holds 1 byte
    let dropped = || {
        let state = std::fs::read(data.join("spool/state.json")).unwrap_or_default();
        serde_json::from_slice::<serde_json::Value>(&state).unwrap_or_default()["dropped_full"]
            .as_u64()
            .unwrap_or(0)
    };
    assert_eq!(dropped(), 1);
    let counter = counter_for(&telemetry);
    assert!(returns(&counter).is_some());
    assert_eq!(dropped(), 2, "the panic's record was dropped uncounted");
}
