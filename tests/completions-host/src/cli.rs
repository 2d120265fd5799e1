//! The command's definition, shared by `main.rs` and `build.rs` (which
//! includes this file with `#[path]`).

use clap::{Parser, Subcommand};
use rtb_telemetry::consent::TelemetryCommand;

/// A tool whose completions are generated at build time.
#[derive(Parser)]
#[command(name = "completions-host", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Show or change whether this tool sends anonymous usage data.
    #[command(subcommand)]
    Telemetry(TelemetryCommand),
    /// Add a directory.
    Add {
        /// The directory.
        path: String,
    },
}
