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
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rtb_telemetry::consent::{ConsentStore, TelemetryCommand};
use rtb_telemetry::{FileSink, TelemetryError};

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

fn run(cli: &Cli) -> Result<(), TelemetryError> {
    let store = ConsentStore::new("mytool")?;
    let events = store.events_path();
    match cli.command {
        Command::Telemetry(verb) => {
            println!("{}", verb.run(&store, SALT, &events.display().to_string())?);
        }
        Command::Run => {
            store.show_notice_once(NOTICE_VERSION, NOTICE)?;
            println!("mytool: working…");
            let telemetry =
                store.context(env!("CARGO_PKG_VERSION"), SALT, FileSink::new(&events))?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| TelemetryError::io("start a runtime for", "mytool", e))?;
            runtime.block_on(async {
                telemetry.record("run").await?;
                telemetry.flush().await
            })?;
            println!("mytool: done");
        }
    }
    Ok(())
}
