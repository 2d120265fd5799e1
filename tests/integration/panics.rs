//! Panics counted (issue 29): `mytool crash` (built from this tree) and
//! `tests/panic-host` (a tool built with fresh `CARGO_HOME`s) panic; what
//! is recorded is a place and a count, through consent and the spool, and
//! the tool's own message and exit code are what they were.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::loopback::Server;
use crate::support::{mytool, output_within, walk};
use crate::uploader::{make_upload_due, spool, wait_for_uploaders};

/// Variables a run is given.
type Vars<'a> = &'a [(&'a str, &'a str)];

/// Runs mytool with `HOME` in `home`, nothing else of this environment
/// but `extra`.
fn run(home: &Path, args: &[&str], extra: Vars) -> Output {
    run_exe(&mytool(), home, args, extra)
}

/// Runs `exe` with `HOME` in `home`, nothing else of this environment but
/// `extra`; a hang fails the test.
fn run_exe(exe: &Path, home: &Path, args: &[&str], extra: Vars) -> Output {
    let mut command = Command::new(exe);
    command
        .args(args)
        .env_clear()
        .env("HOME", home)
        .envs(extra.iter().copied())
        .stdin(Stdio::null());
    output_within(&mut command, 30)
}

fn enable(home: &Path) {
    assert!(run(home, &["telemetry", "enable"], &[]).status.success());
}

/// The events of the local file (no collector).
fn local_events(home: &Path) -> Vec<serde_json::Value> {
    let path = home.join(".local/share/mytool/telemetry/events.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Panic events by place: how many records, and their counts summed.
fn by_place(events: &[serde_json::Value]) -> BTreeMap<String, (u64, u64)> {
    let mut places = BTreeMap::new();
    for event in events {
        assert_eq!(event["name"], "panic", "{event}");
        let attrs = event["attrs"].as_object().unwrap();
        assert_eq!(attrs.len(), 2, "a place and a count, nothing else: {event}");
        let place = attrs["place"].as_str().unwrap().to_owned();
        let count: u64 = attrs["count"].as_str().unwrap().parse().unwrap();
        let entry = places.entry(place).or_insert((0, 0));
        entry.0 += 1;
        entry.1 += count;
    }
    places
}

/// Where std's message says the panic was: `examples/mytool.rs:L:C`.
fn panicked_at(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let at = text
        .split("panicked at ")
        .nth(1)
        .unwrap_or_else(|| panic!("no panic message in {text}"));
    at.split(":\n").next().unwrap().to_owned()
}

/// Stderr with the thread ids std prints (`thread 'main' (12345)`) and
/// the home directory in the message made equal: they differ from run to
/// run, telemetry or not.
fn without_thread_ids(stderr: &[u8], home: &Path) -> String {
    let text = String::from_utf8_lossy(stderr).replace(home.to_str().unwrap(), "~");
    let mut out = String::new();
    let mut rest = &*text;
    while let Some(open) = rest.find("' (") {
        out.push_str(&rest[..open + 3]);
        rest = &rest[open + 3..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with(')') {
            out.push('N');
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn a_panic_records_where_it_happened_never_what_was_said() {
    let home = tempfile::tempdir().unwrap();
    let baseline = run(home.path(), &["crash"], &[]); // undecided: off
    enable(home.path());
    let out = run(home.path(), &["crash"], &[]);
    // The tool's message and exit code, as without telemetry.
    assert_eq!(out.status.code(), Some(101));
    assert_eq!(out.status.code(), baseline.status.code());
    assert_eq!(
        without_thread_ids(&out.stderr, home.path()),
        without_thread_ids(&baseline.stderr, home.path())
    );
    let home_text = home.path().to_str().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains(home_text));
    let events = local_events(home.path());
    let version = env!("CARGO_PKG_VERSION");
    let place = format!("mytool@{version}/{}", panicked_at(&out.stderr));
    assert_eq!(
        by_place(&events),
        BTreeMap::from([(place, (1, 1))]),
        "{events:?}"
    );
    // Nothing of the message (the home directory, the file) is anywhere.
    for file in walk(home.path()) {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(home_text) && !text.contains("no-such-settings"),
            "{} holds the panic's message: {text}",
            file.display()
        );
    }
}

#[test]
fn nothing_is_recorded_or_kept_when_telemetry_is_off() {
    let undecided = tempfile::tempdir().unwrap();
    let baseline = run(undecided.path(), &["crash"], &[]);
    let cases: [(&str, Vars, bool); 4] = [
        ("undecided", &[], false),
        ("DO_NOT_TRACK", &[("DO_NOT_TRACK", "1")], true),
        (
            "MYTOOL_TELEMETRY_DISABLED",
            &[("MYTOOL_TELEMETRY_DISABLED", "1")],
            true,
        ),
        ("disabled", &[], true),
    ];
    for (why, env, enabled_first) in cases {
        let home = tempfile::tempdir().unwrap();
        if enabled_first {
            enable(home.path());
        }
        if why == "disabled" {
            assert!(
                run(home.path(), &["telemetry", "disable"], &[])
                    .status
                    .success()
            );
        }
        let before = walk(home.path());
        for url in [None, Some("http://127.0.0.1:9/events")] {
            let mut env = env.to_vec();
            env.extend(url.map(|u| ("MYTOOL_TELEMETRY_ENDPOINT", u)));
            let out = run(home.path(), &["crash", "--threads", "2"], &env);
            assert_eq!(out.status.code(), Some(101), "{why}");
            let single = run(home.path(), &["crash"], &env);
            assert_eq!(
                without_thread_ids(&single.stderr, home.path()),
                without_thread_ids(&baseline.stderr, undecided.path()),
                "{why}: the message is the tool's own"
            );
        }
        assert_eq!(
            walk(home.path()),
            before,
            "{why}: a panic wrote something with telemetry off"
        );
    }
}

/// Panics on 32 threads at once, then on the main thread: each is
/// counted, none lost (the hooks queue in the process; one writes).
#[test]
fn panics_on_many_threads_at_once_are_all_counted() {
    let home = tempfile::tempdir().unwrap();
    enable(home.path());
    for _ in 0..3 {
        let out = run(home.path(), &["crash", "--threads", "32"], &[]);
        assert_eq!(out.status.code(), Some(101));
    }
    let places = by_place(&local_events(home.path()));
    let mut counts: Vec<u64> = places.values().map(|&(_, count)| count).collect();
    counts.sort_unstable();
    assert_eq!(counts, [3, 96], "{places:?}");
}

/// A script calls the tool 1,000 times and it panics each time: each
/// upload sends one record per place, with the count, and every panic is
/// counted once.
#[test]
fn a_thousand_crashing_runs_upload_one_record_per_place() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(vec![]);
    let url = format!("{}/v1/events", server.url);
    let env = [("MYTOOL_TELEMETRY_ENDPOINT", url.as_str())];
    enable(home.path());
    for _ in 0..1000 {
        let out = run(home.path(), &["crash"], &env);
        assert_eq!(out.status.code(), Some(101));
    }
    wait_for_uploaders(home.path(), Duration::from_secs(30));
    // What waits goes now, with one more run (its panic starts the upload).
    make_upload_due(home.path());
    run(home.path(), &["crash"], &env);
    wait_for_uploaders(home.path(), Duration::from_secs(30));
    let requests = server.requests();
    let mut total = 0;
    for request in &requests {
        let records: Vec<serde_json::Value> = serde_json::from_slice(&request.body).unwrap();
        let events: Vec<serde_json::Value> = records.iter().map(|r| r["event"].clone()).collect();
        let places = by_place(&events);
        assert!(
            places.values().all(|&(records, _)| records == 1),
            "one record per place in a request: {places:?}"
        );
        total += places.values().map(|&(_, count)| count).sum::<u64>();
    }
    assert_eq!(total, 1001, "every panic counted once");
    assert!(
        requests.len() <= 3,
        "{} requests for 1,001 panics",
        requests.len()
    );
    let waiting: usize = walk(&spool(home.path()))
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert_eq!(waiting, 0, "everything was sent");
}

/// `telemetry show` lists the panics as the upload will send them: one
/// record per place, with its count.
#[test]
fn show_lists_waiting_panics_as_they_will_be_sent() {
    let home = tempfile::tempdir().unwrap();
    let env = [("MYTOOL_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/events")];
    enable(home.path());
    for _ in 0..5 {
        run(home.path(), &["crash"], &env);
    }
    wait_for_uploaders(home.path(), Duration::from_secs(30));
    let shown = run(home.path(), &["telemetry", "show"], &env);
    let text = String::from_utf8_lossy(&shown.stdout);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(r#""name":"panic""#))
        .collect();
    let counts: u64 = lines
        .iter()
        .map(|l| {
            let record: serde_json::Value = serde_json::from_str(l).unwrap();
            record["event"]["attrs"]["count"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(counts, 5, "{text}");
    // The first run's uploader sealed what it found into a batch, sent
    // again as it was; everything after is one record.
    assert!(lines.len() <= 2, "{text}");
    let catalog = run(home.path(), &["telemetry", "show", "--catalog"], &[]);
    let catalog = String::from_utf8_lossy(&catalog.stdout);
    assert!(
        catalog.contains("panic") && catalog.contains("place") && catalog.contains("count"),
        "{catalog}"
    );
}

/// A copy of `tests/panic-host` at `dir`, depending on this tree.
fn host_source(dir: &Path) {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = std::fs::read_to_string(here.join("tests/panic-host/Cargo.toml"))
        .unwrap()
        .replace(
            r#"path = "../..""#,
            &format!("path = {:?}", here.to_str().unwrap()),
        );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(
        here.join("tests/panic-host/src/main.rs"),
        dir.join("src/main.rs"),
    )
    .unwrap();
}

/// A `CARGO_HOME` of its own at `dir`, sharing only the registry's index
/// and downloaded `.crate` files with this one (so it builds offline):
/// sources are unpacked under `dir`.
fn cargo_home(dir: &Path) {
    let real = std::env::var_os("CARGO_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"),
        PathBuf::from,
    );
    std::fs::create_dir_all(dir.join("registry")).unwrap();
    for shared in ["index", "cache"] {
        std::os::unix::fs::symlink(
            real.join("registry").join(shared),
            dir.join("registry").join(shared),
        )
        .unwrap();
    }
}

/// Builds the host in `source` with `CARGO_HOME` at `home`; `abort`:
/// with `panic = "abort"`.
fn build_host(source: &Path, home: &Path, abort: bool) -> PathBuf {
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--offline", "--quiet"])
        .current_dir(source)
        .env("CARGO_HOME", home)
        .env("CARGO_TARGET_DIR", source.join("target"))
        .env_remove("RUSTFLAGS");
    if abort {
        cargo.env("CARGO_PROFILE_DEV_PANIC", "abort");
    }
    let out = cargo.output().unwrap();
    assert!(
        out.status.success(),
        "the host did not build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unpacked = walk(&home.join("registry/src"));
    assert!(
        unpacked.iter().any(|p| p.ends_with("src/value/index.rs")),
        "serde_json was not unpacked under the host's own CARGO_HOME"
    );
    source.join("target/debug/crashy")
}

/// The host's panic events, by place.
fn host_places(home: &Path) -> BTreeMap<String, (u64, u64)> {
    let text = std::fs::read_to_string(home.join(".local/share/crashy/telemetry/events.jsonl"))
        .unwrap_or_default();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    by_place(&events)
}

/// The same tool built by two users — two source directories, two
/// `CARGO_HOME`s, one build with `panic = "abort"` — panicking inside a
/// dependency from the registry: one place, naming the dependency and its
/// version, nothing of either machine. Its own hook's message and the exit
/// status are byte for byte those of a run without telemetry, also when
/// it panics again while unwinding and when its own hook panics.
#[test]
#[ignore = "builds tests/panic-host twice with CARGO_HOMEs of its own (about a minute); CI runs it"]
fn one_place_whoever_built_the_tool_and_however_it_panics() {
    let base = tempfile::tempdir().unwrap();
    let builds = [
        ("home/ada/src/crashy", "home/ada/.cargo", false),
        ("srv/bob/work/tools/crashy", "opt/cargo-of-bob", true),
    ];
    let mut places = Vec::new();
    for (source, home, abort) in builds {
        let (source, home) = (base.path().join(source), base.path().join(home));
        host_source(&source);
        cargo_home(&home);
        let exe = build_host(&source, &home, abort);
        let code = if abort { None } else { Some(101) };
        let cases: [(&str, Vars); 3] = [
            ("dependency", &[]),
            ("drop", &[]),
            ("dependency", &[("CRASHY_HOOK_PANICS", "1")]),
        ];
        for (i, (what, env)) in cases.into_iter().enumerate() {
            let (off, on) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            assert!(run_exe(&exe, on.path(), &["enable"], &[]).status.success());
            let without = run_exe(&exe, off.path(), &[what], env);
            let with = run_exe(&exe, on.path(), &[what], env);
            assert_eq!(with.stderr, without.stderr, "{what} {env:?}: stderr");
            assert_eq!(with.status, without.status, "{what} {env:?}: status");
            if i == 0 {
                assert_eq!(with.status.code(), code, "{what}: abort {abort}");
            } else {
                // Another panic while unwinding, or in the tool's own hook:
                // std aborts, with or without telemetry.
                assert_eq!(with.status.code(), None, "{what} {env:?}");
            }
            let found = host_places(on.path());
            assert!(!found.is_empty(), "{what} {env:?}: nothing recorded");
            for place in found.keys() {
                for private in ["ada", "bob", "home", "srv", "opt", "cargo", "registry"] {
                    assert!(!place.contains(private), "{place} holds {private}");
                }
            }
            if what == "drop" {
                // The first panic and the one while unwinding, both (with
                // `panic = "abort"` nothing unwinds: the first only).
                let ours = found
                    .keys()
                    .filter(|p| p.starts_with("crashy@0.3.0/src/main.rs:"))
                    .count();
                assert_eq!(ours, if abort { 1 } else { 2 }, "{found:?}");
            } else {
                assert_eq!(found.len(), 1, "{found:?}");
                places.push(found.into_keys().next().unwrap());
            }
        }
    }
    let first = &places[0];
    assert!(
        first.starts_with("serde_json@1.") && first.contains("/src/value/index.rs:"),
        "{first}"
    );
    assert!(places.iter().all(|p| p == first), "{places:?}");
}

/// Over OTLP, from the uploader the panic's hook started: `place` a
/// string, `count` an integer (the catalogue's types), the tool's
/// catalogue version on the resource.
#[test]
fn a_panic_goes_over_otlp_with_typed_values() {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use prost::Message as _;

    let home = tempfile::tempdir().unwrap();
    let server = Server::start(vec![]);
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", server.url.as_str())];
    enable(home.path());
    let out = run(home.path(), &["crash"], &env);
    assert_eq!(out.status.code(), Some(101));
    wait_for_uploaders(home.path(), Duration::from_secs(30));
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "the hook started the first upload");
    let export = ExportLogsServiceRequest::decode(requests[0].body.as_slice()).unwrap();
    let record = &export.resource_logs[0].scope_logs[0].log_records[0];
    let value = |key: &str| {
        record
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.clone())
            .unwrap_or_else(|| panic!("no {key} in {record:?}"))
    };
    assert_eq!(value("count"), Value::IntValue(1));
    let place = format!(
        "mytool@{}/{}",
        env!("CARGO_PKG_VERSION"),
        panicked_at(&out.stderr)
    );
    assert_eq!(value("place"), Value::StringValue(place));
}
