//! Step definitions. The world holds one context in its erased form, so the
//! same steps drive every policy and sink.
#![allow(
    clippy::needless_pass_by_value,
    reason = "cucumber hands captured step arguments over by value"
)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use rtb_telemetry::erased::{self, TelemetryContext};
use rtb_telemetry::{CollectionPolicy, Event, FileSink, MachineId, MemorySink};

const SALT: &str = "rtb-telemetry-bdd";

#[derive(Debug, Default, cucumber::World)]
pub(crate) struct TelemetryWorld {
    ctx: Option<TelemetryContext>,
    memory: MemorySink,
    dir: Option<tempfile::TempDir>,
    file: Option<PathBuf>,
    ids: Vec<String>,
    pub(crate) consent: crate::consent_steps::ConsentWorld,
    #[cfg(feature = "http")]
    pub(crate) delivery: crate::delivery_steps::DeliveryWorld,
    #[cfg(feature = "http")]
    pub(crate) catalog: crate::catalog_steps::CatalogWorld,
}

impl TelemetryWorld {
    fn ctx(&self) -> &TelemetryContext {
        self.ctx
            .as_ref()
            .expect("a Given step builds the context first")
    }

    fn file_events(&self) -> Vec<Event> {
        let path = self.file.as_ref().expect("a file sink");
        std::fs::read_to_string(path)
            .expect("the file exists")
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON event"))
            .collect()
    }
}

fn build(
    how: &str,
    tool: String,
    version: String,
    sink: Arc<dyn erased::TelemetrySink>,
) -> TelemetryContext {
    let builder = TelemetryContext::builder()
        .tool(tool)
        .tool_version(version)
        .sink(sink);
    match how {
        "disabled by the run-time policy" => builder
            .salt(SALT)
            .policy(CollectionPolicy::Disabled)
            .build(),
        "enabled by the run-time policy" => {
            builder.salt(SALT).policy(CollectionPolicy::Enabled).build()
        }
        "built without any policy" => builder.build(),
        "disabled at compile time" => builder.disabled().into_erased(),
        "enabled at compile time" => builder.salt(SALT).enabled().into_erased(),
        other => panic!("unknown way to build a context: {other:?}"),
    }
}

fn table(step: &Step) -> Vec<(String, String)> {
    let table = step.table.as_ref().expect("the step has a table");
    table
        .rows
        .iter()
        .skip(1) // header
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect()
}

fn names(list: &str) -> Vec<String> {
    list.split(", ")
        .map(|n| n.trim_matches('"').to_owned())
        .collect()
}

#[given(
    regex = r#"^a context for tool "([^"]*)" version "([^"]*)" that is (.+) with a memory sink$"#
)]
fn context_with_memory(world: &mut TelemetryWorld, tool: String, version: String, how: String) {
    let sink: Arc<dyn erased::TelemetrySink> = Arc::new(world.memory.clone());
    world.ctx = Some(build(&how, tool, version, sink));
}

#[given(
    regex = r#"^a context for tool "([^"]*)" version "([^"]*)" that is (.+) with a file sink at "([^"]*)"$"#
)]
fn context_with_file(
    world: &mut TelemetryWorld,
    tool: String,
    version: String,
    how: String,
    rel: String,
) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(rel);
    let sink: Arc<dyn erased::TelemetrySink> = Arc::new(FileSink::new(&path));
    world.ctx = Some(build(&how, tool, version, sink));
    world.dir = Some(dir);
    world.file = Some(path);
}

#[when(expr = "the tool records {string}")]
async fn records(world: &mut TelemetryWorld, name: String) {
    world.ctx().record(&name).await.expect("record succeeds");
}

#[when(expr = "the tool records {string} with the attributes")]
async fn records_with_attrs(world: &mut TelemetryWorld, step: &Step, name: String) {
    let attrs = table(step).into_iter().collect();
    world
        .ctx()
        .record_with_attrs(&name, attrs)
        .await
        .expect("record succeeds");
}

#[when("the tool flushes")]
async fn flushes(world: &mut TelemetryWorld) {
    world.ctx().flush().await.expect("flush succeeds");
}

#[when(regex = r#"^the machine id is derived with the salt "([^"]*)"(?: again)?$"#)]
fn derives(world: &mut TelemetryWorld, salt: String) {
    world.ids.push(MachineId::derive(&salt));
}

#[then(regex = r"^the memory sink holds (\d+) events?$")]
fn memory_holds(world: &mut TelemetryWorld, count: usize) {
    assert_eq!(world.memory.len(), count, "{:#?}", world.memory.snapshot());
}

#[then(expr = "event {int} is {string} from tool {string} version {string}")]
fn event_is(world: &mut TelemetryWorld, n: usize, name: String, tool: String, version: String) {
    let event = &world.memory.snapshot()[n - 1];
    assert_eq!(
        (&event.name, &event.tool, &event.tool_version),
        (&name, &tool, &version)
    );
}

#[then(expr = "event {int} carries the salted machine id")]
fn event_has_id(world: &mut TelemetryWorld, n: usize) {
    assert_eq!(
        world.memory.snapshot()[n - 1].machine_id,
        MachineId::derive(SALT)
    );
}

#[then(expr = "event {int} has exactly the attributes")]
fn event_has_attrs(world: &mut TelemetryWorld, step: &Step, n: usize) {
    let expected: HashMap<String, String> = table(step).into_iter().collect();
    assert_eq!(world.memory.snapshot()[n - 1].attrs, expected);
}

#[then(regex = r"^the events are named (.+) in that order$")]
fn events_in_order(world: &mut TelemetryWorld, list: String) {
    let got: Vec<String> = world
        .memory
        .snapshot()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(got, names(&list));
}

#[then(regex = r"^the file holds (\d+) lines?$")]
fn file_holds(world: &mut TelemetryWorld, count: usize) {
    let text = std::fs::read_to_string(world.file.as_ref().expect("a file sink"))
        .expect("the file exists");
    assert!(text.ends_with('\n'), "every line is terminated: {text:?}");
    assert_eq!(text.lines().count(), count, "{text}");
}

#[then("every line is one JSON event")]
fn every_line_parses(world: &mut TelemetryWorld) {
    // `file_events` panics on any line that is not a whole JSON event.
    assert!(!world.file_events().is_empty());
}

#[then(regex = r"^the file's events are named (.+) in that order$")]
fn file_events_in_order(world: &mut TelemetryWorld, list: String) {
    let got: Vec<String> = world.file_events().into_iter().map(|e| e.name).collect();
    assert_eq!(got, names(&list));
}

#[then("both ids are the same 64-character lowercase hex string")]
fn ids_equal(world: &mut TelemetryWorld) {
    let [a, b] = world.ids.as_slice() else {
        panic!("expected two derived ids, got {:?}", world.ids)
    };
    assert_eq!(a, b);
    assert_eq!(a.len(), 64);
    assert!(
        a.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
        "{a}"
    );
}
