#!/usr/bin/env python3
"""Turns criterion's estimates from one `cargo bench --bench record` run into
the ratio table of docs/benchmarks.md and the plot docs/benchmarks.png.

    cargo bench --bench record
    python3 benches/report.py            # needs matplotlib for the plot

Ratios compare benchmarks measured side by side in that one run.
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CRITERION = ROOT / "target" / "criterion"


def mean_ns(group, name):
    path = CRITERION / group / name / "new" / "estimates.json"
    with open(path) as f:
        return json.load(f)["mean"]["point_estimate"]


def main():
    r = {n: mean_ns("record", n.replace("/", "_")) for n in [
        "baseline", "disabled", "runtime_disabled", "enabled/noop",
        "enabled/memory", "erased/memory", "seed/memory"]}
    f = {n: mean_ns("file", n) for n in ["record", "record_buffered", "seed_naive"]}

    rows = [
        ("record/baseline", r["baseline"], "1.00× baseline"),
        ("record/disabled", r["disabled"], f"{r['disabled'] / r['baseline']:.2f}× baseline"),
        ("record/runtime_disabled", r["runtime_disabled"],
         f"{r['runtime_disabled'] / r['baseline']:.2f}× baseline"),
        ("record/enabled/noop", r["enabled/noop"], "—"),
        ("record/enabled/memory", r["enabled/memory"],
         f"{r['seed/memory'] / r['enabled/memory']:.2f}× faster than seed/memory"),
        ("record/erased/memory", r["erased/memory"],
         f"{r['seed/memory'] / r['erased/memory']:.2f}× faster than seed/memory"),
        ("record/seed/memory", r["seed/memory"], "the seed's dyn design"),
        ("file/record (write-through)", f["record"],
         f"**{f['seed_naive'] / f['record']:.1f}×** the seed's events/s"),
        ("file/record_buffered (64 KiB)", f["record_buffered"],
         f"**{f['seed_naive'] / f['record_buffered']:.1f}×** the seed's events/s"),
        ("file/seed_naive", f["seed_naive"], "open/append/close in spawn_blocking"),
    ]
    print("| benchmark | mean per event | ratio |")
    print("|---|---:|---|")
    for name, ns, ratio in rows:
        shown = f"{ns:.2f} ns" if ns < 1000 else f"{ns / 1000:.2f} µs"
        print(f"| `{name}` | {shown} | {ratio} |")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed; no plot written", file=sys.stderr)
        return
    names = [n for n, _, _ in rows]
    values = [ns for _, ns, _ in rows]
    fig, ax = plt.subplots(figsize=(9, 4.8))
    colours = ["#888888" if "seed" in n or "baseline" in n else "#2a7ab0" for n in names]
    ax.barh(names[::-1], values[::-1], color=colours[::-1])
    ax.set_xscale("log")
    ax.set_xlabel("mean time per event, ns (log scale) — shorter is faster")
    ax.set_title("rtb-telemetry: record paths and FileSink vs the seed's naive design\n"
                 "(one criterion run; grey = baselines and the seed)")
    for i, v in enumerate(values[::-1]):
        ax.text(v * 1.08, i, f"{v:.1f} ns" if v < 1000 else f"{v / 1000:.2f} µs",
                va="center", fontsize=8)
    fig.tight_layout()
    out = ROOT / "docs" / "benchmarks.png"
    fig.savefig(out, dpi=110)
    print(f"plot written to {out.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
