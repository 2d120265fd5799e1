//! The loop users write — `ctx.record(name).await` inside an `async fn` on a
//! current-thread tokio runtime — for this crate and for upstream
//! rtb-telemetry 0.7.5, into each crate's `NoopSink`. Count instructions
//! with callgrind (see `run.sh`); `MODE 0` gives the start-up cost to
//! subtract. Each crate is measured over its own baseline: the same loop
//! awaiting `ready(Ok(()))` of its own `Result` type.

use std::hint::black_box;
use std::sync::Arc;

/// The same loop around a future that is ready at once, with the
/// `Result` type of the crate measured (its drop is part of the loop).
#[inline(never)]
async fn baseline<E>(n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        let _ = black_box("build");
        ok += u64::from(std::future::ready(Ok::<(), E>(())).await.is_ok());
    }
    ok
}

#[inline(never)]
async fn ours_typed(ctx: &ours::TelemetryContext<ours::NoopSink, ours::Enabled>, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        ok += u64::from(ctx.record(black_box("build")).await.is_ok());
    }
    ok
}

#[inline(never)]
async fn ours_disabled(
    ctx: &ours::TelemetryContext<ours::NoopSink, ours::Disabled>,
    n: u64,
) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        ok += u64::from(ctx.record(black_box("build")).await.is_ok());
    }
    ok
}

#[inline(never)]
async fn ours_erased(ctx: &ours::erased::TelemetryContext, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        ok += u64::from(ctx.record(black_box("build")).await.is_ok());
    }
    ok
}

#[inline(never)]
async fn theirs(ctx: &upstream::TelemetryContext, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        ok += u64::from(ctx.record(black_box("build")).await.is_ok());
    }
    ok
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let n: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let ok = match mode.as_str() {
        "baseline" => runtime.block_on(baseline::<ours::TelemetryError>(n)),
        "upstream_baseline" => runtime.block_on(baseline::<upstream::TelemetryError>(n)),
        "ours" => {
            let ctx = ours::TelemetryContext::builder()
                .tool("mytool")
                .tool_version("1.2.3")
                .salt("salt")
                .enabled();
            runtime.block_on(ours_typed(&ctx, n))
        }
        "ours_erased" => {
            let ctx: ours::erased::TelemetryContext = ours::TelemetryContext::builder()
                .tool("mytool")
                .tool_version("1.2.3")
                .salt("salt")
                .sink(Arc::new(ours::NoopSink))
                .policy(ours::CollectionPolicy::Enabled)
                .build();
            runtime.block_on(ours_erased(&ctx, n))
        }
        "upstream" | "upstream_disabled" => {
            let policy = if mode == "upstream" {
                upstream::CollectionPolicy::Enabled
            } else {
                upstream::CollectionPolicy::Disabled
            };
            let ctx = upstream::TelemetryContext::builder()
                .tool("mytool")
                .tool_version("1.2.3")
                .salt("salt")
                .sink(Arc::new(upstream::NoopSink))
                .policy(policy)
                .build();
            runtime.block_on(theirs(&ctx, n))
        }
        "ours_disabled" => {
            let ctx = ours::TelemetryContext::builder()
                .tool("mytool")
                .tool_version("1.2.3")
                .disabled();
            runtime.block_on(ours_disabled(&ctx, n))
        }
        other => {
            eprintln!("usage: upstream-comparison baseline|ours|ours_erased|upstream N (got {other:?})");
            std::process::exit(2);
        }
    };
    println!("{mode}: {ok} of {n}");
}
