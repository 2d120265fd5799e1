//! Local-first delivery through the one-call `Telemetry` handle: nothing on
//! the command's path touches the network, nothing is lost offline, the
//! spool is bounded and crash-safe, and a resend carries the same ids.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rtb_telemetry::consent::{ConsentStore, TelemetryCommand};
use rtb_telemetry::{Env, Telemetry};

use crate::loopback::{Server, refused_url};

/// A tool's paths in a temporary directory, with telemetry enabled.
pub(crate) struct Tool {
    pub(crate) dir: tempfile::TempDir,
}

impl Tool {
    pub(crate) fn enabled() -> Self {
        let tool = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        ConsentStore::at("mytool", tool.consent(), tool.data())
            .enable()
            .unwrap();
        tool
    }

    pub(crate) fn consent(&self) -> PathBuf {
        self.dir.path().join("config/telemetry.json")
    }

    pub(crate) fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub(crate) fn spool(&self) -> PathBuf {
        self.data().join("spool")
    }

    /// The handle, sending to `endpoint`, uploads only when asked.
    pub(crate) fn telemetry(&self, endpoint: &str) -> Telemetry {
        self.builder(endpoint).init()
    }

    pub(crate) fn builder(&self, endpoint: &str) -> rtb_telemetry::TelemetryBuilder {
        Telemetry::builder("mytool", "1.2.3")
            .salt("mytool-tests")
            .env(Env::from_vars([("MYTOOL_TELEMETRY_ENDPOINT", endpoint)]))
            .paths(self.consent(), self.data())
            .detached_upload(false)
    }

    /// Spooled files (`*.jsonl`).
    pub(crate) fn spooled(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.spool()) else {
            return Vec::new();
        };
        entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect()
    }
}

/// One JSON record as the collector received it.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Received {
    pub(crate) id: String,
    pub(crate) event: rtb_telemetry::Event,
}

/// Every record received, with its request's idempotency key.
pub(crate) fn received(server: &Server) -> Vec<(String, Received)> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path != "/mark")
        .flat_map(|r| {
            let key = r.header("idempotency-key").unwrap_or_default().to_owned();
            let records: Vec<Received> = serde_json::from_slice(&r.body).unwrap();
            records.into_iter().map(move |rec| (key.clone(), rec))
        })
        .collect()
}

#[test]
fn recording_touches_no_network_and_upload_delivers_later() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let telemetry = tool.telemetry(&format!("{}/v1/events", server.url));
    assert!(telemetry.is_enabled());
    telemetry.record("build");
    telemetry.record_with_attrs("test", [("outcome", "ok")]);
    assert_eq!(
        server.connections(),
        0,
        "no connection on the command's path"
    );
    assert_eq!(tool.spooled().len(), 1, "one spool file for this process");

    let report = telemetry.upload_now().unwrap();
    assert_eq!(report.delivered, 2);
    let got = received(&server);
    let names: Vec<_> = got.iter().map(|(_, r)| r.event.name.as_str()).collect();
    assert_eq!(names, ["build", "test"]);
    assert!(tool.spooled().is_empty(), "what was delivered is deleted");
    let status = telemetry.status().to_string();
    assert!(status.contains("last upload:"), "{status}");
    assert!(!status.contains("waiting to be sent"), "{status}");
}

#[test]
fn offline_events_wait_and_arrive_once_the_collector_is_back() {
    let tool = Tool::enabled();
    let down = refused_url();
    // Eight runs while the collector is down: each its own process, so each
    // its own handle and spool file.
    for i in 0..8 {
        let telemetry = tool.telemetry(&format!("{down}/v1/events"));
        telemetry.record(&format!("offline-{i}"));
        assert!(telemetry.upload_now().is_err(), "the collector is down");
    }
    let status = tool
        .telemetry(&format!("{down}/v1/events"))
        .status()
        .to_string();
    assert!(status.contains("waiting to be sent: 8 events"), "{status}");
    assert!(
        status.contains("last upload attempt:") && status.contains("failed"),
        "{status}"
    );

    // The collector comes back, where it was: the next run takes the
    // backlog too.
    let server = Server::start_at(&down);
    let telemetry = tool.telemetry(&format!("{}/v1/events", server.url));
    telemetry.record("online");
    telemetry.upload_now().unwrap();
    let got = received(&server);
    let mut names: Vec<_> = got.iter().map(|(_, r)| r.event.name.clone()).collect();
    names.sort();
    let mut expected: Vec<_> = (0..8).map(|i| format!("offline-{i}")).collect();
    expected.push("online".into());
    expected.sort();
    assert_eq!(names, expected);
    let ids: HashSet<_> = got.iter().map(|(_, r)| r.id.clone()).collect();
    assert_eq!(ids.len(), 9, "each event once, each with its own id");
    assert!(tool.spooled().is_empty());
}

#[test]
fn a_resend_after_a_crash_between_sent_and_deleted_carries_the_same_ids() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let endpoint = format!("{}/v1/events", server.url);
    let telemetry = tool.telemetry(&endpoint);
    for name in ["a", "b", "c"] {
        telemetry.record(name);
    }
    drop(telemetry); // the command ends; its file is complete
    // What the spool holds at the moment the batch is sent...
    let snapshot: Vec<(PathBuf, Vec<u8>)> = tool
        .spooled()
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    tool.telemetry(&endpoint).upload_now().unwrap();
    // ...is what a crash before the delete leaves behind.
    for (path, bytes) in &snapshot {
        std::fs::write(path, bytes).unwrap();
    }
    tool.telemetry(&endpoint).upload_now().unwrap();

    let got = received(&server);
    assert_eq!(got.len(), 6, "sent twice: at least once");
    let (first, second) = got.split_at(3);
    let ids =
        |half: &[(String, Received)]| half.iter().map(|(_, r)| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(first),
        ids(second),
        "the resend carries the same record ids"
    );
    assert_eq!(first[0].0, second[0].0, "and the same idempotency key");
    // A collector that drops duplicates by id keeps each event exactly once.
    let mut kept: HashMap<String, String> = HashMap::new();
    for (_, r) in &got {
        kept.entry(r.id.clone())
            .or_insert_with(|| r.event.name.clone());
    }
    let mut names: Vec<_> = kept.into_values().collect();
    names.sort();
    assert_eq!(names, ["a", "b", "c"]);
}

#[test]
fn a_full_spool_drops_new_events_counts_them_and_says_so() {
    let tool = Tool::enabled();
    let down = refused_url();
    let telemetry = tool
        .builder(&format!("{down}/v1/events"))
        .spool_limits(2_000, Duration::from_secs(3600))
        .init();
    for i in 0..40 {
        telemetry.record(&format!("event-{i}"));
    }
    let bytes: u64 = tool
        .spooled()
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(bytes <= 2_000, "the spool stays within its bound: {bytes}");
    let status = telemetry.status().to_string();
    assert!(status.contains("because the spool was full"), "{status}");
}

#[test]
fn a_torn_line_is_skipped_never_sent_and_stale_temp_files_are_swept() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let endpoint = format!("{}/v1/events", server.url);
    let telemetry = tool.telemetry(&endpoint);
    telemetry.record("whole");
    drop(telemetry);
    let file = &tool.spooled()[0];
    // A crash mid-write leaves a fragment without its newline.
    let mut bytes = std::fs::read(file).unwrap();
    bytes.extend_from_slice(br#"{"id":"torn","event":{"name":"half"#);
    std::fs::write(file, bytes).unwrap();
    // A crashed uploader's temporary file, an hour old.
    let stale = tool.spool().join("x.jsonl.0123.tmp");
    let f = std::fs::File::create(&stale).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    drop(f);

    let report = tool.telemetry(&endpoint).upload_now().unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(report.skipped, 1);
    let names: Vec<_> = received(&server)
        .into_iter()
        .map(|(_, r)| r.event.name)
        .collect();
    assert_eq!(names, ["whole"]);
    assert!(!stale.exists(), "stale temporary files are removed");
}

/// Makes the first `n` records of the spool file at `path` `days` old
/// (their timestamps say so).
fn age(path: &Path, n: usize, days: u64) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let old = SystemTime::now() - Duration::from_secs(days * 24 * 3600);
    let old = time::OffsetDateTime::from(old)
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        ))
        .unwrap();
    for line in lines.iter_mut().take(n) {
        assert_eq!(
            old.len(),
            line["event"]["timestamp_utc"].as_str().unwrap().len()
        );
        line["event"]["timestamp_utc"] = old.clone().into();
    }
    let rewritten: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    std::fs::write(path, rewritten).unwrap();
}

/// "Kept at most 30 days" holds whether or not uploads run: records past
/// the age bound are deleted by whichever run finds them — under
/// `DO_NOT_TRACK`, with no endpoint, after `disable` … — and only those.
#[test]
fn records_past_the_age_bound_go_with_any_run_on_or_off() {
    type Setup = fn(&Tool) -> rtb_telemetry::TelemetryBuilder;
    let runs: [(&str, Setup); 4] = [
        ("DO_NOT_TRACK", |tool| {
            tool.builder("")
                .env(Env::from_vars([("DO_NOT_TRACK", "1")]))
        }),
        ("no endpoint", |tool| {
            tool.builder("").env(Env::from_vars::<_, &str, &str>([]))
        }),
        ("the tool's own setting", |tool| {
            tool.builder("http://127.0.0.1:9/e")
                .off_by_setting("off in mytool.toml")
        }),
        ("on, collector down", |tool| {
            tool.builder("http://127.0.0.1:9/e")
        }),
    ];
    for (run, setup) in runs {
        let tool = Tool::enabled();
        let telemetry = tool.telemetry("http://127.0.0.1:9/e");
        for i in 0..60 {
            telemetry.record(&format!("e{i}"));
        }
        drop(telemetry);
        let events = tool.spool().join("events.jsonl");
        age(&events, 50, 40);
        // An earlier upload's backlog, all of it past the bound.
        let backlog = tool.spool().join("backlog.jsonl");
        std::fs::copy(&events, &backlog).unwrap();
        age(&backlog, 60, 31);
        let telemetry = setup(&tool).init();
        let left = std::fs::read_to_string(&events).unwrap();
        assert_eq!(left.lines().count(), 10, "{run}: {left}");
        assert!(
            left.contains("\"e50\"") && !left.contains("\"e49\""),
            "{run}"
        );
        assert!(!backlog.exists(), "{run}: the backlog held nothing younger");
        if telemetry.is_enabled() {
            let status = telemetry.status().to_string();
            assert!(status.contains("expired: 110 events"), "{run}: {status}");
        }
    }
}

#[test]
fn events_older_than_the_age_bound_are_deleted_unsent_and_counted() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let endpoint = format!("{}/v1/events", server.url);
    let telemetry = tool.telemetry(&endpoint);
    telemetry.record("ancient");
    telemetry.record("recent");
    drop(telemetry);
    // The first record was made 31 days ago (its timestamp says so).
    let events = tool.spool().join("events.jsonl");
    age(&events, 1, 31);
    // The next run deletes it, before any upload.
    let telemetry = tool.telemetry(&endpoint);
    assert_eq!(std::fs::read_to_string(&events).unwrap().lines().count(), 1);
    let report = telemetry.upload_now().unwrap();
    assert_eq!((report.delivered, report.expired), (1, 0));
    let names: Vec<_> = received(&server)
        .into_iter()
        .map(|(_, r)| r.event.name)
        .collect();
    assert_eq!(names, ["recent"]);
    let status = telemetry.status().to_string();
    assert!(
        status.contains("expired: 1 event, older than 30 days"),
        "{status}"
    );
    // The text says the bound that was configured, not a fixed one.
    let hours = tool
        .builder(&endpoint)
        .spool_limits(1 << 20, Duration::from_secs(2 * 3600))
        .init()
        .status()
        .to_string();
    assert!(hours.contains("older than 2 hours"), "{hours}");
}

#[test]
fn one_uploader_at_a_time() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let telemetry = tool.telemetry(&format!("{}/v1/events", server.url));
    telemetry.record("e");
    std::fs::create_dir_all(tool.spool()).unwrap();
    let held =
        crate::support::hold_lock(std::fs::File::create(tool.spool().join("upload.lock")).unwrap());
    let report = telemetry.upload_now().unwrap();
    assert!(!report.ran, "another uploader holds the lock");
    assert!(server.requests().is_empty());
    drop(held);
    assert!(telemetry.upload_now().unwrap().ran);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn disable_deletes_what_was_not_sent() {
    let tool = Tool::enabled();
    let telemetry = tool.telemetry(&format!("{}/v1/events", refused_url()));
    telemetry.record("private");
    drop(telemetry);
    assert_eq!(tool.spooled().len(), 1);
    let telemetry = tool.telemetry("http://127.0.0.1:9/e");
    let report = telemetry.command(TelemetryCommand::Disable);
    assert!(report.error().is_none(), "{report}");
    assert!(
        tool.spooled().is_empty(),
        "opting out deletes unsent events"
    );
    assert!(!tool.telemetry("http://127.0.0.1:9/e").is_enabled());
}

#[test]
fn time_records_duration_and_outcome_from_sync_and_async_code() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let telemetry = tool.telemetry(&format!("{}/v1/events", server.url));
    let ok: Result<u8, String> = telemetry.time("sync-ok", || Ok(1));
    assert_eq!(ok, Ok(1));
    let err: Result<u8, String> = telemetry.time("sync-err", || Err("no".into()));
    assert_eq!(err, Err("no".into()));
    let async_ok: Result<(), ()> =
        crate::support::block_on(telemetry.time_async("async-ok", async { Ok(()) }));
    assert!(async_ok.is_ok());
    telemetry.upload_now().unwrap();
    let events: HashMap<String, rtb_telemetry::Event> = received(&server)
        .into_iter()
        .map(|(_, r)| (r.event.name.clone(), r.event))
        .collect();
    for (name, outcome) in [("sync-ok", "ok"), ("sync-err", "error"), ("async-ok", "ok")] {
        let event = &events[name];
        assert_eq!(event.attrs["outcome"], outcome, "{name}");
        // Milliseconds with three decimals: a run under a millisecond is not 0.
        let ms = &event.attrs["duration_ms"];
        let (whole, micros) = ms.split_once('.').expect("three decimals");
        assert!(
            whole.parse::<u64>().is_ok() && micros.len() == 3,
            "{name}: {ms}"
        );
    }
}

#[test]
fn without_a_collector_events_stay_in_a_local_file() {
    let tool = Tool::enabled();
    let telemetry = Telemetry::builder("mytool", "1.2.3")
        .env(Env::from_vars::<_, &str, &str>([]))
        .paths(tool.consent(), tool.data())
        .detached_upload(false)
        .init();
    telemetry.record("local");
    let text = std::fs::read_to_string(tool.data().join("events.jsonl")).unwrap();
    assert!(text.contains("\"local\""), "{text}");
    assert!(tool.spooled().is_empty());
    assert!(
        telemetry
            .status()
            .to_string()
            .contains("kept on this machine")
    );
}

#[test]
fn attrs_are_scrubbed_before_they_reach_the_disk() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let telemetry = tool.telemetry(&format!("{}/v1/events", server.url));
    telemetry.record_with_attrs(
        "fail",
        [(
            "error",
            "cannot open /home/someone/x.txt, ask bob@example.com",
        )],
    );
    let spooled = std::fs::read_to_string(&tool.spooled()[0]).unwrap();
    assert!(
        !spooled.contains("someone") && !spooled.contains("bob@"),
        "{spooled}"
    );
    assert!(
        spooled.contains("[path]") && spooled.contains("[email]"),
        "{spooled}"
    );
}

/// Whether a path exists under `dir` whose name ends in `suffix`.
fn any_file(dir: &Path, suffix: &str) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with(suffix))
    })
}

#[test]
fn debug_mode_prints_and_spools_nothing() {
    let tool = Tool::enabled();
    let telemetry = Telemetry::builder("mytool", "1.2.3")
        .env(Env::from_vars([
            ("MYTOOL_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/e"),
            ("MYTOOL_TELEMETRY_DEBUG", "1"),
        ]))
        .paths(tool.consent(), tool.data())
        .detached_upload(false)
        .init();
    assert!(telemetry.is_enabled());
    telemetry.record("shown-not-sent");
    assert!(
        !any_file(&tool.spool(), ".jsonl"),
        "debug mode spools nothing"
    );
    let status = telemetry.status().to_string();
    assert!(status.contains("stderr only"), "{status}");
}

#[test]
fn a_full_spool_drains_once_the_collector_is_back() {
    let tool = Tool::enabled();
    let down = format!("{}/v1/events", refused_url());
    let small = |endpoint: &str| {
        tool.builder(endpoint)
            .spool_limits(3_000, Duration::from_secs(3600))
            .init()
    };
    for i in 0..30 {
        small(&down).record(&format!("offline-{i}"));
    }
    let full = tool.spooled().len();
    assert!(full >= 1);
    // Further runs while full leave no empty files behind.
    for _ in 0..5 {
        small(&down).record("dropped");
    }
    assert_eq!(tool.spooled().len(), full, "no empty spool files");
    let server = Server::start_at(&down);
    let telemetry = small(&down);
    telemetry.record("online");
    telemetry.upload_now().unwrap();
    assert!(!received(&server).is_empty(), "the backlog went");
    assert!(tool.spooled().is_empty());
}

#[test]
fn a_spool_file_larger_than_the_spool_is_dropped_not_a_roadblock() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let endpoint = format!("{}/v1/events", server.url);
    let telemetry = tool
        .builder(&endpoint)
        .spool_limits(4_000, Duration::from_secs(3600))
        .init();
    telemetry.record("before");
    drop(telemetry);
    std::fs::write(
        tool.spool().join("0000000000000-1-junk.jsonl"),
        vec![b'x'; 10_000],
    )
    .unwrap();
    let report = tool
        .builder(&endpoint)
        .spool_limits(4_000, Duration::from_secs(3600))
        .init()
        .upload_now()
        .unwrap();
    assert_eq!(report.delivered, 1);
    assert!(report.skipped >= 1);
    assert!(tool.spooled().is_empty());
}

#[test]
fn counters_at_their_limit_never_overflow() {
    let tool = Tool::enabled();
    std::fs::create_dir_all(tool.spool()).unwrap();
    std::fs::write(
        tool.spool().join("state.json"),
        format!(
            r#"{{"dropped_full":{m},"delivered":{m},"skipped":{m},"expired":{m}}}"#,
            m = u64::MAX
        ),
    )
    .unwrap();
    let server = Server::start(vec![]);
    let endpoint = format!("{}/v1/events", server.url);
    let telemetry = tool
        .builder(&endpoint)
        .spool_limits(10, Duration::from_secs(3600))
        .init();
    telemetry.record("dropped"); // the spool is full: counted, saturating
    let telemetry = tool.telemetry(&endpoint);
    telemetry.record("sent");
    telemetry.upload_now().unwrap(); // delivered: counted, saturating
    let status = telemetry.status().to_string();
    assert!(status.contains(&u64::MAX.to_string()), "{status}");
}

#[cfg(unix)]
#[test]
fn a_symlinked_spool_directory_is_refused_and_named() {
    let tool = Tool::enabled();
    let elsewhere = tool.dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::create_dir_all(tool.data()).unwrap();
    std::os::unix::fs::symlink(&elsewhere, tool.spool()).unwrap();
    let telemetry = tool.telemetry("http://127.0.0.1:9/e");
    telemetry.record("redirected?");
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing written through the link"
    );
    let status = telemetry.status().to_string();
    assert!(status.contains("symbolic link"), "{status}");
}

#[cfg(unix)]
#[test]
fn something_planted_at_the_upload_lock_does_not_stop_uploads() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let telemetry = tool.telemetry(&format!("{}/v1/events", server.url));
    telemetry.record("e");
    let status = std::process::Command::new("mkfifo")
        .arg(tool.spool().join("upload.lock"))
        .status()
        .unwrap();
    assert!(status.success());
    let report = crate::support::within(10, move || telemetry.upload_now().unwrap());
    assert_eq!(report.delivered, 1);
}

#[test]
fn adversarial_attr_values_cost_bounded_time() {
    let tool = Tool::enabled();
    let telemetry = tool.telemetry("http://127.0.0.1:9/e");
    // Long runs that several patterns could extend: quadratic if scrubbed
    // whole (a megabyte took minutes); cut first, they take milliseconds.
    for piece in ["1.", "eyJaaaa.", ":", "/", "a@"] {
        let value = piece.repeat((1 << 20) / piece.len());
        let telemetry = telemetry.clone();
        crate::support::within(10, move || telemetry.record_with_attrs("x", [("v", value)]));
    }
}

#[test]
fn timed_events_carry_their_attrs_and_the_outcome_the_tool_decides() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let telemetry = tool.telemetry(&format!("{}/v1/events", server.url));
    // A broken pipe (`| head -1`) the tool treats as success.
    let piped: std::io::Result<()> = telemetry
        .timed("dump")
        .attr("mode", "hex")
        .outcome(|r: &std::io::Result<()>| match r {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => "error",
            _ => "ok",
        })
        .run(|| Err(std::io::ErrorKind::BrokenPipe.into()));
    assert!(piped.is_err(), "the result is returned untouched");
    // An exit code as the outcome.
    let code = telemetry
        .timed("check")
        .outcome(|code: &i32| format!("exit {code}"))
        .run(|| {
            std::thread::sleep(Duration::from_micros(300));
            3
        });
    assert_eq!(code, 3);
    telemetry.upload_now().unwrap();
    let events: HashMap<String, rtb_telemetry::Event> = received(&server)
        .into_iter()
        .map(|(_, r)| (r.event.name.clone(), r.event))
        .collect();
    assert_eq!(events["dump"].attrs["outcome"], "ok");
    assert_eq!(events["dump"].attrs["mode"], "hex");
    assert_eq!(events["check"].attrs["outcome"], "exit 3");
    let ms: f64 = events["check"].attrs["duration_ms"].parse().unwrap();
    assert!(ms >= 0.3, "sub-millisecond precision: {ms}");
}

/// A proxy the client cannot use (SOCKS, say) stops uploads, and says so:
/// going around it would give the user's address away.
#[test]
fn an_unusable_proxy_is_never_gone_around() {
    // One that cannot be used at all, and a SOCKS proxy that is down.
    for proxy in ["ftp://127.0.0.1:9", "socks5h://127.0.0.1:9"] {
        let tool = Tool::enabled();
        let server = Server::start(vec![]);
        let endpoint = format!("{}/v1/events", server.url);
        let telemetry = Telemetry::builder("mytool", "1.2.3")
            .salt("mytool-tests")
            .env(Env::from_vars([
                ("MYTOOL_TELEMETRY_ENDPOINT", endpoint.as_str()),
                ("ALL_PROXY", proxy),
            ]))
            .paths(tool.consent(), tool.data())
            .detached_upload(false)
            .init();
        telemetry.record("build");
        let err = telemetry.upload_now().unwrap_err();
        assert!(err.to_string().contains("ALL_PROXY"), "{proxy}: {err}");
        assert_eq!(server.connections(), 0, "{proxy}: sent around the proxy");
        assert_eq!(tool.spooled().len(), 1, "{proxy}: the event is kept");
        let status = telemetry.status().to_string();
        assert!(status.contains("ALL_PROXY"), "{proxy}: {status}");
    }
}

/// An uploader with nothing to send is done at once: it takes no lock,
/// waits for no running command, makes no request and counts no attempt.
#[test]
fn an_upload_with_nothing_to_send_does_nothing() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let telemetry = tool.telemetry(&format!("{}/v1/events", server.url));
    telemetry.record("build");
    assert_eq!(telemetry.upload_now().unwrap().delivered, 1);
    let state = |tool: &Tool| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(tool.spool().join("state.json")).unwrap()).unwrap()
    };
    let attempts = state(&tool)["attempts"].as_u64();
    assert!(tool.spooled().is_empty());
    let report = telemetry.upload_now().unwrap();
    assert!(!report.ran, "{report:?}");
    assert_eq!(state(&tool)["attempts"].as_u64(), attempts);
    assert_eq!(server.requests().len(), 1);
}

/// The system's trust store, where it is a file: a company CA an
/// administrator added (`SSL_CERT_FILE`, `SSL_CERT_DIR`, as OpenSSL reads
/// them) is trusted, beside the bundled web roots; without it the same
/// collector is refused.
#[test]
fn the_systems_trusted_roots_are_trusted_too() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
    let ca = format!("{fixtures}/ca.pem");
    let cases: [(&str, Option<(&str, &str)>); 3] = [
        ("nothing added", None),
        ("SSL_CERT_FILE", Some(("SSL_CERT_FILE", ca.as_str()))),
        ("SSL_CERT_DIR", Some(("SSL_CERT_DIR", fixtures))),
    ];
    for (what, variable) in cases {
        let tool = Tool::enabled();
        let server = Server::start_tls(vec![]);
        let endpoint = format!("{}/v1/events", server.url);
        let mut vars = vec![("MYTOOL_TELEMETRY_ENDPOINT", endpoint.as_str())];
        vars.extend(variable);
        let telemetry = Telemetry::builder("mytool", "1.2.3")
            .salt("mytool-tests")
            .env(Env::from_vars(vars))
            .paths(tool.consent(), tool.data())
            .detached_upload(false)
            .init();
        telemetry.record("build");
        let result = telemetry.upload_now();
        match variable {
            None => assert!(result.is_err(), "{what}: the test CA is trusted"),
            Some(_) => assert_eq!(result.unwrap().delivered, 1, "{what}"),
        }
    }
}

/// `show` and `status` say when waiting events go: due with
/// the next run, or (after an upload, here a failed one) in how long —
/// so a burst of runs whose events wait for the interval does not look
/// like loss.
#[test]
fn show_and_status_say_when_the_next_upload_is_due() {
    use rtb_telemetry::consent::TelemetryCommand;
    let tool = Tool::enabled();
    let down = refused_url();
    let telemetry = tool.telemetry(&down);
    telemetry.record("first");
    for text in [
        telemetry
            .command(TelemetryCommand::Show {
                catalog: false,
                json: false,
            })
            .to_string(),
        telemetry.status().to_string(),
    ] {
        assert!(
            text.contains("next upload: due, with the next run of the tool"),
            "{text}"
        );
    }
    assert!(telemetry.upload_now().is_err(), "the collector refuses");
    let telemetry = tool.telemetry(&down);
    for text in [
        telemetry
            .command(TelemetryCommand::Show {
                catalog: false,
                json: false,
            })
            .to_string(),
        telemetry.status().to_string(),
    ] {
        assert!(
            text.contains("next upload: with the first run of the tool in "),
            "{text}"
        );
        assert!(text.contains("waiting to be sent: 1 event"), "{text}");
    }
}

/// The age bound is kept whatever comes first in a spool file: an old
/// record after a newer one, after a garbage, torn or blank line, or after
/// a line longer than any record. Kept under a file-size limit too (the
/// file goes whole when what is kept cannot be written: tested with
/// mytool in `file_size_limit`).
#[test]
fn expiry_is_not_fooled_by_what_comes_first() {
    let tool = Tool::enabled();
    let telemetry = tool.telemetry("http://127.0.0.1:9/e");
    telemetry.record("new");
    telemetry.record("old");
    drop(telemetry);
    let events = tool.spool().join("events.jsonl");
    let text = std::fs::read_to_string(&events).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // "old" is 40 days old, and comes after "new".
    let mut old: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    let stamp = time::OffsetDateTime::from(SystemTime::now() - Duration::from_secs(40 * 86_400))
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        ))
        .unwrap();
    old["event"]["timestamp_utc"] = stamp.into();
    lines[1] = old.to_string();
    let firsts = [
        ("out of order", String::new()),
        ("garbage first", "not a record\n".to_owned()),
        ("blank first", "\n\n".to_owned()),
        ("torn first", "{\"id\":\"x\",\"ev\n".to_owned()),
        ("a long first line", format!("{}\n", "x".repeat(300 * 1024))),
    ];
    for (case, first) in firsts {
        std::fs::write(&events, format!("{first}{}\n{}\n", lines[0], lines[1])).unwrap();
        let _off = tool
            .builder("")
            .env(Env::from_vars([("DO_NOT_TRACK", "1")]))
            .init();
        let left = std::fs::read_to_string(&events).unwrap();
        assert!(!left.contains("\"old\""), "{case}: the old record stayed");
        assert!(left.contains("\"new\""), "{case}: the new record went");
    }
}
