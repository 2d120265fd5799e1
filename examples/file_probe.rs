//! Records N events through a write-through `FileSink`, for counting system
//! calls:
//!
//! ```sh
//! cargo build --release --example file_probe
//! strace -f -c -e trace=openat,write,close,fsync,fdatasync \
//!     target/release/examples/file_probe /tmp/probe/events.jsonl 1000
//! ```
//!
//! Expect one `write` per event, one `openat` of the events file in all, and
//! no `close` until exit. See `docs/zero-cost.md`.

use std::process::ExitCode;

use rtb_telemetry::{CollectionPolicy, FileSink, TelemetryContext};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(n)) = (args.next(), args.next().and_then(|n| n.parse::<u32>().ok()))
    else {
        eprintln!("usage: file_probe PATH EVENTS");
        return ExitCode::from(2);
    };
    let ctx = TelemetryContext::builder()
        .tool("probe")
        .tool_version("1.0.0")
        .salt("probe-salt")
        .sink(FileSink::new(path))
        .policy(CollectionPolicy::Enabled)
        .build();
    for _ in 0..n {
        if let Err(e) = ctx.record("build").await {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
