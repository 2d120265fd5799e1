//! Report mode: counts per week, one report a week with no id, sampled;
//! counts from before the latest opt-in never reported; `disable` deletes
//! them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use rtb_telemetry::consent::{ConsentStore, TelemetryCommand};
use rtb_telemetry::{Env, Reports, Telemetry};

use crate::local_first::Tool;
use crate::loopback::Server;
use crate::support::mytool;

rtb_telemetry::catalog! {
    pub catalog Cat: version 2;
    pub enum Outcome { Ok = "ok", Failed = "failed" }
    pub event Build = "build" { outcome: Outcome, took: Duration }
    pub event Deploy = "deploy" { release: bool }
}

/// Last week's Monday: a week that is over.
fn last_monday() -> time::Date {
    let day = time::OffsetDateTime::now_utc().date() - time::Duration::days(7);
    day - time::Duration::days(i64::from(day.weekday().number_days_from_monday()))
}

fn past_week() -> String {
    last_monday().to_string()
}

fn handle(tool: &Tool, endpoint: &str, reports: Reports<Cat>) -> Telemetry<Cat> {
    Telemetry::builder("mytool", "1.2.3")
        .catalog::<Cat>()
        .reports(reports)
        .salt("mytool-tests")
        .env(Env::from_vars([("MYTOOL_TELEMETRY_ENDPOINT", endpoint)]))
        .paths(tool.consent(), tool.data())
        .detached_upload(false)
        .init()
}

fn counts_path(tool: &Tool) -> PathBuf {
    tool.data().join("report/counts.json")
}

/// Every count in the counts file.
fn counted(tool: &Tool) -> u64 {
    let Ok(text) = std::fs::read_to_string(counts_path(tool)) else {
        return 0;
    };
    let counts: serde_json::Value = serde_json::from_str(&text).unwrap();
    counts["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["counters"].as_array().unwrap())
        .map(|c| c["count"].as_u64().unwrap())
        .sum()
}

/// Moves every week in the counts file to one that is over, as a run of
/// an earlier week would have left it.
fn age_the_counts(tool: &Tool) {
    set_week(tool, &past_week());
}

/// Sets every week in the counts file to `week`.
fn set_week(tool: &Tool, week: &str) {
    let path = counts_path(tool);
    let mut counts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for section in counts["sections"].as_array_mut().unwrap() {
        section["week"] = week.into();
    }
    std::fs::write(&path, counts.to_string()).unwrap();
}

/// The reports a collector received.
fn reports_received(server: &Server) -> Vec<serde_json::Value> {
    server
        .requests()
        .iter()
        .filter(|r| r.path != "/mark")
        .flat_map(|r| serde_json::from_slice::<Vec<serde_json::Value>>(&r.body).unwrap())
        .filter(|r| r.get("report").is_some())
        .collect()
}

#[test]
fn a_run_counts_in_memory_and_keeps_nothing_finer_than_the_week() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let endpoint = format!("{}/v1/events", server.url);
    let telemetry = handle(&tool, &endpoint, Reports::weekly());
    assert!(telemetry.is_enabled());
    for _ in 0..3 {
        telemetry.record(Build {
            outcome: Outcome::Ok,
            took: Duration::from_millis(1_234),
        });
    }
    telemetry.record(Deploy { release: true });
    // Nothing on disk while the run goes on.
    assert!(!counts_path(&tool).exists());
    drop(telemetry);
    let text = std::fs::read_to_string(counts_path(&tool)).unwrap();
    assert!(
        text.contains(r#"{"event":"build","attrs":{"outcome":"ok","took":"1000"},"count":3}"#),
        "{text}"
    );
    assert!(text.contains(r#"{"event":"deploy","attrs":{"release":"true"},"count":1}"#));
    // No event, no id, no time finer than the week, nothing sent.
    assert!(!tool.spool().exists() && !tool.data().join("events.jsonl").exists());
    for path in crate::support::walk(&tool.data()) {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            !text.contains("machine_id") && !text.contains("T0") && !text.contains("T1"),
            "{}: {text}",
            path.display()
        );
    }
    assert!(server.requests().is_empty());
}

#[test]
fn a_week_that_is_over_goes_as_one_report_with_no_id_and_is_shown() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let endpoint = format!("{}/v1/events", server.url);
    for run in 0..3 {
        let telemetry = handle(&tool, &endpoint, Reports::weekly());
        telemetry.record(Build {
            outcome: if run == 0 {
                Outcome::Failed
            } else {
                Outcome::Ok
            },
            took: Duration::from_millis(40),
        });
    }
    let shown = handle(&tool, &endpoint, Reports::weekly())
        .command(TelemetryCommand::Show {
            catalog: false,
            json: false,
        })
        .to_string();
    assert!(shown.contains("build {outcome=ok, took=10}: 2"), "{shown}");
    assert!(shown.contains("no report sealed yet"), "{shown}");

    age_the_counts(&tool);
    // The first run of a new week seals the last one.
    let telemetry = handle(&tool, &endpoint, Reports::weekly());
    telemetry.record(Deploy { release: false });
    drop(telemetry);
    let telemetry = handle(&tool, &endpoint, Reports::weekly());
    let shown = telemetry
        .command(TelemetryCommand::Show {
            catalog: false,
            json: false,
        })
        .to_string();
    assert!(
        shown.contains(&format!(
            "the last report, for the week of {} (waiting to be sent)",
            past_week()
        )),
        "{shown}"
    );
    assert!(shown.contains("deploy {release=false}: 1"), "{shown}"); // this week's
    telemetry.upload_now().unwrap();

    let reports = reports_received(&server);
    assert_eq!(reports.len(), 1, "{reports:?}");
    let report = &reports[0]["report"];
    assert_eq!(report["week"], past_week());
    assert_eq!(report["tool"], "mytool");
    assert_eq!(report["tool_version"], "1.2.3");
    assert_eq!(report["catalog_version"], 2);
    assert_eq!(report["rate"], 1.0);
    let x = report["x"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&x));
    let counters = report["counters"].as_array().unwrap();
    assert_eq!(counters.len(), 2, "{counters:?}");
    let total: u64 = counters.iter().map(|c| c["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 3);
    let id = reports[0]["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    // Nothing that links it to the machine, or to another report.
    let body = String::from_utf8(server.requests()[0].body.clone()).unwrap();
    assert!(
        !body.contains("machine_id") && !body.contains("\"of\"") && !body.contains("\"at\""),
        "{body}"
    );
    assert!(!body.contains("\"to\""), "{body}");
    let shown = handle(&tool, &endpoint, Reports::weekly())
        .command(TelemetryCommand::Show {
            catalog: false,
            json: false,
        })
        .to_string();
    assert!(
        shown.contains("(handed over (no longer waiting))"),
        "{shown}"
    );
    assert!(shown.contains(id), "{shown}");
}

#[test]
fn a_report_not_sampled_is_never_sent_and_show_says_so() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let endpoint = format!("{}/v1/events", server.url);
    handle(&tool, &endpoint, Reports::weekly().rate(0.0)).record(Deploy { release: true });
    age_the_counts(&tool);
    handle(&tool, &endpoint, Reports::weekly().rate(0.0)).record(Deploy { release: true });
    let telemetry = handle(&tool, &endpoint, Reports::weekly().rate(0.0));
    let shown = telemetry
        .command(TelemetryCommand::Show {
            catalog: false,
            json: false,
        })
        .to_string();
    assert!(shown.contains("(not sampled: nothing was sent)"), "{shown}");
    let _ = telemetry.upload_now();
    assert!(reports_received(&server).is_empty());
}

#[test]
fn disable_deletes_the_counts_and_a_report_not_yet_sent() {
    let tool = Tool::enabled();
    let endpoint = format!("{}/v1/events", crate::loopback::refused_url());
    handle(&tool, &endpoint, Reports::weekly()).record(Deploy { release: true });
    age_the_counts(&tool);
    handle(&tool, &endpoint, Reports::weekly()).record(Deploy { release: true });
    let spooled = std::fs::read_to_string(tool.spool().join("events.jsonl")).unwrap();
    assert!(spooled.contains("\"report\""), "{spooled}");
    assert!(counted(&tool) > 0);
    ConsentStore::at("mytool", tool.consent(), tool.data())
        .disable()
        .unwrap();
    assert!(!tool.spool().exists());
    assert!(!tool.data().join("report").exists());
    // And an off run counts nothing.
    let telemetry = handle(&tool, &endpoint, Reports::weekly());
    assert!(!telemetry.is_enabled());
    telemetry.record(Deploy { release: true });
    drop(telemetry);
    assert!(!tool.data().join("report").exists());
}

/// Runs counting (with a week over to seal) race `disable` + `enable`, or
/// `reset` + `enable`, 200 times: what they counted before the latest
/// opt-in is never in the counts file nor in a report.
#[test]
fn counts_from_before_the_latest_opt_in_are_never_reported_200_times() {
    let (mut counted_after, mut reported) = (0, 0);
    for trial in 0..200 {
        let tool = Tool::enabled();
        let server = Server::start(vec![]);
        let endpoint = format!("{}/v1/events", server.url);
        handle(&tool, &endpoint, Reports::weekly()).record(Deploy { release: true });
        age_the_counts(&tool);
        let store = ConsentStore::at("mytool", tool.consent(), tool.data());
        let runs: Vec<_> = (0..3)
            .map(|_| handle(&tool, &endpoint, Reports::weekly()))
            .collect();
        let start = Arc::new(Barrier::new(4));
        std::thread::scope(|scope| {
            for (i, telemetry) in runs.into_iter().enumerate() {
                let start = Arc::clone(&start);
                scope.spawn(move || {
                    start.wait();
                    std::thread::sleep(Duration::from_micros(300 * i as u64));
                    telemetry.record(Build {
                        outcome: Outcome::Ok,
                        took: Duration::ZERO,
                    });
                    drop(telemetry); // merges, and seals the week that is over
                });
            }
            start.wait();
            std::thread::sleep(Duration::from_micros(200 * (trial % 5)));
            if trial % 2 == 0 {
                store.disable().unwrap();
            } else {
                store.reset().unwrap();
            }
            store.enable().unwrap();
        });
        counted_after += counted(&tool);
        let _ = handle(&tool, &endpoint, Reports::weekly()).upload_now();
        reported += reports_received(&server).len();
    }
    assert_eq!(
        counted_after, 0,
        "counts from before the latest opt-in were kept"
    );
    assert_eq!(
        reported, 0,
        "a report of counts from before the latest opt-in was sent"
    );
}

fn mytool_in(home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(mytool());
    command
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("MYTOOL_TELEMETRY_MODE", "report")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

#[test]
fn eight_processes_of_100_000_counts_each_lose_none() {
    let home = tempfile::tempdir().unwrap();
    assert!(
        mytool_in(home.path(), &["telemetry", "enable"])
            .status()
            .unwrap()
            .success()
    );
    let runs: Vec<_> = (0..8)
        .map(|_| {
            mytool_in(home.path(), &["run", "--repeat", "100000"])
                .spawn()
                .unwrap()
        })
        .collect();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let counts = home
        .path()
        .join(".local/share/mytool/telemetry/report/counts.json");
    let text = std::fs::read_to_string(&counts).unwrap();
    let counts: serde_json::Value = serde_json::from_str(&text).unwrap();
    let total: u64 = counts["sections"][0]["counters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 800_000, "{text}");
    // No event was written, and no machine id derived into any file.
    for path in crate::support::walk(home.path()) {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(!text.contains("machine_id"), "{}", path.display());
    }
}

/// Over OTLP a report is one log record per counter: the event's name,
/// its attrs typed, `rtb.count` and `rtb.rate`, at the week's Monday; the
/// report's id, week and `x` on the resource; no machine id anywhere.
#[test]
fn a_report_over_otlp_is_a_log_record_per_counter_without_an_id() {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use prost::Message as _;

    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let otlp = |reports| {
        Telemetry::builder("mytool", "1.2.3")
            .catalog::<Cat>()
            .reports(reports)
            .env(Env::from_vars([(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                server.url.as_str(),
            )]))
            .paths(tool.consent(), tool.data())
            .detached_upload(false)
            .init()
    };
    let run = otlp(Reports::weekly());
    run.record(Build {
        outcome: Outcome::Ok,
        took: Duration::from_secs(2),
    });
    run.record(Build {
        outcome: Outcome::Ok,
        took: Duration::from_secs(2),
    });
    run.record(Deploy { release: true });
    drop(run);
    age_the_counts(&tool);
    otlp(Reports::weekly()).record(Deploy { release: false }); // seals
    otlp(Reports::weekly()).upload_now().unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/logs");
    let export = ExportLogsServiceRequest::decode(requests[0].body.as_slice()).unwrap();
    assert_eq!(export.resource_logs.len(), 1);
    let resource = export.resource_logs[0].resource.as_ref().unwrap();
    let value = |attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue], key: &str| {
        attrs
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.clone())
    };
    let string = |v: Option<Value>| match v {
        Some(Value::StringValue(s)) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        string(value(&resource.attributes, "rtb.report.week")),
        past_week()
    );
    assert_eq!(
        string(value(&resource.attributes, "rtb.report.id")).len(),
        32
    );
    assert!(
        matches!(value(&resource.attributes, "rtb.report.x"), Some(Value::DoubleValue(x)) if (0.0..1.0).contains(&x))
    );
    assert!(matches!(
        value(&resource.attributes, "rtb.catalog.version"),
        Some(Value::IntValue(2))
    ));
    let logs = &export.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(logs.len(), 2, "one per counter");
    let monday =
        u64::try_from(last_monday().midnight().assume_utc().unix_timestamp_nanos()).unwrap();
    for log in logs {
        assert_eq!(log.time_unix_nano, monday);
        assert_eq!(log.observed_time_unix_nano, monday, "not the upload's time");
        assert!(value(&log.attributes, "machine_id").is_none());
        assert!(
            matches!(value(&log.attributes, "rtb.rate"), Some(Value::DoubleValue(r)) if (r - 1.0).abs() < 1e-9)
        );
    }
    let build = logs.iter().find(|l| l.event_name == "build").unwrap();
    assert!(matches!(
        value(&build.attributes, "rtb.count"),
        Some(Value::IntValue(2))
    ));
    assert!(matches!(
        value(&build.attributes, "took"),
        Some(Value::IntValue(1000))
    ));
    assert_eq!(string(value(&build.attributes, "outcome")), "ok");
    let deploy = logs.iter().find(|l| l.event_name == "deploy").unwrap();
    assert!(matches!(
        value(&deploy.attributes, "release"),
        Some(Value::BoolValue(true))
    ));
}

/// A week over for more than 30 days is dropped unsent; a week ahead of
/// the clock (it went back) is sealed, not kept for ever; counters the
/// catalogue does not declare (a hand-edited file) never go.
#[test]
fn old_weeks_are_dropped_and_only_declared_counters_go() {
    let tool = Tool::enabled();
    let server = Server::start(vec![]);
    let endpoint = format!("{}/v1/events", server.url);
    handle(&tool, &endpoint, Reports::weekly()).record(Deploy { release: true });
    set_week(&tool, "2001-01-01");
    handle(&tool, &endpoint, Reports::weekly()).record(Deploy { release: true });
    let _ = handle(&tool, &endpoint, Reports::weekly()).upload_now();
    assert!(
        reports_received(&server).is_empty(),
        "a week of 2001 was sent"
    );
    assert_eq!(counted(&tool), 1, "this week's count is kept");

    // A week ahead, with a counter no catalogue declares planted in it.
    let path = counts_path(&tool);
    let mut counts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    counts["sections"][0]["week"] = "2999-12-30".into();
    counts["sections"][0]["counters"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"event": "evil", "attrs": {"secret": "hunter2"}, "count": 5}));
    std::fs::write(&path, counts.to_string()).unwrap();
    handle(&tool, &endpoint, Reports::weekly()).record(Deploy { release: false });
    handle(&tool, &endpoint, Reports::weekly())
        .upload_now()
        .unwrap();
    let reports = reports_received(&server);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0]["report"]["week"], "2999-12-30");
    let body = String::from_utf8(server.requests()[0].body.clone()).unwrap();
    assert!(
        !body.contains("hunter2") && !body.contains("evil"),
        "{body}"
    );
}

/// A report the collector did not take goes again with a later run (not a
/// week later), as the same report (the same id), and alone in its request.
#[test]
fn a_report_not_delivered_goes_again_with_a_later_run_alone_and_the_same() {
    let tool = Tool::enabled();
    let down = crate::loopback::refused_url();
    let endpoint = format!("{down}/v1/events");
    handle(&tool, &endpoint, Reports::weekly()).record(Deploy { release: true });
    age_the_counts(&tool);
    let sealing = handle(&tool, &endpoint, Reports::weekly());
    sealing.record(Deploy { release: true });
    drop(sealing);
    let _ = handle(&tool, &endpoint, Reports::weekly()).upload_now(); // refused
    // The collector is back at the same address.
    let server = Server::start_at(&down);
    // An event-mode handle of the same tool spools an event meanwhile.
    let events = Telemetry::builder("mytool", "1.2.3")
        .salt("mytool-tests")
        .env(Env::from_vars([(
            "MYTOOL_TELEMETRY_ENDPOINT",
            endpoint.as_str(),
        )]))
        .paths(tool.consent(), tool.data())
        .detached_upload(false)
        .init();
    events.record("run");
    handle(&tool, &endpoint, Reports::weekly())
        .upload_now()
        .unwrap();
    let requests: Vec<Vec<serde_json::Value>> = server
        .requests()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let with_report: Vec<_> = requests
        .iter()
        .filter(|r| r.iter().any(|rec| rec.get("report").is_some()))
        .collect();
    assert_eq!(with_report.len(), 1, "{requests:?}");
    assert_eq!(with_report[0].len(), 1, "a report goes alone: {requests:?}");
    assert!(requests.iter().flatten().any(|r| r.get("event").is_some()));
}

/// A report an upload could not deliver goes with the next run once an
/// upload is due again, not with next week's: runs in report mode start
/// the uploader too (mytool, detached uploads).
#[test]
fn a_waiting_report_is_uploaded_by_the_next_run_once_due() {
    let home = tempfile::tempdir().unwrap();
    let down = crate::loopback::refused_url();
    let endpoint = format!("{down}/events");
    let run = |args: &[&str]| {
        let out = mytool_in(home.path(), args)
            .env("MYTOOL_TELEMETRY_ENDPOINT", &endpoint)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["telemetry", "enable"]);
    run(&["run"]);
    let data = home.path().join(".local/share/mytool/telemetry");
    let path = data.join("report/counts.json");
    let mut counts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    counts["sections"][0]["week"] = past_week().into();
    std::fs::write(&path, counts.to_string()).unwrap();
    run(&["run"]); // seals; its uploader finds no collector
    let spool = data.join("spool");
    let settled = |spool: &Path| {
        !spool.join("upload.pid").exists()
            && std::fs::read_dir(spool)
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("next-"))
    };
    for _ in 0..200 {
        if settled(&spool) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let waiting = crate::support::walk(&spool)
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .any(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .contains("\"report\"")
        });
    assert!(waiting, "the report waits in the spool");
    // The collector is back, and the backoff is over.
    let server = Server::start_at(&down);
    for entry in std::fs::read_dir(&spool).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("next-") {
            std::fs::rename(entry.path(), spool.join("next-0")).unwrap();
        }
    }
    run(&["run"]);
    for _ in 0..200 {
        if !reports_received(&server).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(reports_received(&server).len(), 1);
}

/// `enable` in report mode shows no anonymous id: none is derived or sent.
#[test]
fn enabling_in_report_mode_shows_no_id() {
    let home = tempfile::tempdir().unwrap();
    let out = mytool_in(home.path(), &["telemetry", "enable"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("telemetry: enabled"), "{said}");
    assert!(!said.contains("anonymous id"), "{said}");
    assert!(said.contains("report mode"), "{said}");
}
