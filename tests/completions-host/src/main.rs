//! The tool itself: the same `Cli` as its build script saw.

mod cli;

use clap::Parser as _;
use rtb_telemetry::Telemetry;

fn main() {
    let telemetry = Telemetry::builder("completions-host", "0.1.0").init();
    match cli::Cli::parse().command {
        cli::Command::Telemetry(verb) => println!("{}", telemetry.command(verb)),
        cli::Command::Add { path } => println!("added {path}"),
    }
}
