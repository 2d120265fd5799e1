//! The detached uploader, run for real: `mytool` (built by
//! `cargo test --all-features`) spools and re-executes itself; a loopback
//! collector receives. Plus: no exporter blocks an async executor.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rtb_telemetry::remote::{HttpSink, Retry};
use rtb_telemetry::{Background, CollectionPolicy, TelemetryContext, TelemetrySink};

use crate::loopback::{Answer, Server};
use crate::support::mytool;

/// Runs mytool with `HOME` in `home` and the endpoint `url`.
fn mytool_run(home: &Path, url: &str, args: &[&str]) {
    let status = Command::new(mytool().unwrap())
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("MYTOOL_TELEMETRY_ENDPOINT", url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

fn spool(home: &Path) -> PathBuf {
    home.join(".local/share/mytool/telemetry/spool")
}

/// Makes the next upload due now, as if the interval had passed.
fn make_upload_due(home: &Path) {
    let path = spool(home).join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    state["next_upload_ms"] = 0.into();
    std::fs::write(&path, state.to_string()).unwrap();
}

/// Waits for `check` up to `limit`, polling; returns how long it took.
fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// The uploader's pid, from the file it writes while it works.
fn uploader_pid(home: &Path) -> Option<u32> {
    std::fs::read_to_string(spool(home).join("upload.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        // A zombie (`Z`) has ended; only its exit status is left.
        .is_ok_and(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
}

fn record_ids(body: &[u8]) -> Vec<String> {
    let records: Vec<serde_json::Value> = serde_json::from_slice(body).unwrap();
    records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_runs_event_reaches_the_collector_soon_after_the_run_ends() {
    if mytool().is_none() {
        eprintln!("SKIPPED: build with --all-features");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(vec![]);
    let url = format!("{}/v1/events", server.url);
    mytool_run(home.path(), &url, &["telemetry", "enable"]);
    mytool_run(home.path(), &url, &["run"]);
    let ended = Instant::now();
    let took = wait_for(Duration::from_secs(15), || !server.requests().is_empty())
        .expect("the event never arrived");
    eprintln!(
        "arrived {:?} after the run ended",
        ended.elapsed().min(took)
    );
    assert!(took < Duration::from_secs(5), "arrived only after {took:?}");
    let body: Vec<serde_json::Value> = serde_json::from_slice(&server.requests()[0].body).unwrap();
    assert_eq!(body[0]["event"]["name"], "run");
    assert!(body[0]["event"]["attrs"]["duration_ms"].is_string());
}

#[test]
fn the_uploader_ends_by_itself_within_30_seconds_whatever_the_network_does() {
    if mytool().is_none() {
        eprintln!("SKIPPED: build with --all-features");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    // Accepts, reads the request, and never answers.
    let server = Server::start(vec![Answer::Hang; 8]);
    let url = format!("{}/v1/events", server.url);
    mytool_run(home.path(), &url, &["telemetry", "enable"]);
    let start = Instant::now();
    mytool_run(home.path(), &url, &["run"]);
    let pid = wait_for(Duration::from_secs(10), || {
        uploader_pid(home.path()).is_some()
    })
    .and_then(|_| uploader_pid(home.path()))
    .expect("an uploader started");
    wait_for(Duration::from_secs(10), || !server.requests().is_empty()).expect("it sent");
    let gone = wait_for(Duration::from_secs(35), || !alive(pid));
    let lived = start.elapsed();
    assert!(gone.is_some(), "uploader {pid} still alive after {lived:?}");
    eprintln!("the uploader lived {lived:?} against a collector that never answers");
    assert!(lived < Duration::from_secs(30), "{lived:?}");
}

#[test]
fn killing_the_uploader_between_sent_and_deleted_resends_the_same_ids() {
    if mytool().is_none() {
        eprintln!("SKIPPED: build with --all-features");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    // The first request is received and never answered: the uploader has
    // sent, and not yet deleted, when it is killed.
    let server = Server::start(vec![Answer::Hang]);
    let url = format!("{}/v1/events", server.url);
    mytool_run(home.path(), &url, &["telemetry", "enable"]);
    mytool_run(home.path(), &url, &["run"]);
    wait_for(Duration::from_secs(10), || !server.requests().is_empty()).expect("it sent");
    let pid = uploader_pid(home.path()).expect("the uploader's pid");
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    wait_for(Duration::from_secs(10), || !alive(pid)).expect("killed");
    let first = record_ids(&server.requests()[0].body);
    let first_key = server.requests()[0]
        .header("idempotency-key")
        .unwrap()
        .to_owned();

    // The next run after the interval: its uploader sends the backlog
    // again, and its own event.
    make_upload_due(home.path());
    mytool_run(home.path(), &url, &["run"]);
    wait_for(Duration::from_secs(15), || {
        server
            .requests()
            .iter()
            .skip(1)
            .map(|r| record_ids(&r.body).len())
            .sum::<usize>()
            >= 2
    })
    .expect("the resend arrived");
    let requests = server.requests();
    let resent = requests[1..]
        .iter()
        .find(|r| record_ids(&r.body).contains(&first[0]))
        .expect("the killed batch was sent again");
    assert_eq!(record_ids(&resent.body), first, "the same record ids");
    assert_eq!(resent.header("idempotency-key"), Some(first_key.as_str()));
    // Deduplicated by id, each event arrives exactly once.
    let mut ids: Vec<String> = requests.iter().flat_map(|r| record_ids(&r.body)).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2, "two runs, two events: {ids:?}");
}

#[test]
fn no_connection_is_made_before_the_command_exits() {
    if mytool().is_none() || Command::new("strace").arg("-V").output().is_err() {
        eprintln!("SKIPPED: needs --all-features and strace");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(vec![]);
    let url = format!("{}/v1/events", server.url);
    mytool_run(home.path(), &url, &["telemetry", "enable"]);
    // strace without -f follows only the command itself, not the uploader
    // it starts.
    let out = Command::new("strace")
        .args(["-e", "trace=connect,sendto,socket", "-o", "/dev/stderr"])
        .arg(mytool().unwrap())
        .arg("run")
        .env_clear()
        .env("HOME", home.path())
        .env("MYTOOL_TELEMETRY_ENDPOINT", &url)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let trace = String::from_utf8_lossy(&out.stderr);
    assert!(trace.contains("+++ exited with 0 +++"), "{trace}");
    for call in ["connect(", "socket(AF_INET"] {
        assert!(
            !trace.contains(call),
            "the command itself made {call}: {trace}"
        );
    }
}

#[test]
fn exporters_never_block_an_async_caller() {
    use std::sync::{Arc, Mutex};

    let server = Server::start(vec![Answer::Hang; 8]);
    let http = HttpSink::builder(format!("{}/v1/events", server.url))
        .request_timeout(Duration::from_millis(700))
        .retry(Retry {
            attempts: 1,
            ..Retry::default()
        })
        .build()
        .unwrap();
    let ctx = TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.0.0")
        .salt("s")
        .sink(http)
        .policy(CollectionPolicy::Enabled)
        .build();
    let background = Background::new(
        HttpSink::builder(format!("{}/v1/events", server.url))
            .request_timeout(Duration::from_millis(700))
            .retry(Retry {
                attempts: 1,
                ..Retry::default()
            })
            .build()
            .unwrap(),
    )
    .unwrap();
    let gaps = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&gaps);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let waited = runtime.block_on(async move {
        let ticker = tokio::spawn(async move {
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let now = Instant::now();
                log.lock().unwrap().push(now - last);
                last = now;
            }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        let start = Instant::now();
        ctx.record("blackholed").await.unwrap();
        let _ = ctx.flush().await; // waits for the collector, suspended
        background
            .emit(&rtb_telemetry::Event::new("b", "t", "1", "id"))
            .await
            .unwrap();
        let _ = background.flush().await;
        let waited = start.elapsed();
        tokio::time::sleep(Duration::from_millis(30)).await;
        ticker.abort();
        waited
    });
    let gaps = gaps.lock().unwrap();
    let largest = gaps.iter().max().copied().unwrap_or_default();
    eprintln!(
        "flushes waited {waited:?}; {} ticks, largest gap {largest:?}",
        gaps.len()
    );
    assert!(
        waited >= Duration::from_millis(500),
        "the flushes did wait: {waited:?}"
    );
    assert!(
        largest <= Duration::from_millis(50),
        "the executor was blocked for {largest:?}"
    );
}
