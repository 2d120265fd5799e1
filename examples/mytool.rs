//! A small CLI wired the way a real tool would be: a `telemetry` subcommand
//! (status, enable, disable, reset) and a `run` command that records one
//! event, locally, only when the user has opted in.
//!
//! ```sh
//! cargo run --all-features --example mytool -- telemetry status
//! cargo run --all-features --example mytool -- telemetry enable
//! cargo run --all-features --example mytool -- run
//! MYTOOL_TELEMETRY_DEBUG=1 cargo run --all-features --example mytool -- run   # print, don't write
//! MYTOOL_TELEMETRY_DISABLED=1 cargo run --all-features --example mytool -- telemetry status
//! MYTOOL_TELEMETRY_ENDPOINT=http://127.0.0.1:8080/events cargo run --all-features --example mytool -- run
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 cargo run --all-features --example mytool -- run
//! ```
//!
//! Where events go, when telemetry is on: `MYTOOL_TELEMETRY_ENDPOINT` (JSON
//! over HTTP, `HttpSink`), else `OTEL_EXPORTER_OTLP_ENDPOINT` and the other
//! standard OTLP variables (`OtlpSink`), else a local file. Remote sinks run
//! on a background thread behind redaction, and `run` never waits more than
//! about half a second for telemetry.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rtb_telemetry::consent::{ConsentStore, TelemetryCommand};
use rtb_telemetry::remote::{HttpSink, OtlpSink};
use rtb_telemetry::{Background, FileSink, Redact, TelemetryError, TelemetrySink, erased};

/// The salt that keeps mytool's anonymous ids unlinkable to other tools'.
const SALT: &str = "mytool-telemetry-v1";
const NOTICE_VERSION: u32 = 1;
const NOTICE: &str = "\
mytool can send anonymous usage data (the command name, mytool's version, a
salted hash of this machine's id) to help its authors. Nothing is collected
unless you opt in with `mytool telemetry enable`. Details: docs/privacy.md.";

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
    Run,
}

fn main() -> ExitCode {
    // clap prints usage errors and exits with code 2 by itself.
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mytool: {:?}", miette::Report::new(e));
            ExitCode::FAILURE
        }
    }
}

/// Where events go, when telemetry is on.
enum Destination {
    Http(String),
    Otlp(OtlpSink),
    File(std::path::PathBuf),
}

impl Destination {
    fn choose(store: &ConsentStore) -> Result<Self, TelemetryError> {
        if let Some(url) = std::env::var("MYTOOL_TELEMETRY_ENDPOINT")
            .ok()
            .filter(|u| !u.is_empty())
        {
            return Ok(Self::Http(url));
        }
        if let Some(otlp) = OtlpSink::from_env(store.env())? {
            return Ok(Self::Otlp(otlp));
        }
        Ok(Self::File(store.events_path()))
    }

    fn describe(&self) -> String {
        match self {
            Self::Http(url) => url.clone(),
            Self::Otlp(otlp) => format!("{} (OTLP)", otlp.endpoint()),
            Self::File(path) => path.display().to_string(),
        }
    }

    /// The sink, chosen at run time, so it is erased.
    fn into_sink(self) -> Result<Arc<dyn erased::TelemetrySink>, TelemetryError> {
        match self {
            Self::Http(url) => {
                let http = HttpSink::builder(url)
                    .connect_timeout(Duration::from_millis(300))
                    .request_timeout(Duration::from_secs(2))
                    .build()?;
                remote(http)
            }
            Self::Otlp(otlp) => remote(otlp),
            Self::File(path) => Ok(Arc::new(FileSink::new(path))),
        }
    }
}

/// A remote sink behind redaction, on a background thread: `flush` waits
/// at most 250 ms, exit at most 250 ms more.
fn remote<S: TelemetrySink + Send + 'static>(
    sink: S,
) -> Result<Arc<dyn erased::TelemetrySink>, TelemetryError> {
    let background = Background::builder(Redact::new(sink))
        .flush_deadline(Duration::from_millis(250))
        .drain_deadline(Duration::from_millis(250))
        .spawn()?;
    Ok(Arc::new(background))
}

fn run(cli: &Cli) -> Result<(), TelemetryError> {
    let store = ConsentStore::new("mytool")?;
    let destination = Destination::choose(&store)?;
    match cli.command {
        Command::Telemetry(verb) => {
            println!("{}", verb.run(&store, SALT, &destination.describe()));
        }
        Command::Run => {
            store.show_notice_once(NOTICE_VERSION, NOTICE)?;
            println!("mytool: working…");
            // The sink (and, for HTTP, its thread) is made only when
            // telemetry is on: off means nothing at all.
            let sink = if store.effective_policy().policy.is_enabled() {
                destination.into_sink()?
            } else {
                Arc::new(rtb_telemetry::NoopSink)
            };
            let telemetry = store.context(env!("CARGO_PKG_VERSION"), SALT, sink);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| TelemetryError::io("start a runtime for", "mytool", e))?;
            let sent = runtime.block_on(async {
                telemetry.record("run").await?;
                telemetry.flush().await
            });
            // Telemetry never fails or nags the tool: failures are shown
            // only in debug mode.
            if let Err(e) = sent
                && store.debug_mode()
            {
                eprintln!("mytool: telemetry: {e}");
            }
            println!("mytool: done");
        }
    }
    Ok(())
}
