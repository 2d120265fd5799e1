//! An opt-out stops delivery at once, whatever is running: runs and
//! uploaders racing `disable` and `reset` + `enable`, 200 times.
//!
//! Each trial: a collector that answers every other request `429
//! Retry-After: 0` (so uploads retry), three runs that were started while
//! telemetry was on (their handles built before the opt-out) and record
//! and upload around it, and the opt-out at a random moment among them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use rtb_telemetry::consent::TelemetryCommand;

use crate::local_first::{Tool, received};
use crate::loopback::{Answer, Request, Server};

/// A cheap random number (no dependency): different in every call.
fn random(below: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        % below.max(1)
}

/// Answers every other request `429 Retry-After: 0`, each after 3 ms: an
/// upload is under way (between its retries) for a good part of the race.
fn flaky_collector() -> Server {
    let n = Arc::new(AtomicUsize::new(0));
    Server::start_ruled(move |r: &Request| {
        if r.path == "/mark" {
            return None;
        }
        std::thread::sleep(Duration::from_millis(3));
        n.fetch_add(1, Ordering::SeqCst)
            .is_multiple_of(2)
            .then(|| Answer::Status(429, vec![("retry-after", "0")]))
    })
}

fn ids_of(requests: &[Request]) -> Vec<HashSet<String>> {
    requests
        .iter()
        .map(|r| {
            let records: Vec<serde_json::Value> = serde_json::from_slice(&r.body).unwrap();
            records
                .iter()
                .map(|r| r["event"]["machine_id"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

/// Runs three "runs" (record, record, upload) on threads while `opt_out`
/// runs at a random moment; returns `after()`, called as soon as `opt_out`
/// returned.
fn race<T>(
    tool: &Tool,
    endpoint: &str,
    opt_out: impl FnOnce() + Send,
    after: impl FnOnce() -> T,
) -> T {
    let handles: Vec<_> = (0..3).map(|_| tool.telemetry(endpoint)).collect();
    let start = Arc::new(Barrier::new(4));
    std::thread::scope(|scope| {
        for (i, telemetry) in handles.into_iter().enumerate() {
            let start = Arc::clone(&start);
            scope.spawn(move || {
                start.wait();
                std::thread::sleep(Duration::from_micros(random(3_000)));
                telemetry.record(&format!("run-{i}-a"));
                std::thread::sleep(Duration::from_micros(random(2_000)));
                telemetry.record(&format!("run-{i}-b"));
                let _ = telemetry.upload_now();
            });
        }
        start.wait();
        std::thread::sleep(Duration::from_micros(random(4_000)));
        opt_out();
        after()
    })
}

#[test]
fn no_request_starts_and_nothing_stays_after_disable_200_times() {
    let mut late = 0;
    let mut left = 0;
    let mut delivered = 0;
    for _ in 0..200 {
        let tool = Tool::enabled();
        let server = flaky_collector();
        let endpoint = format!("{}/v1/events", server.url);
        let store = rtb_telemetry::consent::ConsentStore::at("mytool", tool.consent(), tool.data());
        // The mark: a connection made right after `disable` returned. A
        // request on a connection after it in the system's order was
        // started after the opt-out.
        let mark = race(
            &tool,
            &endpoint,
            || store.disable().unwrap(),
            || server.mark(),
        );
        // Uploads that were at work finish or stop within their bounds.
        std::thread::sleep(Duration::from_millis(50));
        late += server
            .requests()
            .iter()
            .filter(|r| r.seq > mark && r.path != "/mark")
            .count();
        left += usize::from(tool.spool().exists() || tool.data().join("events.jsonl").exists());
        delivered += received(&server).len();
        assert!(!tool.telemetry(&endpoint).is_enabled());
    }
    eprintln!(
        "200 disable races: {delivered} events delivered before the opt-out, {late} requests after it, {left} spools left"
    );
    assert_eq!(late, 0, "requests started after `disable` returned");
    assert_eq!(left, 0, "unsent events left on disk after `disable`");
}

#[test]
fn reset_then_enable_never_sends_an_old_event_or_links_the_ids_200_times() {
    let (mut old_after, mut linked, mut between) = (0, 0, 0);
    for _ in 0..200 {
        let tool = Tool::enabled();
        let server = flaky_collector();
        let endpoint = format!("{}/v1/events", server.url);
        let old_id = tool.telemetry(&endpoint).status().machine_id.unwrap();
        let store = rtb_telemetry::consent::ConsentStore::at("mytool", tool.consent(), tool.data());
        let mut reset_mark = None;
        let enabled_mark = race(
            &tool,
            &endpoint,
            || {
                store.reset().unwrap();
                reset_mark = Some(server.mark());
                std::thread::sleep(Duration::from_micros(random(300)));
                store.enable().unwrap();
            },
            || server.mark(),
        );
        let reset_mark = reset_mark.unwrap();
        // The next run under the new id uploads whatever is left.
        let telemetry = tool.telemetry(&endpoint);
        let new_id = telemetry.status().machine_id.unwrap();
        assert_ne!(old_id, new_id, "reset starts a new id");
        telemetry.record("after");
        let _ = telemetry.upload_now();
        let requests: Vec<Request> = server
            .requests()
            .into_iter()
            .filter(|r| r.path != "/mark")
            .collect();
        for (request, ids) in requests.iter().zip(ids_of(&requests)) {
            if ids.contains(&old_id) && request.seq > reset_mark {
                old_after += 1;
                eprintln!(
                    "old id sent on connection {} (reset's mark: {reset_mark}): {}",
                    request.seq,
                    String::from_utf8_lossy(&request.body)
                );
            }
            if ids.len() > 1 {
                linked += 1;
            }
            if request.seq > reset_mark && request.seq < enabled_mark {
                between += 1;
            }
        }
    }
    eprintln!(
        "200 reset+enable races: {old_after} old events sent after reset, {linked} requests \
         with both ids, {between} requests between reset and enable"
    );
    assert_eq!(old_after, 0, "an event of the old id was sent after reset");
    assert_eq!(linked, 0, "old and new ids were sent together");
    assert_eq!(between, 0, "a request started while telemetry was off");
}

#[test]
fn a_run_that_records_after_disable_writes_nothing() {
    let tool = Tool::enabled();
    let endpoint = "http://127.0.0.1:9/e";
    // Started (consent read) while on …
    let telemetry = tool.telemetry(endpoint);
    // … opted out before its first record.
    let report = tool.telemetry(endpoint).command(TelemetryCommand::Disable);
    assert!(report.error().is_none(), "{report}");
    telemetry.record("late");
    assert!(
        !tool.spool().exists(),
        "the spool was re-created after disable"
    );
    // A later enable does not send it either: there is nothing.
    rtb_telemetry::consent::ConsentStore::at("mytool", tool.consent(), tool.data())
        .enable()
        .unwrap();
    assert!(tool.spooled().is_empty());
}

#[test]
fn without_a_collector_a_run_that_records_after_disable_writes_nothing() {
    let tool = Tool::enabled();
    let local = || {
        rtb_telemetry::Telemetry::builder("mytool", "1.2.3")
            .env(rtb_telemetry::Env::from_vars::<_, &str, &str>([]))
            .paths(tool.consent(), tool.data())
            .init()
    };
    local().record("before");
    assert!(tool.data().join("events.jsonl").exists());
    let started = local();
    let report = local().command(TelemetryCommand::Disable);
    assert!(report.error().is_none(), "{report}");
    assert!(
        !tool.data().join("events.jsonl").exists(),
        "disable deletes the local file"
    );
    started.record("late");
    assert!(
        !tool.data().join("events.jsonl").exists(),
        "the local file was written after disable"
    );
}
