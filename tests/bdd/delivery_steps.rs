//! Steps for `features/delivery.feature`: the `Telemetry` handle in a
//! temporary home, against a loopback collector. Each "run" is a fresh
//! handle, as each command is a fresh process.
#![allow(
    clippy::needless_pass_by_value,
    reason = "cucumber hands captured step arguments over by value"
)]

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use cucumber::{given, then, when};
use rtb_telemetry::consent::ConsentStore;
use rtb_telemetry::{Env, Telemetry};

use crate::loopback::{Server, refused_url};
use crate::steps::TelemetryWorld;

/// The delivery part of the world.
#[derive(Debug, Default)]
pub(crate) struct DeliveryWorld {
    dir: Option<tempfile::TempDir>,
    tool: String,
    url: String,
    server: Option<ServerHandle>,
    spool_bytes: Option<u64>,
    debug: bool,
    /// The records `telemetry show` listed, as it printed them.
    shown: Vec<String>,
}

/// `Server` without `Debug`.
pub(crate) struct ServerHandle(Server);

impl ServerHandle {
    pub(crate) fn new(server: Server) -> Self {
        Self(server)
    }

    pub(crate) fn url(&self) -> &str {
        &self.0.url
    }

    pub(crate) fn requests(&self) -> Vec<crate::loopback::Request> {
        self.0.requests()
    }
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.url)
    }
}

impl DeliveryWorld {
    fn path(&self, sub: &str) -> PathBuf {
        self.dir.as_ref().expect("a Given step").path().join(sub)
    }

    /// A fresh handle: one run of the tool.
    fn run(&self) -> Telemetry {
        let endpoint = self.tool_variable("ENDPOINT");
        let mut vars = vec![(endpoint, format!("{}/v1/events", self.url))];
        if self.debug {
            vars.push((self.tool_variable("DEBUG"), "1".to_owned()));
        }
        let mut builder = Telemetry::builder(&self.tool, "1.0.0")
            .salt("bdd-delivery")
            .env(Env::from_vars(vars))
            .paths(self.path("config/telemetry.json"), self.path("data"))
            .detached_upload(false);
        if let Some(bytes) = self.spool_bytes {
            builder = builder.spool_limits(bytes, Duration::from_secs(3600));
        }
        builder.init()
    }

    fn tool_variable(&self, what: &str) -> String {
        format!(
            "{}_TELEMETRY_{what}",
            rtb_telemetry::consent::env_prefix(&self.tool)
        )
    }

    fn spooled_bytes(&self) -> u64 {
        std::fs::read_dir(self.path("data/spool")).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
    }
}

#[given(expr = "telemetry is enabled for {string} with a collector that is {word}")]
fn enabled_with_collector(world: &mut TelemetryWorld, tool: String, state: String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    ConsentStore::at(
        &tool,
        dir.path().join("config/telemetry.json"),
        dir.path().join("data"),
    )
    .enable()
    .expect("enable");
    let (url, server) = if state == "up" {
        let server = Server::start(vec![]);
        (server.url.clone(), Some(ServerHandle(server)))
    } else {
        (refused_url(), None)
    };
    world.delivery = DeliveryWorld {
        dir: Some(dir),
        tool,
        url,
        server,
        ..DeliveryWorld::default()
    };
}

#[given(expr = "the spool may hold {int} bytes")]
fn spool_bound(world: &mut TelemetryWorld, bytes: u64) {
    world.delivery.spool_bytes = Some(bytes);
}

#[when("debug mode is turned on")]
fn debug_on(world: &mut TelemetryWorld) {
    world.delivery.debug = true;
}

#[when(regex = r#"^the tool records "([^"]+)" in (\d+) separate runs?$"#)]
fn records_in_runs(world: &mut TelemetryWorld, name: String, runs: usize) {
    for _ in 0..runs {
        let telemetry = world.delivery.run();
        telemetry.record(&name);
        // What the detached uploader would do after the command.
        let _ = telemetry.upload_now();
    }
}

#[when("the collector comes back")]
fn collector_back(world: &mut TelemetryWorld) {
    // Where it was: events are sent only to the collector they were
    // recorded for.
    let server = Server::start_at(&world.delivery.url);
    world.delivery.server = Some(ServerHandle(server));
}

#[then(expr = "the status says {int} events are waiting to be sent")]
fn waiting(world: &mut TelemetryWorld, n: u64) {
    let status = world.delivery.run().status().to_string();
    assert!(
        status.contains(&format!("waiting to be sent: {n} events")),
        "{status}"
    );
}

#[then("the status names the failed upload")]
fn failed_upload(world: &mut TelemetryWorld) {
    let status = world.delivery.run().status().to_string();
    assert!(status.contains("last upload attempt:"), "{status}");
    assert!(status.contains("stay in the spool"), "{status}");
}

#[then(expr = "the collector has received {int} events, each once")]
fn received(world: &mut TelemetryWorld, n: usize) {
    let server = &world.delivery.server.as_ref().expect("a collector").0;
    let ids: Vec<String> = server
        .requests()
        .iter()
        .flat_map(|r| {
            let records: Vec<serde_json::Value> = serde_json::from_slice(&r.body).unwrap();
            records
                .into_iter()
                .map(|rec| rec["id"].as_str().unwrap().to_owned())
        })
        .collect();
    let distinct: HashSet<_> = ids.iter().collect();
    assert_eq!(ids.len(), n, "{ids:?}");
    assert_eq!(distinct.len(), n, "each once: {ids:?}");
}

#[then("nothing is waiting in the spool")]
fn nothing_waiting(world: &mut TelemetryWorld) {
    assert_eq!(world.delivery.spooled_bytes(), 0);
    let status = world.delivery.run().status().to_string();
    assert!(!status.contains("waiting to be sent"), "{status}");
}

#[then(expr = "the spool holds at most {int} bytes")]
fn spool_at_most(world: &mut TelemetryWorld, bytes: u64) {
    let held = world.delivery.spooled_bytes();
    assert!(held > 0 && held <= bytes, "{held} bytes spooled");
}

#[then("the status says events were dropped because the spool was full")]
fn dropped(world: &mut TelemetryWorld) {
    let status = world.delivery.run().status().to_string();
    assert!(status.contains("because the spool was full"), "{status}");
}

#[then("the status says events go to stderr only")]
fn stderr_only(world: &mut TelemetryWorld) {
    let status = world.delivery.run().status().to_string();
    assert!(status.contains("stderr only"), "{status}");
}

fn show(world: &TelemetryWorld) -> String {
    let report = world
        .delivery
        .run()
        .command(rtb_telemetry::consent::TelemetryCommand::Show {
            catalog: false,
            json: false,
        });
    assert!(report.error().is_none(), "{report}");
    report.to_string()
}

#[then(expr = "`telemetry show` lists {int} waiting events as the collector will receive them")]
fn show_lists(world: &mut TelemetryWorld, n: usize) {
    let shown = show(world);
    assert!(
        shown.contains(&format!("waiting to be sent: {n} events")),
        "{shown}"
    );
    let records: Vec<String> = shown
        .lines()
        .filter(|l| l.starts_with("{\"id\":"))
        .map(str::to_owned)
        .collect();
    assert_eq!(records.len(), n, "{shown}");
    for record in &records {
        let value: serde_json::Value = serde_json::from_str(record).expect("a JSON record");
        assert!(
            value.get("to").is_none(),
            "nothing but what is sent: {record}"
        );
        assert_eq!(
            value["event"]["machine_id"].as_str().map(str::len),
            Some(64)
        );
    }
    world.delivery.shown = records;
}

#[then(regex = r"^`telemetry show` lists an upload that (failed|delivered (\d+) events?)$")]
fn show_log(world: &mut TelemetryWorld, what: String, delivered: String) {
    let shown = show(world);
    let log: Vec<&str> = shown
        .lines()
        .skip_while(|l| !l.starts_with("last uploads (oldest first):"))
        .skip(1)
        .collect();
    let url = format!("{}/v1/events", world.delivery.url);
    let wanted = if what == "failed" {
        ": failed: ".to_owned()
    } else {
        format!(" {delivered} event")
    };
    assert!(
        log.iter().any(|l| l.contains(&url) && l.contains(&wanted)),
        "{wanted:?} in {shown}"
    );
}

#[then("the records `telemetry show` listed reached the collector byte for byte")]
fn shown_were_sent(world: &mut TelemetryWorld) {
    let server = &world.delivery.server.as_ref().expect("a collector").0;
    let bodies: Vec<String> = server
        .requests()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert!(!world.delivery.shown.is_empty());
    for record in &world.delivery.shown {
        assert!(
            bodies.iter().any(|b| b.contains(record.as_str())),
            "{record} not in {bodies:?}"
        );
    }
}

#[then("`telemetry show` lists nothing waiting")]
fn show_nothing(world: &mut TelemetryWorld) {
    let shown = show(world);
    assert!(shown.contains("waiting to be sent: nothing"), "{shown}");
}
