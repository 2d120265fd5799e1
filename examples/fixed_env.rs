//! A tool that resolves its own configuration: the crate reads no variable
//! of the process, only those the tool hands it (`Env::from_vars`). Here,
//! the collector comes from the tool's own setting `FIXED_ENV_COLLECTOR`
//! and the opt-outs are passed through.
//!
//! ```sh
//! cargo run --features http --example fixed_env -- telemetry enable
//! FIXED_ENV_COLLECTOR=http://127.0.0.1:8080/events cargo run --features http --example fixed_env -- run
//! ```

use rtb_telemetry::consent::TelemetryCommand;
use rtb_telemetry::{Env, Telemetry};

fn main() {
    // The tool's own configuration, resolved its own way.
    let collector = std::env::var("FIXED_ENV_COLLECTOR").ok();
    let mut vars: Vec<(String, String)> = ["DO_NOT_TRACK", "FIXED_ENV_TELEMETRY_DISABLED"]
        .iter()
        .filter_map(|name| Some(((*name).to_owned(), std::env::var(name).ok()?)))
        .collect();
    if let Some(url) = collector {
        vars.push(("FIXED_ENV_TELEMETRY_ENDPOINT".to_owned(), url));
    }
    let telemetry = Telemetry::builder("fixed_env", env!("CARGO_PKG_VERSION"))
        .env(Env::from_vars(vars))
        .init();
    if std::env::args().nth(1).as_deref() == Some("telemetry") {
        let verb = match std::env::args().nth(2).as_deref() {
            Some("enable") => TelemetryCommand::Enable,
            Some("disable") => TelemetryCommand::Disable,
            _ => TelemetryCommand::Status,
        };
        println!("{}", telemetry.command(verb));
    } else {
        telemetry.record("run");
        println!("fixed_env: done");
    }
}
