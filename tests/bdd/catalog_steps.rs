//! Steps for `features/catalog.feature`: a tool with a declared catalogue,
//! in a temporary home, against a loopback collector that checks what it
//! receives against the tool's `--json` catalogue.
#![allow(
    clippy::needless_pass_by_value,
    reason = "cucumber hands captured step arguments over by value"
)]

use std::time::Duration;

use cucumber::{given, then, when};
use rtb_telemetry::catalog::{CatalogSpec, Undeclared};
use rtb_telemetry::consent::{ConsentStore, TelemetryCommand};
use rtb_telemetry::{Env, Event, Telemetry};

use crate::loopback::Server;
use crate::steps::TelemetryWorld;

/// What a collector deployed before version 2 knows.
mod v1 {
    rtb_telemetry::catalog! {
        /// deployer's first catalogue.
        pub catalog Deployer: version 1;
        /// Where to.
        pub enum Target { Staging = "staging", Production = "production" }
        /// A deploy ended.
        pub event Deploy = "deploy" { target: Target }
    }
}

rtb_telemetry::catalog! {
    /// deployer's catalogue.
    pub catalog Deployer: version 2;
    /// Where to.
    pub enum Target { Staging = "staging", Production = "production" }
    /// A deploy ended.
    pub event Deploy = "deploy" {
        /// Where it went.
        target: Target,
        /// How long it took.
        took: Duration,
    }
    /// A rollback ran.
    pub event Rollback = "rollback" {}
}

/// The catalogue part of the world.
#[derive(Debug, Default)]
pub(crate) struct CatalogWorld {
    dir: Option<tempfile::TempDir>,
    tool: String,
    server: Option<crate::delivery_steps::ServerHandle>,
    /// What the collector checks against: the tool's own by default.
    collector_knows: Option<CatalogSpec>,
    shown: String,
}

impl CatalogWorld {
    fn run(&self) -> Telemetry<Deployer> {
        let dir = self.dir.as_ref().expect("a Given step").path();
        let mut vars = Vec::new();
        if let Some(server) = &self.server {
            vars.push((
                "DEPLOYER_TELEMETRY_ENDPOINT".to_owned(),
                format!("{}/v1/events", server.url()),
            ));
        }
        Telemetry::builder(&self.tool, "2.0.0")
            .catalog::<Deployer>()
            .env(Env::from_vars(vars))
            .paths(dir.join("config/telemetry.json"), dir.join("data"))
            .detached_upload(false)
            .init()
    }

    fn json_catalogue(&self) -> CatalogSpec {
        let json = self
            .run()
            .command(TelemetryCommand::Show {
                catalog: true,
                json: true,
            })
            .to_string();
        serde_json::from_str(&json).expect("the --json catalogue")
    }

    fn received(&self) -> Vec<Event> {
        let server = self.server.as_ref().expect("a collector");
        server
            .requests()
            .iter()
            .flat_map(|r| {
                serde_json::from_slice::<Vec<serde_json::Value>>(&r.body).expect("a JSON batch")
            })
            .map(|record| serde_json::from_value(record["event"].clone()).expect("an event"))
            .collect()
    }

    /// The collector's check: what it keeps, and what it counts.
    fn checked(&self) -> (Vec<Event>, Vec<Undeclared>) {
        let spec = self
            .collector_knows
            .clone()
            .unwrap_or_else(|| self.json_catalogue());
        let (mut kept, mut counted) = (Vec::new(), Vec::new());
        for mut event in self.received() {
            match spec.filter(&mut event) {
                Ok(dropped) => {
                    counted.extend(dropped);
                    kept.push(event);
                }
                Err(undeclared) => counted.push(undeclared),
            }
        }
        (kept, counted)
    }
}

#[given(expr = "a tool {string} that declares catalogue version {int}")]
fn declares(world: &mut TelemetryWorld, tool: String, version: u32) {
    assert_eq!(
        version,
        <Deployer as rtb_telemetry::catalog::Catalog>::VERSION
    );
    world.catalog = CatalogWorld {
        dir: Some(tempfile::tempdir().expect("a temporary directory")),
        tool,
        ..CatalogWorld::default()
    };
}

#[given("the user has enabled telemetry and a collector is up")]
fn enabled_and_up(world: &mut TelemetryWorld) {
    let dir = world.catalog.dir.as_ref().expect("a Given step").path();
    ConsentStore::at(
        &world.catalog.tool,
        dir.join("config/telemetry.json"),
        dir.join("data"),
    )
    .enable()
    .expect("enable");
    world.catalog.server = Some(crate::delivery_steps::ServerHandle::new(Server::start(
        vec![],
    )));
}

#[given("the collector knows only catalogue version 1")]
fn knows_v1(world: &mut TelemetryWorld) {
    let json = serde_json::to_string(&CatalogSpec::of::<v1::Deployer>()).unwrap();
    world.catalog.collector_knows = Some(serde_json::from_str(&json).unwrap());
}

#[when("the user runs `telemetry show --catalog`")]
fn show_catalog(world: &mut TelemetryWorld) {
    world.catalog.shown = world
        .catalog
        .run()
        .command(TelemetryCommand::Show {
            catalog: true,
            json: false,
        })
        .to_string();
}

#[when(expr = "the tool records a {string} to {string} that took {int} ms")]
fn records_deploy(world: &mut TelemetryWorld, event: String, target: String, ms: u64) {
    assert_eq!(event, "deploy");
    let target = match target.as_str() {
        "staging" => Target::Staging,
        "production" => Target::Production,
        other => panic!("not a declared target: {other}"),
    };
    let telemetry = world.catalog.run();
    telemetry.record(Deploy {
        target,
        took: Duration::from_millis(ms),
    });
    telemetry.upload_now().expect("an upload");
}

#[when(expr = "the tool records a {string}")]
fn records_rollback(world: &mut TelemetryWorld, event: String) {
    assert_eq!(event, "rollback");
    let telemetry = world.catalog.run();
    telemetry.record(Rollback {});
    telemetry.upload_now().expect("an upload");
}

#[then(expr = "it lists the event {string} with attr {string} as {string}")]
fn lists(world: &mut TelemetryWorld, event: String, attr: String, values: String) {
    let shown = &world.catalog.shown;
    let at = shown
        .find(&format!("\n  {event} — "))
        .unwrap_or_else(|| panic!("no event {event} in:\n{shown}"));
    let line = format!("      {attr}: {values}");
    assert!(shown[at..].contains(&line), "{line:?} not in:\n{shown}");
}

#[then("its `--json` form reads back as the tool's catalogue")]
fn json_reads_back(world: &mut TelemetryWorld) {
    let mut expected = CatalogSpec::of::<Deployer>();
    let read = world.catalog.json_catalogue();
    // The crate's own events (clap's refusals, help, version) follow.
    expected
        .events
        .extend(read.events[expected.events.len()..].iter().cloned());
    assert_eq!(read, expected);
    assert_eq!(read.events[0].attrs[0].name, "target");
}

#[then(expr = "the collector receives {int} event marked with catalogue version {int}")]
fn receives(world: &mut TelemetryWorld, n: usize, version: u32) {
    let received = world.catalog.received();
    assert_eq!(received.len(), n, "{received:?}");
    assert!(received.iter().all(|e| e.catalog_version == Some(version)));
}

#[then("checked against the tool's `--json` catalogue, the collector keeps all of it")]
fn keeps_all(world: &mut TelemetryWorld) {
    let (kept, counted) = world.catalog.checked();
    assert!(counted.is_empty(), "{counted:?}");
    assert_eq!(kept, world.catalog.received());
}

#[then(expr = "the collector keeps the {string} without its {string} attr")]
fn keeps_without(world: &mut TelemetryWorld, event: String, attr: String) {
    let (kept, _) = world.catalog.checked();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].name, event);
    assert!(!kept[0].attrs.contains_key(&attr), "{kept:?}");
    assert_eq!(kept[0].attrs["target"], "production");
}

#[then(expr = "the collector counts {int} things it does not know, and refuses nothing")]
fn counts(world: &mut TelemetryWorld, n: usize) {
    let (_, counted) = world.catalog.checked();
    assert_eq!(counted.len(), n, "{counted:?}");
    // Every event reached the collector, and nothing waits or was set
    // aside as refused.
    assert_eq!(world.catalog.received().len(), 2);
    let status = world.catalog.run().status().to_string();
    assert!(
        status.contains("2 events delivered in all")
            && !status.contains("waiting to be sent")
            && !status.contains("refused for good"),
        "{status}"
    );
}
