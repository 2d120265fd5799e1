//! Cucumber runner for the Gherkin scenarios in `features/`.
//!
//! A `harness = false` test target: it fails the test run when any step
//! fails, is skipped, or has no definition.

#[cfg(feature = "http")]
mod catalog_steps;
mod consent_steps;
#[cfg(feature = "http")]
mod delivery_steps;
#[cfg(feature = "http")]
#[path = "../integration/loopback.rs"]
#[allow(
    dead_code,
    reason = "shared with the integration tests, which use all of it"
)]
mod loopback;
mod steps;

use cucumber::World as _;

#[tokio::main]
async fn main() {
    let features = concat!(env!("CARGO_MANIFEST_DIR"), "/features");
    steps::TelemetryWorld::cucumber()
        // `cargo test <filter>` passes its arguments to every test binary;
        // cucumber's own CLI would reject them, so it is not parsed here.
        .with_default_cli()
        .fail_on_skipped()
        // Features tagged @http need the `http` feature's steps.
        .filter_run_and_exit(features, |feature, _, _| {
            cfg!(feature = "http") || !feature.tags.iter().any(|t| t == "http")
        })
        .await;
}
