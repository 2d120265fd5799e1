//! The hook while other threads hold what it needs.

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::sync::mpsc;
use std::time::Duration;

use super::{Counter, Owner};
use crate::consent::ConsentStore;
use crate::{Env, Telemetry};

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

fn panics_spooled(spool: &std::path::Path) -> usize {
    std::fs::read_to_string(spool.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(r#""name":"panic""#))
        .count()
}

/// A thread stuck holding the run's writer lock (or the panicking thread
/// itself, mid-record) never holds the hook up; another process holding
/// the spool's file lock holds it up for its patience, then the panic is
/// not written (and nothing hangs).
#[test]
fn the_hook_takes_no_lock_a_stuck_thread_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = (dir.path().join("c.json"), dir.path().join("d"));
    ConsentStore::at("hooktest", &file, &data).enable().unwrap();
    let telemetry = Telemetry::builder("hooktest", "1.0.0")
        .env(Env::from_vars([(
            "HOOKTEST_TELEMETRY_ENDPOINT",
            "http://127.0.0.1:9/events",
        )]))
        .paths(&file, &data)
        .detached_upload(false)
        .init();
    telemetry.record("start"); // the spool exists
    let active = telemetry.active().unwrap();
    let counter = Arc::new(Counter {
        active: Arc::downgrade(active),
        owner: Owner::default(),
        catalog_version: None,
        launch: None,
        seen: AtomicU32::new(0),
    });
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
        assert_eq!(
            panics_spooled(&spool),
            1,
            "the writer lock held by a stuck thread kept the panic out"
        );
        drop(release);
    });
}
