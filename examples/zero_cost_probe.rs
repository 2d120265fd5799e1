//! A probe for instruction counts: calls `record` in a loop on a chosen
//! context, or runs the same loop without the call.
//!
//! ```sh
//! cargo build --release --example zero_cost_probe
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/zero_cost_probe disabled 1000000
//! ```
//!
//! Modes: `baseline` (the loop alone), `disabled`, `runtime_disabled`,
//! `enabled_noop`. The second argument is the number of iterations. See
//! `docs/zero-cost.md` for the method and the figures.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::process::ExitCode;
use std::task::{Context, Poll, Waker};

use rtb_telemetry::{CollectionPolicy, Policy, TelemetryContext, TelemetryError};

fn poll_once<F: Future<Output = Result<(), TelemetryError>>>(fut: F) -> bool {
    matches!(
        pin!(fut).poll(&mut Context::from_waker(Waker::noop())),
        Poll::Ready(Ok(()))
    )
}

#[inline(never)]
fn baseline(n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        let _ = black_box("build");
        ok += u64::from(black_box(true));
    }
    ok
}

#[inline(never)]
fn run<P: Policy>(ctx: &TelemetryContext<rtb_telemetry::NoopSink, P>, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        ok += u64::from(black_box(poll_once(ctx.record(black_box("build")))));
    }
    ok
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let Some(n) = args.next().and_then(|n| n.parse::<u64>().ok()) else {
        eprintln!(
            "usage: zero_cost_probe baseline|disabled|runtime_disabled|enabled_noop ITERATIONS"
        );
        return ExitCode::from(2);
    };
    let builder = || {
        TelemetryContext::builder()
            .tool("probe")
            .tool_version("1.0.0")
            .salt("probe-salt")
    };
    let ok = match mode.as_str() {
        "baseline" => baseline(n),
        "disabled" => run(&builder().disabled(), n),
        "runtime_disabled" => run(&builder().policy(CollectionPolicy::Disabled).build(), n),
        "enabled_noop" => run(&builder().enabled(), n),
        other => {
            eprintln!("unknown mode {other:?}");
            return ExitCode::from(2);
        }
    };
    println!("{mode}: {ok} of {n} calls returned Ok");
    ExitCode::SUCCESS
}
