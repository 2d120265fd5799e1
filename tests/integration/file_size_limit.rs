//! A file-size limit (`ulimit -f`, `RLIMIT_FSIZE`) never ends the host: a
//! write past it would kill the process with `SIGXFSZ`, so telemetry
//! treats the limit like a full spool (events dropped, counted, shown).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::mytool;
use crate::support::walk;

/// Runs mytool under `ulimit -f 1` (1 KiB in bash) with `HOME` in `home`
/// and `vars`; stderr is appended to `stderr` (a regular file that grows
/// from run to run, so the limit applies to what telemetry prints there
/// too), stdout is captured (a pipe).
fn limited(home: &Path, vars: &[(&str, &str)], args: &[&str], stderr: &Path) -> Output {
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(r#"ulimit -f 1 && exec "$0" "$@""#)
        .arg(mytool())
        .args(args)
        .env_clear()
        .env("HOME", home)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(stderr)
                .unwrap(),
        );
    command.output().unwrap()
}

fn enable(home: &Path) {
    let out = Command::new(mytool())
        .args(["telemetry", "enable"])
        .env_clear()
        .env("HOME", home)
        .output()
        .unwrap();
    assert!(out.status.success());
}

/// Twelve runs under a 1 KiB limit — in local-file mode, with a collector
/// that is down, and in debug mode with stderr in a file — each exit and
/// print exactly as the same run with telemetry never enabled; `status`
/// names the limit, and the spool counts what it dropped.
#[test]
fn under_ulimit_f_1_every_run_exits_and_prints_as_with_telemetry_off() {
    let down = [("MYTOOL_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/v1/events")];
    let debug = [("MYTOOL_TELEMETRY_DEBUG", "1")];
    let modes: [(&str, &[(&str, &str)]); 3] = [
        ("local file", &[]),
        ("collector down", &down),
        ("debug mode", &debug),
    ];
    for (mode, vars) in modes {
        let off = tempfile::tempdir().unwrap();
        let on = tempfile::tempdir().unwrap();
        enable(on.path());
        let err_off = off.path().join("stderr");
        let err_on = on.path().join("stderr");
        let baseline = limited(off.path(), vars, &["run"], &err_off);
        assert!(baseline.status.success(), "{mode}: {baseline:?}");
        for run in 1..=12 {
            let out = limited(on.path(), vars, &["run"], &err_on);
            assert_eq!(
                out.status.code(),
                baseline.status.code(),
                "{mode}, run {run}: ended by {:?}",
                std::os::unix::process::ExitStatusExt::signal(&out.status)
            );
            assert_eq!(out.stdout, baseline.stdout, "{mode}, run {run}");
        }
        // Nothing of the crate's took a file past the limit.
        for file in walk(on.path()) {
            let len = std::fs::metadata(&file).unwrap().len();
            assert!(len <= 1024, "{mode}: {} has {len} bytes", file.display());
        }
        let status = limited(
            on.path(),
            vars,
            &["telemetry", "status"],
            &on.path().join("e2"),
        );
        let status = String::from_utf8_lossy(&status.stdout);
        assert!(
            status.contains("file-size limit (`ulimit -f`) is 1024 bytes"),
            "{mode}: {status}"
        );
        if mode == "collector down" {
            assert!(
                status.contains("dropped, because the spool was full:"),
                "{mode}: {status}"
            );
        }
    }
}

/// Two runs append to the same file while one of them is held up (by
/// strace) between checking the room left and writing: the other's append
/// cannot land in between (the crate's writers lock the file), and a
/// short write is never retried past the limit. Both exit 0; the file
/// stays within the limit. Local-file mode (the events file; the second
/// run has no limit at all), and debug mode (a shared `2>>log`).
#[test]
#[ignore = "needs strace; CI installs it and runs this with --ignored"]
fn runs_appending_to_one_file_under_a_limit_never_end_the_host() {
    crate::support::require_tool("strace", "it holds up one run's write");
    for debug in [false, true] {
        let home = tempfile::tempdir().unwrap();
        enable(home.path());
        let events = home
            .path()
            .join(".local/share/mytool/telemetry/events.jsonl");
        let log = home.path().join("log");
        let target = if debug { &log } else { &events };
        std::fs::create_dir_all(events.parent().unwrap()).unwrap();
        std::fs::write(target, vec![b'#'; 600]).unwrap();
        let vars: &[(&str, &str)] = if debug {
            &[("MYTOOL_TELEMETRY_DEBUG", "1")]
        } else {
            &[]
        };
        let open_log = || {
            std::fs::OpenOptions::new()
                .append(true)
                .open(&log)
                .unwrap_or_else(|_| std::fs::File::create(home.path().join("other")).unwrap())
        };
        let mut held = Command::new("bash")
            .arg("-c")
            .arg(r#"ulimit -f 1 && exec strace -f -o /dev/null -P "$0" -e trace=write -e inject=write:delay_enter=1500000:when=1 "$1" run"#)
            .arg(target)
            .arg(mytool())
            .env_clear()
            .env("HOME", home.path())
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(open_log())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        // The other run: limited too in debug mode, not limited at all in
        // local-file mode.
        let limit = if debug { "ulimit -f 1 && " } else { "" };
        let other = Command::new("bash")
            .arg("-c")
            .arg(format!(r#"{limit}exec "$0" run"#))
            .arg(mytool())
            .env_clear()
            .env("HOME", home.path())
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(open_log())
            .status()
            .unwrap();
        let held = held.wait().unwrap();
        for (who, status) in [("held", held), ("other", other)] {
            assert!(
                status.success(),
                "debug {debug}: the {who} run ended by {:?}",
                std::os::unix::process::ExitStatusExt::signal(&status)
            );
        }
        let len = std::fs::metadata(target).unwrap().len();
        assert!(len <= 1024, "debug {debug}: {len} bytes");
    }
}

/// Under a limit smaller than a spool file, what is kept of it after the
/// age bound cannot be written: the file goes whole (its events dropped,
/// as a full spool's would be) rather than keep an expired record, and
/// the run is unharmed.
#[test]
fn under_a_limit_an_expired_record_still_goes() {
    let home = tempfile::tempdir().unwrap();
    enable(home.path());
    let down = [("MYTOOL_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/v1/events")];
    for _ in 0..8 {
        let out = Command::new(mytool())
            .arg("run")
            .env_clear()
            .env("HOME", home.path())
            .envs(down)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let spool = home.path().join(".local/share/mytool/telemetry/spool");
    let events = spool.join("events.jsonl");
    // The uploader the first run started is done (it deletes expired
    // records itself while it works).
    let attempted = || {
        std::fs::read(spool.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|s| s["attempts"].as_u64())
            .is_some_and(|n| n > 0)
    };
    let start = std::time::Instant::now();
    while (!attempted() || spool.join("upload.pid").exists())
        && start.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    // The first record is 40 days old; the file is over 1 KiB.
    let text = std::fs::read_to_string(&events).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines[0]["event"]["timestamp_utc"] = "2020-01-01T00:00:00.000000Z".into();
    let rewritten: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    assert!(rewritten.len() > 1024);
    std::fs::write(&events, &rewritten).unwrap();
    let out = limited(
        home.path(),
        &[down[0], ("DO_NOT_TRACK", "1")],
        &["run"],
        &home.path().join("stderr"),
    );
    assert!(out.status.success(), "{out:?}");
    let left = std::fs::read_to_string(&events).unwrap_or_default();
    assert!(!left.contains("2020-01-01"), "the expired record stayed");
}

/// Under a 1 KiB limit, with more waiting than fits in one file, uploads
/// still go: a batch is never larger than the limit, and the backlog takes
/// only the claimed files that fit (the rest wait for the next upload);
/// the state file keeps its counters (the upload log gives way).
#[test]
fn under_a_limit_uploads_still_drain_the_spool() {
    let home = tempfile::tempdir().unwrap();
    enable(home.path());
    let spool = home.path().join(".local/share/mytool/telemetry/spool");
    // The collector is down, then comes back at the same address (events
    // are only ever sent to the collector they were recorded for).
    let base = crate::loopback::refused_url();
    let url = format!("{base}/v1/events");
    let run = |url: &str| {
        let out = limited(
            home.path(),
            &[("MYTOOL_TELEMETRY_ENDPOINT", url)],
            &["run"],
            &home.path().join("stderr"),
        );
        assert!(out.status.success(), "{out:?}");
    };
    for _ in 0..6 {
        run(&url);
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(2));
    let server = crate::loopback::Server::start_at(&base);
    let attempts = || {
        std::fs::read(spool.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|s| s["attempts"].as_u64())
            .unwrap_or(0)
    };
    // Eight uploads (and runs): mytool's `run` event carries five typed
    // attrs and its catalogue version, so fewer fit in a 1 KiB batch.
    for _ in 0..8 {
        // The next upload is due now, each time; then it is waited for.
        for entry in std::fs::read_dir(&spool).unwrap().flatten() {
            if entry.file_name().to_string_lossy().starts_with("next-") {
                let _ = std::fs::rename(entry.path(), spool.join("next-0"));
            }
        }
        let before = attempts();
        run(&url);
        let start = std::time::Instant::now();
        while (attempts() == before || spool.join("upload.pid").exists())
            && start.elapsed() < Duration::from_secs(15)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let events: usize = server
        .requests()
        .iter()
        .filter_map(|r| serde_json::from_slice::<Vec<serde_json::Value>>(&r.body).ok())
        .map(|batch| batch.len())
        .sum();
    // Each upload sends what fits; the last runs' events may wait for
    // the next one.
    assert!(events >= 9, "the collector got {events} of 14 events");
    for file in walk(home.path()) {
        let len = std::fs::metadata(&file).unwrap().len();
        assert!(len <= 1024, "{} has {len} bytes", file.display());
    }
}
