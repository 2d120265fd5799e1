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

use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use rtb_telemetry::consent::TelemetryCommand;
use rtb_telemetry::{Parsed, Reports, Telemetry};

rtb_telemetry::catalog! {
    /// Everything mytool can send: `mytool telemetry show --catalog` prints it.
    pub catalog Mytool: version 1;

    /// How a command ended.
    pub enum Outcome { Ok = "ok", Failed = "failed" }

    /// How many inputs a command was given.
    pub buckets Inputs = [0, 1, 2, 10, 100];

    value_enum Format;

    /// `mytool run` ended.
    pub event Run = "run" {
        /// How it ended.
        outcome: Outcome,
        /// How long it took.
        duration_ms: Duration,
        /// The output format asked for (`--format`).
        format: Format,
        /// How many inputs it was given, by bucket.
        inputs: Inputs,
        /// Whether `--dry-run` was given.
        dry_run: bool,
    }
}

const NOTICE: &str = "\
mytool can send anonymous usage data (which command ran, how it ended and how long it
took, mytool's version, a salted hash of this machine's id) to help its authors; every
event and value it can send is listed by `mytool telemetry show --catalog`. Nothing is
collected unless you opt in with `mytool telemetry enable`. Details: docs/privacy.md.";

/// `--format`: also a value of the catalogue, named as clap names it.
#[derive(Clone, Copy, Default, ValueEnum)]
pub enum Format {
    /// Lines of text.
    #[default]
    Text,
    /// JSON.
    Json,
}

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
    Run {
        /// How to print the result.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// Say what would be done, do nothing.
        #[arg(long)]
        dry_run: bool,
        /// What to work on (never recorded: only how many, by bucket).
        inputs: Vec<String>,
        /// Record the run this many times (for the tests of many records).
        #[arg(long, default_value_t = 1, hide = true)]
        repeat: u64,
    },
    /// Panic, to see what a panic records (`mytool telemetry show`): where,
    /// never the message.
    Crash {
        /// Panic on this many threads at once (then on the main thread).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
}

fn main() {
    // First thing in `main`: in the detached uploader, this uploads and exits.
    let builder = Telemetry::builder("mytool", env!("CARGO_PKG_VERSION"))
        .catalog::<Mytool>()
        .salt("mytool-telemetry-v1")
        .notice(1, NOTICE);
    // Report mode: a count per week instead of an event per run, no id.
    let telemetry = if std::env::var_os("MYTOOL_TELEMETRY_MODE").is_some_and(|m| m == "report") {
        builder.reports(Reports::weekly())
    } else {
        builder.count_panics()
    }
    .init();
    // `Cli::parse()`; when clap refuses the line or shows help, a
    // `usage_error`/`help` event with clap's error kind (never the
    // arguments); exit codes unchanged.
    let Parsed { cli, .. } = telemetry.parse::<Cli>();
    match cli.command {
        Command::Telemetry(verb) => println!("{}", telemetry.command(verb)),
        Command::Run {
            format,
            dry_run,
            inputs,
            repeat,
        } => {
            for _ in 1..repeat {
                telemetry.record(Run {
                    outcome: Outcome::Ok,
                    duration_ms: Duration::ZERO,
                    format,
                    inputs: Inputs::from(inputs.len()),
                    dry_run,
                });
            }
            let work = telemetry.time(
                || -> Result<(), String> {
                    println!("mytool: working on {} input(s)…", inputs.len());
                    Ok(())
                },
                // Only declared values: the handle accepts nothing else.
                |result, took| Run {
                    outcome: if result.is_ok() {
                        Outcome::Ok
                    } else {
                        Outcome::Failed
                    },
                    duration_ms: took,
                    format,
                    inputs: Inputs::from(inputs.len()),
                    dry_run,
                },
            );
            println!("mytool: {}", if work.is_ok() { "done" } else { "failed" });
        }
        Command::Crash { threads } => crash(threads),
    }
}

/// Panics with a message that names the user's home: telemetry keeps only
/// where (`mytool@<version>/examples/mytool.rs:<line>:<column>`).
fn crash(threads: usize) {
    let home = std::env::var("HOME").unwrap_or_default();
    let start = std::sync::Arc::new(std::sync::Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let start = std::sync::Arc::clone(&start);
            let home = home.clone();
            std::thread::spawn(move || {
                start.wait(); // all at once
                panic!("worker could not read {home}/.config/mytool/input");
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    let path = format!("{home}/.config/mytool/no-such-settings.toml");
    let read = std::fs::read_to_string(&path);
    let _settings = read.unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
}
