//! crashy: panics where it is told to, for the panic tests.
//!
//! `crashy enable` opts in; `crashy dependency` panics inside serde_json;
//! `crashy drop` panics again while unwinding (std aborts); with
//! `CRASHY_HOOK_PANICS` set, the tool's own hook panics too.

use rtb_telemetry::Telemetry;
use rtb_telemetry::consent::TelemetryCommand;

fn main() {
    // The tool's own hook, installed before `init()` (as human-panic's
    // would be): telemetry's runs first, then this one.
    std::panic::set_hook(Box::new(|_| {
        eprintln!("crashy: internal error; please report it");
        if std::env::var_os("CRASHY_HOOK_PANICS").is_some() {
            panic!("crashy's own hook failed");
        }
    }));
    let telemetry = Telemetry::builder("crashy", env!("CARGO_PKG_VERSION"))
        .count_panics()
        .init();
    match std::env::args().nth(1).as_deref() {
        Some("enable") => println!("{}", telemetry.command(TelemetryCommand::Enable)),
        Some("dependency") => {
            let mut settings = serde_json::json!(1);
            settings["name"] = serde_json::json!("ada"); // a number is no object
        }
        Some("drop") => {
            struct Cleanup;
            impl Drop for Cleanup {
                fn drop(&mut self) {
                    panic!("cleanup failed while unwinding");
                }
            }
            let _cleanup = Cleanup;
            panic!("the first panic");
        }
        _ => eprintln!("usage: crashy enable|dependency|drop"),
    }
}
