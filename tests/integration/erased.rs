//! The erased bridge: the seed's `Arc<dyn …>` shape on top of the static one.

use std::sync::Arc;

use rtb_telemetry::erased::{self, TelemetryContext};
use rtb_telemetry::{CollectionPolicy, MachineId, MemorySink};

use crate::support::{PanicSink, SALT, block_on};

#[test]
fn seed_shaped_code_works_through_the_alias() {
    let memory = MemorySink::new();
    let sink: Arc<dyn erased::TelemetrySink> = Arc::new(memory.clone());
    let ctx: TelemetryContext = TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.0.0")
        .salt(SALT)
        .sink(sink)
        .policy(CollectionPolicy::Enabled)
        .build();
    block_on(async {
        ctx.record("one").await.unwrap();
        ctx.record("two").await.unwrap();
        ctx.flush().await.unwrap();
    });
    let names: Vec<_> = memory.snapshot().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["one", "two"]);
}

#[test]
fn into_erased_keeps_policy_identity_and_sink() {
    let memory = MemorySink::new();
    let typed = rtb_telemetry::TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.0.0")
        .salt(SALT)
        .sink(memory.clone())
        .enabled();
    let erased = typed.clone().into_erased();
    assert!(erased.is_enabled());
    block_on(erased.record("via erased")).unwrap();
    block_on(typed.record("via typed")).unwrap();
    let events = memory.snapshot();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].machine_id, MachineId::derive(SALT));
    assert_eq!(events[0].machine_id, events[1].machine_id);

    let disabled = rtb_telemetry::TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.0.0")
        .sink(PanicSink)
        .disabled()
        .into_erased();
    assert!(!disabled.is_enabled());
    block_on(disabled.record("never")).unwrap();
}

#[test]
fn debug_shows_a_shortened_id_never_the_whole() {
    let ctx = rtb_telemetry::TelemetryContext::builder()
        .tool("mytool")
        .tool_version("1.0.0")
        .salt("s")
        .enabled();
    let shown = format!("{ctx:?}");
    assert!(!shown.contains(ctx.machine_id()), "{shown}");
    assert!(
        shown.contains(&format!("{}…", &ctx.machine_id()[..8])),
        "{shown}"
    );
}
