//! A tool with no async code at all: no runtime, no clap. It records each
//! command with its duration and outcome, synchronously, and answers the
//! `telemetry` verbs.
//!
//! ```sh
//! cargo run --example sync_tool -- telemetry enable
//! cargo run --example sync_tool -- greet world
//! SYNC_TOOL_TELEMETRY_DEBUG=1 cargo run --example sync_tool -- greet world   # see the event
//! ```

use rtb_telemetry::Telemetry;
use rtb_telemetry::consent::TelemetryCommand;

fn main() {
    // First thing in `main` (see `Telemetry`).
    let telemetry = Telemetry::builder("sync_tool", env!("CARGO_PKG_VERSION"))
        .salt("sync-tool-telemetry-v1")
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["telemetry", verb] => {
            let verb = match *verb {
                "enable" => TelemetryCommand::Enable,
                "disable" => TelemetryCommand::Disable,
                "reset" => TelemetryCommand::Reset,
                "show" => TelemetryCommand::Show,
                _ => TelemetryCommand::Status,
            };
            println!("{}", telemetry.command(verb));
        }
        ["greet", name] => {
            let greeting = telemetry.time("greet", || -> Result<String, String> {
                Ok(format!("hello, {name}"))
            });
            println!("{}", greeting.unwrap_or_else(|e| e));
        }
        _ => {
            telemetry.record("usage");
            eprintln!(
                "usage: sync_tool greet NAME | sync_tool telemetry status|enable|disable|reset|show"
            );
            std::process::exit(2);
        }
    }
}
