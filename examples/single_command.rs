//! A tool with no subcommands: it prints the number of lines in the FILE
//! given as its one positional argument. The telemetry verbs come as
//! `single_command --telemetry <VERB>`, checked in one line before the
//! arguments are parsed, so its `--help`, its shell completions and the
//! meaning of every argument are what they were without telemetry: a file
//! named `telemetry` or `help` is still counted.
//!
//! ```sh
//! cargo run --features clap --example single_command -- --telemetry enable   # or status|disable|reset
//! cargo run --features clap --example single_command -- Cargo.toml
//! ```

use std::path::PathBuf;

use clap::Parser;
use rtb_telemetry::Telemetry;
use rtb_telemetry::consent::TelemetryCommand;

/// Prints the number of lines in a file.
#[derive(Parser)]
#[command(name = "single_command", version)]
struct Cli {
    /// The file to count the lines of.
    file: PathBuf,
}

fn main() {
    // First thing in `main` (see `Telemetry`).
    let telemetry = Telemetry::builder("single_command", env!("CARGO_PKG_VERSION"))
        .salt("single-command-telemetry-v1")
        // The verbs are `single_command --telemetry <VERB>`: messages say so.
        .verbs_as("single_command --telemetry")
        .init();
    if let Some(verb) = TelemetryCommand::from_args(std::env::args_os()) {
        println!("{}", telemetry.command(verb));
        return;
    }
    let cli = Cli::parse();
    let counted = telemetry.time("count", || {
        std::fs::read_to_string(&cli.file).map(|text| text.lines().count())
    });
    match counted {
        Ok(lines) => println!("{lines}"),
        Err(e) => {
            eprintln!("single_command: {}: {e}", cli.file.display());
            std::process::exit(1);
        }
    }
}
