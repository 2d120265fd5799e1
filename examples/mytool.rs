//! A CLI wired the documented way: one builder chain, the `telemetry` verbs,
//! and a `run` command that records its duration and outcome when the user
//! has opted in. Telemetry never changes its exit code or makes it wait.
//!
//! ```sh
//! cargo run --all-features --example mytool -- telemetry enable   # or status|disable|reset
//! MYTOOL_TELEMETRY_ENDPOINT=http://127.0.0.1:8080/events cargo run --all-features --example mytool -- run
//! ```
//! Also `OTEL_EXPORTER_OTLP_ENDPOINT` (OTLP), `MYTOOL_TELEMETRY_DEBUG=1` (print, don't send),
//! `MYTOOL_TELEMETRY_DISABLED=1` and `DO_NOT_TRACK=1` (off); without an endpoint, a local file.

use clap::{Parser, Subcommand};
use rtb_telemetry::consent::TelemetryCommand;
use rtb_telemetry::{Parsed, Telemetry};

const NOTICE: &str = "\
mytool can send anonymous usage data (the command, its duration, mytool's version, a
salted hash of this machine's id) to help its authors. Nothing is collected unless you
opt in with `mytool telemetry enable`. Details: docs/privacy.md.";

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

fn main() {
    // First thing in `main`: in the detached uploader, this uploads and exits.
    let telemetry = Telemetry::builder("mytool", env!("CARGO_PKG_VERSION"))
        .salt("mytool-telemetry-v1")
        .notice(1, NOTICE)
        .init();
    // `Cli::parse()`, plus the subcommand's name (`command`) and, when
    // clap refuses the line or shows help, a `usage_error`/`help` event
    // with clap's error kind (never the arguments); exit codes unchanged.
    let Parsed { cli, command } = telemetry.parse::<Cli>();
    match cli.command {
        Command::Telemetry(verb) => println!("{}", telemetry.command(verb)),
        Command::Run => {
            let work = telemetry.time(&command, || -> Result<(), String> {
                println!("mytool: working…");
                Ok(())
            });
            println!("mytool: {}", if work.is_ok() { "done" } else { "failed" });
        }
    }
}
