//! A tool with no async code at all: no runtime, no clap. It records each
//! command with its duration and outcome, synchronously, and answers the
//! `telemetry` verbs.
//!
//! ```sh
//! cargo run --example sync_tool -- telemetry enable
//! cargo run --example sync_tool -- greet world
//! SYNC_TOOL_TELEMETRY_DEBUG=1 cargo run --example sync_tool -- greet world   # see the event
//! ```

use std::time::Duration;

use rtb_telemetry::Telemetry;
use rtb_telemetry::consent::TelemetryCommand;

rtb_telemetry::catalog! {
    /// Everything sync_tool can send (`sync_tool telemetry show --catalog`).
    pub catalog SyncTool: version 1;

    /// How a command ended.
    pub enum Outcome { Ok = "ok", Failed = "failed" }

    /// `sync_tool greet` ended (never whom it greeted).
    pub event Greet = "greet" {
        /// How it ended.
        outcome: Outcome,
        /// How long it took.
        duration_ms: Duration,
    }

    /// The command line was not one sync_tool knows (never what it was).
    pub event Usage = "usage" {}
}

fn main() {
    // First thing in `main` (see `Telemetry`).
    let telemetry = Telemetry::builder("sync_tool", env!("CARGO_PKG_VERSION"))
        .catalog::<SyncTool>()
        .salt("sync-tool-telemetry-v1")
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["telemetry", "show", "--catalog", rest @ ..] if matches!(rest, [] | ["--json"]) => {
            let json = !rest.is_empty();
            println!(
                "{}",
                telemetry.command(TelemetryCommand::Show {
                    catalog: true,
                    json,
                })
            );
        }
        ["telemetry", verb] => {
            let verb = match *verb {
                "enable" => TelemetryCommand::Enable,
                "disable" => TelemetryCommand::Disable,
                "reset" => TelemetryCommand::Reset,
                "show" => TelemetryCommand::Show {
                    catalog: false,
                    json: false,
                },
                _ => TelemetryCommand::Status,
            };
            println!("{}", telemetry.command(verb));
        }
        ["greet", name] => {
            let greeting = telemetry.time(
                || -> Result<String, String> { Ok(format!("hello, {name}")) },
                |result, took| Greet {
                    outcome: if result.is_ok() {
                        Outcome::Ok
                    } else {
                        Outcome::Failed
                    },
                    duration_ms: took,
                },
            );
            println!("{}", greeting.unwrap_or_else(|e| e));
        }
        _ => {
            telemetry.record(Usage {});
            eprintln!(
                "usage: sync_tool greet NAME | sync_tool telemetry status|enable|disable|reset|show [--catalog [--json]]"
            );
            std::process::exit(2);
        }
    }
}
