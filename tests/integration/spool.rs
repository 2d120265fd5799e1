//! The spool and its uploader under adversity: collectors that refuse or
//! lie, planted files, hostile directories, full disks, many writers.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use rtb_telemetry::Telemetry;

use crate::local_first::{Tool, received};
use crate::loopback::{Answer, Request, Server, refused_url};

fn body_has(request: &Request, needle: &str) -> bool {
    String::from_utf8_lossy(&request.body).contains(needle)
}

fn records_in(request: &Request) -> usize {
    serde_json::from_slice::<Vec<serde_json::Value>>(&request.body).map_or(0, |r| r.len())
}

#[test]
fn one_event_the_collector_refuses_forever_never_holds_back_the_rest() {
    let tool = Tool::enabled();
    let server =
        Server::start_ruled(|r| body_has(r, "poison").then(|| Answer::Status(400, vec![])));
    let endpoint = format!("{}/v1/events", server.url);
    let telemetry = tool.telemetry(&endpoint);
    for name in ["ok-0", "ok-1", "poison", "ok-2", "ok-3", "ok-4"] {
        telemetry.record(name);
    }
    let report = telemetry.upload_now().unwrap();
    assert_eq!((report.delivered, report.rejected), (5, 1), "{report:?}");
    let mut names: Vec<_> = received(&server)
        .into_iter()
        .filter(|_| true)
        .map(|(_, r)| r.event.name)
        .collect();
    names.sort();
    // Only 200-answered requests count as received; the refused ones too
    // are recorded by the server, so filter them by what they carry.
    names.retain(|n| n != "poison");
    names.dedup();
    assert_eq!(names, ["ok-0", "ok-1", "ok-2", "ok-3", "ok-4"]);
    assert!(
        tool.spooled().is_empty(),
        "nothing is left to block the spool"
    );
    // Later events go too: the refused one is not retried.
    telemetry.record("later");
    let before = server.requests().len();
    assert_eq!(telemetry.upload_now().unwrap().delivered, 1);
    assert_eq!(
        server.requests().len(),
        before + 1,
        "one request for one event"
    );
    let status = telemetry.status().to_string();
    assert!(
        status.contains("set aside, refused for good by the collector: 1 event"),
        "{status}"
    );
    assert!(status.contains("HTTP 400"), "{status}");
}

#[test]
fn a_413_splits_the_batch_until_it_fits() {
    let tool = Tool::enabled();
    // A collector whose body limit takes at most two events.
    let server = Server::start_ruled(|r| (records_in(r) > 2).then(|| Answer::Status(413, vec![])));
    let endpoint = format!("{}/v1/events", server.url);
    let telemetry = tool.telemetry(&endpoint);
    for i in 0..9 {
        telemetry.record(&format!("e{i}"));
    }
    let report = telemetry.upload_now().unwrap();
    assert_eq!((report.delivered, report.rejected), (9, 0), "{report:?}");
    let accepted: usize = server
        .requests()
        .iter()
        .filter(|r| records_in(r) <= 2)
        .map(records_in)
        .sum();
    assert_eq!(accepted, 9, "every event arrived once");
}

#[test]
fn a_hundred_runs_events_go_in_one_request() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let endpoint = format!("{}/v1/events", server.url);
    // A hundred runs, each its own handle (its own process in real life).
    for i in 0..100 {
        tool.telemetry(&endpoint).record(&format!("run-{i}"));
    }
    let report = tool.telemetry(&endpoint).upload_now().unwrap();
    assert_eq!(report.delivered, 100);
    assert_eq!(
        server.requests().len(),
        1,
        "one request for the whole backlog"
    );
    assert_eq!(records_in(&server.requests()[0]), 100);
}

#[test]
fn offline_attempts_leave_one_request_for_when_the_collector_is_back() {
    let tool = Tool::enabled();
    let down = format!("{}/v1/events", refused_url());
    for i in 0..20 {
        let telemetry = tool.telemetry(&down);
        telemetry.record(&format!("offline-{i}"));
        assert!(telemetry.upload_now().is_err());
    }
    let server = Server::start_at(&down);
    assert_eq!(tool.telemetry(&down).upload_now().unwrap().delivered, 20);
    assert_eq!(
        server.requests().len(),
        1,
        "requests that never reached the collector are batched afresh"
    );
}

#[test]
fn a_batch_that_may_have_arrived_is_resent_as_it_was_with_its_key() {
    let tool = Tool::enabled();
    // The first request gets a 500 after it arrived (maybe processed).
    let server = Server::start(vec![Answer::Status(500, vec![]); 4]);
    let endpoint = format!("{}/v1/events", server.url);
    let telemetry = tool.telemetry(&endpoint);
    telemetry.record("a");
    telemetry.record("b");
    assert!(telemetry.upload_now().is_err());
    // More events arrive meanwhile; they do not join the sealed batch.
    telemetry.record("c");
    let report = telemetry.upload_now().unwrap();
    assert_eq!(report.delivered, 3);
    let requests = server.requests();
    let first_key = requests[0].header("idempotency-key").unwrap();
    let resent = requests
        .iter()
        .skip(4)
        .find(|r| body_has(r, "\"a\""))
        .expect("the batch was sent again");
    assert_eq!(resent.header("idempotency-key"), Some(first_key));
    assert_eq!(
        resent.body, requests[0].body,
        "byte for byte the same request"
    );
}

#[test]
fn the_spool_bound_holds_across_twenty_writers_at_once() {
    let tool = Tool::enabled();
    let down = format!("{}/v1/events", refused_url());
    let start = Arc::new(Barrier::new(20));
    std::thread::scope(|scope| {
        for w in 0..20 {
            let telemetry = tool
                .builder(&down)
                .spool_limits(20_000, Duration::from_secs(3600))
                .init();
            let start = Arc::clone(&start);
            scope.spawn(move || {
                start.wait();
                for i in 0..50 {
                    telemetry.record_with_attrs(&format!("w{w}-{i}"), [("pad", "x".repeat(200))]);
                }
            });
        }
    });
    let bytes: u64 = tool
        .spooled()
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    eprintln!("20 writers × 50 events of ~500 bytes into a 20,000-byte spool: {bytes} bytes");
    assert!(bytes <= 20_000, "the bound is for the whole spool: {bytes}");
    assert!(bytes > 15_000, "and it is used: {bytes}");
    // Every event is either in the spool or counted as dropped: exactly.
    let spooled: usize = tool
        .spooled()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tool.spool().join("state.json")).unwrap()).unwrap();
    let dropped = state["dropped_full"].as_u64().unwrap();
    eprintln!("{spooled} spooled + {dropped} dropped of 1,000");
    assert_eq!(spooled as u64 + dropped, 1_000, "every drop is counted");
    let status = tool.telemetry(&down).status().to_string();
    assert!(
        status.contains(&format!(
            "dropped, because the spool was full: {dropped} events"
        )),
        "{status}"
    );
}

#[test]
fn after_a_torn_write_the_next_record_starts_a_line_of_its_own() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let endpoint = format!("{}/v1/events", server.url);
    tool.telemetry(&endpoint).record("first");
    // A run cut short mid-write (a full disk, a crash).
    let events = tool.spool().join("events.jsonl");
    let mut bytes = std::fs::read(&events).unwrap();
    bytes.extend_from_slice(br#"{"id":"torn","event":{"na"#);
    std::fs::write(&events, bytes).unwrap();
    tool.telemetry(&endpoint).record("second");
    let report = tool.telemetry(&endpoint).upload_now().unwrap();
    assert_eq!((report.delivered, report.skipped), (2, 1), "{report:?}");
    let mut names: Vec<_> = received(&server)
        .into_iter()
        .map(|(_, r)| r.event.name)
        .collect();
    names.sort();
    assert_eq!(names, ["first", "second"]);
}

#[cfg(unix)]
#[test]
fn things_planted_at_the_spools_files_are_named_and_survived() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let endpoint = format!("{}/v1/events", server.url);
    tool.telemetry(&endpoint).record("before");
    let spool = tool.spool();
    for name in [
        "upload.lock",
        "spool.lock",
        "state.lock",
        "writers.lock",
        "state.json",
        "backlog.jsonl",
    ] {
        let _ = std::fs::remove_file(spool.join(name));
        std::fs::create_dir(spool.join(name)).unwrap();
    }
    let fifo = spool.join("upload.pid");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let telemetry = tool.telemetry(&endpoint);
    let status = telemetry.status().to_string();
    for name in ["upload.lock", "state.json", "upload.pid"] {
        assert!(
            status.contains(&spool.join(name).display().to_string()),
            "{name} not named: {status}"
        );
    }
    // Survived: recording and uploading go on.
    telemetry.record("after");
    let report = crate::support::within(20, move || telemetry.upload_now().unwrap());
    assert_eq!(report.delivered, 2, "{report:?}");
    let status = tool.telemetry(&endpoint).status().to_string();
    assert!(
        status.contains("last upload:"),
        "the state is written again: {status}"
    );
}

#[cfg(unix)]
#[test]
fn a_spool_others_can_write_to_is_refused_and_named() {
    use std::os::unix::fs::PermissionsExt;
    let tool = Tool::enabled();
    let endpoint = "http://127.0.0.1:9/e";
    tool.telemetry(endpoint).record("mine");
    std::fs::set_permissions(tool.spool(), std::fs::Permissions::from_mode(0o777)).unwrap();
    // Another user plants a forged event.
    let forged = tool.spool().join("0000000000000-1-forged.jsonl");
    std::fs::write(&forged, b"{\"id\":\"x\",\"event\":{}}\n").unwrap();
    let server = Server::start(vec![]);
    let telemetry = tool.telemetry(&format!("{}/v1/events", server.url));
    telemetry.record("more");
    assert!(telemetry.upload_now().is_err());
    assert!(
        server.requests().is_empty(),
        "nothing from a spool others can write"
    );
    let status = telemetry.status().to_string();
    assert!(status.contains("other users can write to it"), "{status}");
    assert!(
        status.contains(&tool.spool().display().to_string()),
        "{status}"
    );
}

#[cfg(unix)]
#[test]
#[ignore = "needs root (gives the spool to another user); CI runs this with --ignored"]
fn a_spool_of_another_user_is_refused_and_named() {
    crate::support::require_root("it gives the spool directory to another user");
    let tool = Tool::enabled();
    tool.telemetry("http://127.0.0.1:9/e").record("mine");
    std::os::unix::fs::chown(tool.spool(), Some(54321), None).unwrap();
    let server = Server::start(vec![]);
    let telemetry = tool.telemetry(&format!("{}/v1/events", server.url));
    assert!(telemetry.upload_now().is_err());
    assert!(server.requests().is_empty());
    let status = telemetry.status().to_string();
    assert!(status.contains("belongs to another user"), "{status}");
}

/// A tool whose data directory is `data`.
#[cfg(unix)]
fn tool_at(tool: &Tool, data: &std::path::Path, endpoint: &str) -> Telemetry {
    Telemetry::builder("mytool", "1.2.3")
        .salt("mytool-tests")
        .env(rtb_telemetry::Env::from_vars([(
            "MYTOOL_TELEMETRY_ENDPOINT",
            endpoint,
        )]))
        .paths(tool.consent(), data)
        .detached_upload(false)
        .init()
}

#[cfg(unix)]
#[test]
#[ignore = "needs root (mounts a tmpfs); CI runs this with --ignored"]
fn a_full_disk_leaves_no_empty_file_and_shows_in_status() {
    let fs = crate::faults::Tmpfs::mount("size=16k");
    let tool = Tool::enabled();
    let data = fs.path().join("data");
    let endpoint = "http://127.0.0.1:9/e";
    let telemetry = tool_at(&tool, &data, endpoint);
    telemetry.record("fits");
    // Fill the disk.
    let filler = fs.path().join("filler");
    let _ = std::fs::write(&filler, vec![b'x'; 64 * 1024]);
    for i in 0..5 {
        tool_at(&tool, &data, endpoint)
            .record_with_attrs(&format!("lost-{i}"), [("pad", "y".repeat(3000))]);
    }
    let spool = data.join("spool");
    for entry in std::fs::read_dir(&spool).unwrap() {
        let entry = entry.unwrap();
        let len = entry.metadata().unwrap().len();
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            !(std::path::Path::new(&name)
                .extension()
                .is_some_and(|x| x == "jsonl")
                && len == 0),
            "an empty spool file was left: {name}"
        );
    }
    let status = tool_at(&tool, &data, endpoint).status().to_string();
    assert!(
        status.contains("not spooled, because the spool could not be written")
            || status.contains("events cannot be spooled"),
        "{status}"
    );
    // Room again: the torn fragment, if any, does not swallow the next one.
    std::fs::remove_file(&filler).unwrap();
    tool_at(&tool, &data, endpoint).record("room-again");
    let text = std::fs::read_to_string(spool.join("events.jsonl")).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("{\"id\"") && l.contains("room-again")),
        "{text}"
    );
}

#[cfg(unix)]
#[test]
fn a_spool_that_cannot_be_written_shows_in_status() {
    use std::os::unix::fs::PermissionsExt;
    let tool = Tool::enabled();
    let endpoint = "http://127.0.0.1:9/e";
    if crate::support::is_root() {
        // Root writes through mode bits: a data directory that is a file
        // cannot be written by anyone (a read-only mount is the next test).
        let data = tool.dir.path().join("not-a-dir");
        std::fs::write(&data, "").unwrap();
        tool_at(&tool, &data, endpoint).record("lost");
        let status = tool_at(&tool, &data, endpoint).status().to_string();
        assert!(status.contains("is refused"), "{status}");
        assert!(status.contains("Not a directory"), "{status}");
        return;
    }
    tool.telemetry(endpoint).record("first");
    std::fs::set_permissions(tool.spool(), std::fs::Permissions::from_mode(0o500)).unwrap();
    tool.telemetry(endpoint).record("lost");
    let status = tool.telemetry(endpoint).status().to_string();
    std::fs::set_permissions(tool.spool(), std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(status.contains("events cannot be spooled"), "{status}");
    assert!(status.contains("ermission denied"), "{status}");
}

#[cfg(unix)]
#[test]
#[ignore = "needs root (mounts a read-only tmpfs); CI runs this with --ignored"]
fn a_read_only_spool_shows_in_status() {
    let tool = Tool::enabled();
    let endpoint = "http://127.0.0.1:9/e";
    let fs = crate::faults::Tmpfs::mount("ro,size=16k");
    let data = fs.path().join("data");
    tool_at(&tool, &data, endpoint).record("lost");
    let status = tool_at(&tool, &data, endpoint).status().to_string();
    assert!(status.contains("events cannot be spooled"), "{status}");
    assert!(status.contains("Read-only"), "{status}");
}

#[test]
fn events_go_only_to_the_collector_they_were_recorded_for() {
    let tool = Tool::enabled();
    let in_house = format!("{}/in-house", refused_url());
    for i in 0..3 {
        tool.telemetry(&in_house)
            .record(&format!("for-in-house-{i}"));
    }
    // A run configured for another collector (or another key) uploads.
    let vendor = Server::start(vec![]);
    let elsewhere = tool.telemetry(&format!("{}/vendor", vendor.url));
    elsewhere.record("for-vendor");
    let report = elsewhere.upload_now().unwrap();
    let names: Vec<_> = received(&vendor)
        .into_iter()
        .map(|(_, r)| r.event.name)
        .collect();
    assert_eq!(
        names,
        ["for-vendor"],
        "events recorded for another collector were sent"
    );
    assert_eq!(report.discarded, 3, "{report:?}");
    let status = elsewhere.status().to_string();
    assert!(
        status.contains("for another collector: 3 events"),
        "{status}"
    );
    // The same URL with another API key is another destination too.
    let keyed = |key: &str| {
        Telemetry::builder("mytool", "1.2.3")
            .salt("mytool-tests")
            .env(rtb_telemetry::Env::from_vars([
                ("OTEL_EXPORTER_OTLP_ENDPOINT", vendor.url.as_str()),
                ("OTEL_EXPORTER_OTLP_HEADERS", &format!("api-key={key}")),
            ]))
            .paths(tool.consent(), tool.data())
            .detached_upload(false)
            .init()
    };
    keyed("tenant-a").record("for-tenant-a");
    let report = keyed("tenant-b").upload_now().unwrap();
    assert_eq!((report.delivered, report.discarded), (0, 1), "{report:?}");
}

#[test]
fn a_collector_that_refuses_the_tool_keeps_every_event() {
    let tool = Tool::enabled();
    for status in [401_u16, 403, 404] {
        let server = Server::start_ruled(move |_| Some(Answer::Status(status, vec![])));
        let endpoint = format!("{}/v1/events", server.url);
        let telemetry = tool.telemetry(&endpoint);
        for i in 0..20 {
            telemetry.record(&format!("e{i}"));
        }
        let err = telemetry.upload_now().unwrap_err();
        assert!(err.to_string().contains(&format!("HTTP {status}")), "{err}");
        assert_eq!(
            server.requests().len(),
            1,
            "{status}: one request, not a bisection"
        );
        let status_text = telemetry.status().to_string();
        assert!(
            status_text.contains("waiting to be sent: 20 events"),
            "{status_text}"
        );
        assert!(!status_text.contains("set aside"), "{status_text}");
        // Clean for the next status code.
        let _ = std::fs::remove_dir_all(tool.spool());
    }
}

#[test]
fn a_collector_that_refuses_every_event_empties_nothing() {
    let tool = Tool::enabled();
    let server = Server::start_ruled(|_| Some(Answer::Status(400, vec![])));
    let endpoint = format!("{}/v1/events", server.url);
    let telemetry = tool.telemetry(&endpoint);
    for i in 0..200 {
        telemetry.record(&format!("e{i}"));
    }
    assert!(telemetry.upload_now().is_err());
    let requests = server.requests().len();
    assert!(requests <= 33, "{requests} requests for one upload");
    let status = telemetry.status().to_string();
    assert!(
        status.contains("waiting to be sent: 200 events"),
        "{status}"
    );
    assert!(!status.contains("set aside"), "{status}");
}

#[test]
fn a_batch_that_always_fails_does_not_hold_back_the_others() {
    let tool = Tool::enabled();
    // The collector fails (500) any request carrying "stuck"; takes the rest.
    let server = Server::start_ruled(|r| body_has(r, "stuck").then(|| Answer::Status(500, vec![])));
    let endpoint = format!("{}/v1/events", server.url);
    let telemetry = tool.telemetry(&endpoint);
    telemetry.record("stuck");
    assert!(telemetry.upload_now().is_err());
    for round in 0..6 {
        telemetry.record(&format!("good-{round}"));
        let _ = telemetry.upload_now();
    }
    let mut names: Vec<_> = received(&server)
        .into_iter()
        .map(|(_, r)| r.event.name)
        .filter(|n| n != "stuck")
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 6, "every good event arrived: {names:?}");
    let status = telemetry.status().to_string();
    assert!(
        status.contains("set aside, refused for good by the collector: 1 event"),
        "after failing in 5 uploads while others went, the batch is set aside: {status}"
    );
    assert!(!status.contains("waiting to be sent"), "{status}");
}

#[test]
fn a_crowded_spool_directory_still_uploads_and_is_swept() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let endpoint = format!("{}/v1/events", server.url);
    tool.telemetry(&endpoint).record("first");
    // Launch tokens of uploaders that never came, an hour old.
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    for i in 0..1_500 {
        let token = tool.spool().join(format!("launch-{i:032x}"));
        let file = std::fs::File::create(&token).unwrap();
        file.set_modified(old).unwrap();
    }
    let telemetry = tool.telemetry(&endpoint);
    telemetry.record("second");
    assert_eq!(telemetry.upload_now().unwrap().delivered, 2);
    assert!(tool.spool().is_dir());
    let left = crate::support::launch_tokens(&tool.spool());
    assert_eq!(left, 0, "stale launch tokens are swept");
    assert!(!telemetry.status().to_string().contains("spool was full"));
}

#[test]
fn an_opt_out_does_not_wait_for_a_request_in_flight() {
    let tool = Tool::enabled();
    // A collector that takes the request and never answers.
    let server = Server::start(vec![Answer::Hang; 4]);
    let endpoint = format!("{}/v1/events", server.url);
    let telemetry = tool.telemetry(&endpoint);
    telemetry.record("in-flight");
    let uploading = std::thread::spawn(move || telemetry.upload_now());
    crate::support::within(10, {
        let server_requests = server.requests.clone();
        move || {
            while server_requests.lock().unwrap().is_empty() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    });
    // The request is written and its answer awaited: the consent lock is
    // free, so the user's change goes through at once.
    let store = rtb_telemetry::consent::ConsentStore::at("mytool", tool.consent(), tool.data());
    store
        .enable()
        .expect("enable does not wait for an answer that never comes");
    store.disable().unwrap();
    drop(uploading);
}

#[test]
fn a_stale_upload_pid_does_not_say_an_upload_is_at_work() {
    let tool = Tool::enabled();
    let endpoint = "http://127.0.0.1:9/e";
    tool.telemetry(endpoint).record("e");
    // An uploader killed by `kill -9` leaves its pid behind.
    std::fs::write(tool.spool().join("upload.pid"), "4194999").unwrap();
    let status = tool.telemetry(endpoint).status().to_string();
    assert!(!status.contains("uploading now"), "{status}");
    // While the lock is held, it is at work.
    let _held =
        crate::support::hold_lock(std::fs::File::create(tool.spool().join("upload.lock")).unwrap());
    let status = tool.telemetry(endpoint).status().to_string();
    assert!(
        status.contains("uploading now (process 4194999)"),
        "{status}"
    );
}

/// Whether `text` could drive a terminal: a control character other than
/// the newlines between lines, or a bidirectional formatting character.
fn drives_a_terminal(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

mod state_text {
    use proptest::prelude::*;

    use super::drives_a_terminal;
    use crate::local_first::Tool;

    /// Any character at all, controls and bidi formatting most of all.
    fn hostile() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                any::<char>(),
                (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap()),
                (0x7fu32..0xa0).prop_map(|c| char::from_u32(c).unwrap()),
                proptest::sample::select(vec![
                    '\u{1b}', '\u{9b}', '\u{202e}', '\u{2066}', '\u{200f}', '\u{7}', '\u{61c}'
                ]),
            ],
            0..24,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever text an edited `state.json` (and `upload.pid`) holds in
        /// any field, `status` and `show` print none of it raw.
        #[test]
        fn nothing_from_the_state_file_reaches_the_terminal_raw(
            fields in proptest::collection::vec(hostile(), 9),
            pid in prop_oneof![
                (1u32..).prop_map(|n| n.to_string().into_bytes()),
                proptest::collection::vec(any::<u8>(), 0..24),
            ],
        ) {
            let tool = Tool::enabled();
            let telemetry = tool.telemetry("http://127.0.0.1:9/e");
            telemetry.record("run");
            let upload = |i: usize| serde_json::json!({
                "at": fields[i], "endpoint": fields[i + 1], "delivered": 1,
                "requests": 1, "result": fields[i + 2],
            });
            let state = serde_json::json!({
                "last_attempt": fields[0],
                "last_success": fields[1],
                "last_error": fields[2],
                "last_write_error": fields[3],
                "last_rejection": fields[4],
                "write_errors": 1, "rejected": 1,
                "uploads": [upload(5), upload(6)],
            });
            std::fs::write(tool.spool().join("state.json"), state.to_string()).unwrap();
            std::fs::write(tool.spool().join("upload.pid"), &pid).unwrap();
            // The uploader is "at work" (its lock held), so its pid is shown.
            let _lock = crate::support::hold_lock(
                std::fs::File::create(tool.spool().join("upload.lock")).unwrap(),
            );
            let telemetry = tool.telemetry("http://127.0.0.1:9/e");
            for verb in [
                rtb_telemetry::consent::TelemetryCommand::Status,
                rtb_telemetry::consent::TelemetryCommand::Show {
            catalog: false,
            json: false,
        },
            ] {
                let text = telemetry.command(verb).to_string();
                prop_assert_eq!(drives_a_terminal(&text), None, "{:?}: {:?}", verb, text);
            }
            let status = telemetry.status().to_string();
            // A pid is shown only as the number it must be.
            let number = std::str::from_utf8(&pid).ok().and_then(|p| p.trim().parse::<u32>().ok());
            match number {
                Some(n) => prop_assert!(
                    status.contains(&format!("uploading now (process {n})")),
                    "{}",
                    status
                ),
                None => prop_assert!(!status.contains("uploading now"), "{}", status),
            }
            prop_assert_eq!(drives_a_terminal(&status), None, "{:?}", status);
        }
    }
}
