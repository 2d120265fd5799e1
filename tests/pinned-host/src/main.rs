//! A host tool pinned at hexyl 0.17's versions, with the telemetry verbs.

use clap::{Parser, Subcommand};
use rtb_telemetry::Telemetry;
use rtb_telemetry::consent::TelemetryCommand;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show or change whether this tool sends anonymous usage data.
    #[command(subcommand)]
    Telemetry(TelemetryCommand),
    /// Greet.
    Greet,
}

fn main() {
    let telemetry = Telemetry::builder("pinned_host", "0.1.0").init();
    match Cli::parse().command {
        Command::Telemetry(verb) => println!("{}", telemetry.command(verb)),
        Command::Greet => println!("hello"),
    }
}
