//! A small CLI wired the way a real tool would be: a `telemetry` subcommand
//! (status, enable, disable, reset) and a `run` command that records one
//! event, locally, only when the user has opted in.
//!
//! ```sh
//! cargo run --all-features --example mytool -- telemetry status
//! cargo run --all-features --example mytool -- telemetry enable
//! cargo run --all-features --example mytool -- run
//! MYTOOL_TELEMETRY_DEBUG=1 cargo run --all-features --example mytool -- run   # print, don't write
//! MYTOOL_TELEMETRY_DISABLED=1 cargo run --all-features --example mytool -- telemetry status
//! MYTOOL_TELEMETRY_ENDPOINT=http://127.0.0.1:8080/events cargo run --all-features --example mytool -- run
//! ```
//!
//! With `MYTOOL_TELEMETRY_ENDPOINT` set, events are sent there by an
//! `HttpSink` on a background thread; otherwise they go to a local file.
//! Either way `run` never waits more than about half a second for telemetry.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rtb_telemetry::consent::{ConsentStore, TelemetryCommand};
use rtb_telemetry::remote::HttpSink;
use rtb_telemetry::{Background, FileSink, TelemetryError, erased};

/// The salt that keeps mytool's anonymous ids unlinkable to other tools'.
const SALT: &str = "mytool-telemetry-v1";
const NOTICE_VERSION: u32 = 1;
const NOTICE: &str = "\
mytool can send anonymous usage data (the command name, mytool's version, a
salted hash of this machine's id) to help its authors. Nothing is collected
unless you opt in with `mytool telemetry enable`. Details: docs/privacy.md.";

/// An example tool using rtb-telemetry.
#[derive(Parser)]
#[command(name = "mytool", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show or change whether mytool sends anonymous usage data.
    #[command(subcommand)]
    Telemetry(TelemetryCommand),
    /// Do mytool's work (and record a `run` event if telemetry is on).
    Run,
}

fn main() -> ExitCode {
    // clap prints usage errors and exits with code 2 by itself.
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mytool: {:?}", miette::Report::new(e));
            ExitCode::FAILURE
        }
    }
}

/// Where events go: the endpoint in `MYTOOL_TELEMETRY_ENDPOINT`, or the local
/// file.
fn destination(store: &ConsentStore) -> String {
    std::env::var("MYTOOL_TELEMETRY_ENDPOINT")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| store.events_path().display().to_string())
}

/// The sink for `destination`, chosen at run time, so it is erased.
fn sink_for(
    store: &ConsentStore,
    destination: &str,
) -> Result<Arc<dyn erased::TelemetrySink>, TelemetryError> {
    if destination.starts_with("http://") || destination.starts_with("https://") {
        let http = HttpSink::builder(destination)
            .connect_timeout(Duration::from_millis(300))
            .request_timeout(Duration::from_secs(2))
            .build()?;
        // Bounded: `flush` waits at most 250 ms, exit at most 250 ms more.
        let background = Background::builder(http)
            .flush_deadline(Duration::from_millis(250))
            .drain_deadline(Duration::from_millis(250))
            .spawn()?;
        Ok(Arc::new(background))
    } else {
        Ok(Arc::new(FileSink::new(store.events_path())))
    }
}

fn run(cli: &Cli) -> Result<(), TelemetryError> {
    let store = ConsentStore::new("mytool")?;
    let destination = destination(&store);
    match cli.command {
        Command::Telemetry(verb) => {
            println!("{}", verb.run(&store, SALT, &destination)?);
        }
        Command::Run => {
            store.show_notice_once(NOTICE_VERSION, NOTICE)?;
            println!("mytool: working…");
            // The sink (and, for HTTP, its thread) is made only when
            // telemetry is on: off means nothing at all.
            let sink = if store.effective_policy().policy.is_enabled() {
                sink_for(&store, &destination)?
            } else {
                Arc::new(rtb_telemetry::NoopSink)
            };
            let telemetry = store.context(env!("CARGO_PKG_VERSION"), SALT, sink)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| TelemetryError::io("start a runtime for", "mytool", e))?;
            let sent = runtime.block_on(async {
                telemetry.record("run").await?;
                telemetry.flush().await
            });
            // Telemetry never fails the tool: report and carry on.
            if let Err(e) = sent {
                eprintln!("mytool: telemetry: {e}");
            }
            println!("mytool: done");
        }
    }
    Ok(())
}
