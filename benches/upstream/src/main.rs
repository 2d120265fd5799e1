//! The loop users write — `ctx.record(name).await` inside an `async fn` on a
//! current-thread tokio runtime — for this crate and for upstream
//! rtb-telemetry 0.7.5, into each crate's `NoopSink`. Count instructions
//! with callgrind (see `run.sh`); `MODE 0` gives the start-up cost to
//! subtract.

use std::hint::black_box;
use std::sync::Arc;

#[inline(never)]
async fn baseline(n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        let _ = black_box("build");
        ok += u64::from(std::future::ready(Ok::<(), ()>(())).await.is_ok());
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
        "baseline" => runtime.block_on(baseline(n)),
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
        "upstream" => {
            let ctx = upstream::TelemetryContext::builder()
                .tool("mytool")
                .tool_version("1.2.3")
                .salt("salt")
                .sink(Arc::new(upstream::NoopSink))
                .policy(upstream::CollectionPolicy::Enabled)
                .build();
            runtime.block_on(theirs(&ctx, n))
        }
        other => {
            eprintln!("usage: upstream-comparison baseline|ours|ours_erased|upstream N (got {other:?})");
            std::process::exit(2);
        }
    };
    println!("{mode}: {ok} of {n}");
}
