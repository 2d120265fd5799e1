//! A probe for instruction counts: calls `record` (or `record_with_attrs`,
//! or `flush`) in a loop on a chosen context, or runs the same loop without
//! the call, either polled by hand or awaited inside an `async fn` on a
//! current-thread tokio runtime (the way users call it).
//!
//! ```sh
//! cargo build --release --example zero_cost_probe
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/zero_cost_probe async/disabled 1000000
//! ```
//!
//! Modes: `poll/{baseline,disabled,runtime_disabled,enabled_noop}` and
//! `async/{baseline,disabled,runtime_disabled,baseline_attrs,disabled_attrs,
//! runtime_disabled_attrs,disabled_flush,runtime_disabled_flush,
//! enabled_noop,erased_noop,baseline_typed,disabled_typed,
//! runtime_disabled_typed,enabled_typed_noop,enabled_attrs_noop}` (the
//! `typed` ones record a declared event of three attrs; `enabled_attrs_noop`
//! the same three attrs by name, in a map built per call), and
//! `sync/{baseline_typed,report_typed}` (the declared event counted by a
//! handle in report mode). The second argument is the number of
//! iterations. See `docs/zero-cost.md` for the method and the figures.

use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use rtb_telemetry::{
    CollectionPolicy, NoopSink, Policy, TelemetryContext, TelemetryError, TelemetrySink, erased,
};

rtb_telemetry::catalog! {
    /// The probe's catalogue.
    pub catalog Probe: version 1;
    /// How it ended.
    pub enum Outcome { Ok = "ok", Failed = "failed" }
    /// A count, by bucket.
    pub buckets Files = [0, 1, 10, 100];
    /// A build ended.
    pub event Build = "build" { outcome: Outcome, files: Files, release: bool }
}

/// The event a typed loop records: its fields from `black_box`, as a
/// caller's values would be.
#[inline]
fn build() -> Build {
    Build {
        outcome: black_box(Outcome::Ok),
        files: Files(black_box(42)),
        release: black_box(true),
    }
}

/// The baseline for a typed record: the caller makes the event either way
/// (its values from `black_box`), and it is dropped before the await.
#[inline(never)]
async fn async_baseline_typed(n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        let _event = build();
        ok += u64::from(
            std::future::ready(Ok::<(), TelemetryError>(()))
                .await
                .is_ok(),
        );
    }
    ok
}

#[inline(never)]
async fn async_record_typed<P: Policy>(ctx: &TelemetryContext<NoopSink, P>, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        ok += u64::from(ctx.record_event(build()).await.is_ok());
    }
    ok
}

/// The same three attrs by name, as `record_with_attrs` takes them.
#[inline(never)]
async fn async_record_same_attrs<P: Policy>(ctx: &TelemetryContext<NoopSink, P>, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        let event = build();
        let attrs = HashMap::from([
            ("outcome".to_owned(), event.outcome.as_str().to_owned()),
            ("files".to_owned(), "10".to_owned()),
            ("release".to_owned(), event.release.to_string()),
        ]);
        ok += u64::from(
            ctx.record_with_attrs(black_box("build"), attrs)
                .await
                .is_ok(),
        );
    }
    ok
}

fn poll_once<F: Future<Output = Result<(), TelemetryError>>>(fut: F) -> bool {
    matches!(
        pin!(fut).poll(&mut Context::from_waker(Waker::noop())),
        Poll::Ready(Ok(()))
    )
}

#[inline(never)]
fn poll_baseline(n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        let _ = black_box("build");
        ok += u64::from(black_box(true));
    }
    ok
}

#[inline(never)]
fn poll_record<P: Policy>(ctx: &TelemetryContext<NoopSink, P>, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        ok += u64::from(black_box(poll_once(ctx.record(black_box("build")))));
    }
    ok
}

/// The loop users write, around a future that is ready at once.
#[inline(never)]
async fn async_baseline(n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        let _ = black_box("build");
        ok += u64::from(
            std::future::ready(Ok::<(), TelemetryError>(()))
                .await
                .is_ok(),
        );
    }
    ok
}

#[inline(never)]
async fn async_record<S: TelemetrySink, P: Policy>(ctx: &TelemetryContext<S, P>, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        ok += u64::from(ctx.record(black_box("build")).await.is_ok());
    }
    ok
}

/// The baseline for `record_with_attrs`: the caller builds a map either
/// way (here an empty one, as `HashMap::new()` in the call would be), and it
/// is dropped before the await.
#[inline(never)]
async fn async_baseline_attrs(n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        let _ = black_box("build");
        drop(HashMap::<String, String>::new());
        ok += u64::from(
            std::future::ready(Ok::<(), TelemetryError>(()))
                .await
                .is_ok(),
        );
    }
    ok
}

#[inline(never)]
async fn async_record_attrs<P: Policy>(ctx: &TelemetryContext<NoopSink, P>, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        ok += u64::from(
            ctx.record_with_attrs(black_box("build"), HashMap::new())
                .await
                .is_ok(),
        );
    }
    ok
}

#[inline(never)]
async fn async_flush<P: Policy>(ctx: &TelemetryContext<NoopSink, P>, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        let _ = black_box("build");
        ok += u64::from(ctx.flush().await.is_ok());
    }
    ok
}

/// The baseline of a report mode's increment: the event made, and dropped.
#[inline(never)]
fn sync_baseline_typed(n: u64) -> u64 {
    for _ in 0..n {
        black_box(build());
    }
    n
}

/// Report mode: the same declared event counted by a `Telemetry` handle
/// (`reports(..)`, telemetry on, so a counter in memory).
#[inline(never)]
fn sync_report_typed(telemetry: &rtb_telemetry::Telemetry<Probe>, n: u64) -> u64 {
    for _ in 0..n {
        telemetry.record(build());
    }
    n
}

/// A handle in report mode, telemetry on, its files in a fresh directory.
fn report_handle(dir: &std::path::Path) -> rtb_telemetry::Telemetry<Probe> {
    let (file, data) = (dir.join("c.json"), dir.join("d"));
    rtb_telemetry::consent::ConsentStore::at("probe", &file, &data)
        .enable()
        .expect("enable");
    rtb_telemetry::Telemetry::builder("probe", "1.0.0")
        .catalog::<Probe>()
        .reports(rtb_telemetry::Reports::weekly())
        .env(rtb_telemetry::Env::from_vars::<_, &str, &str>([]))
        .paths(file, data)
        .init()
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let Some(n) = args.next().and_then(|n| n.parse::<u64>().ok()) else {
        eprintln!("usage: zero_cost_probe MODE ITERATIONS (modes: see the source)");
        return ExitCode::from(2);
    };
    let builder = || {
        TelemetryContext::builder()
            .tool("probe")
            .tool_version("1.0.0")
            .salt("probe-salt")
    };
    let disabled = builder().disabled();
    let runtime_disabled = builder().policy(CollectionPolicy::Disabled).build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let ok = match mode.as_str() {
        "poll/baseline" => poll_baseline(n),
        "poll/disabled" => poll_record(&disabled, n),
        "poll/runtime_disabled" => poll_record(&runtime_disabled, n),
        "poll/enabled_noop" => poll_record(&builder().enabled(), n),
        "async/baseline" => runtime.block_on(async_baseline(n)),
        "async/disabled" => runtime.block_on(async_record(&disabled, n)),
        "async/runtime_disabled" => runtime.block_on(async_record(&runtime_disabled, n)),
        "async/baseline_attrs" => runtime.block_on(async_baseline_attrs(n)),
        "async/disabled_attrs" => runtime.block_on(async_record_attrs(&disabled, n)),
        "async/runtime_disabled_attrs" => {
            runtime.block_on(async_record_attrs(&runtime_disabled, n))
        }
        "async/disabled_flush" => runtime.block_on(async_flush(&disabled, n)),
        "async/runtime_disabled_flush" => runtime.block_on(async_flush(&runtime_disabled, n)),
        "async/enabled_noop" => runtime.block_on(async_record(&builder().enabled(), n)),
        "async/baseline_typed" => runtime.block_on(async_baseline_typed(n)),
        "async/disabled_typed" => runtime.block_on(async_record_typed(&disabled, n)),
        "async/runtime_disabled_typed" => {
            runtime.block_on(async_record_typed(&runtime_disabled, n))
        }
        "async/enabled_typed_noop" => runtime.block_on(async_record_typed(&builder().enabled(), n)),
        "async/enabled_attrs_noop" => {
            runtime.block_on(async_record_same_attrs(&builder().enabled(), n))
        }
        "sync/baseline_typed" => sync_baseline_typed(n),
        "sync/report_typed" => {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let telemetry = report_handle(dir.path());
            assert!(telemetry.is_enabled(), "report mode is on");
            sync_report_typed(&telemetry, n)
        }
        "async/erased_noop" => {
            let ctx: erased::TelemetryContext = builder()
                .sink(Arc::new(NoopSink))
                .policy(CollectionPolicy::Enabled)
                .build();
            runtime.block_on(async_record(&ctx, n))
        }
        other => {
            eprintln!("unknown mode {other:?}");
            return ExitCode::from(2);
        }
    };
    println!("{mode}: {ok} of {n} calls returned Ok");
    ExitCode::SUCCESS
}
