#!/usr/bin/env python3
"""The scrubber's first use as a command-line tool meets it: a fresh
process per sample builds the default scrubber and scrubs one attr
(`examples/scrub_cold_probe.rs`: a path, a name, a secret and an address),
timed inside the process; prints the median and quartiles of many runs.
Criterion's warm loop (`benches/scrub.rs`) hides what a run pays once:
compiling the patterns, the first touch of their code and data.

    cargo build --release --example scrub_cold_probe
    python3 benches/scrub_cold.py [SAMPLES] [--probe PATH] [--before PATH]

`--before` runs another build of the probe (say, of an older commit)
interleaved with this one, sample by sample, for a side-by-side figure.
Issue 28 asks for a median under 0.3 ms.
"""
import os
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def sample(probe):
    out = subprocess.run([probe], check=True, capture_output=True, text=True).stdout
    build, scrub = (int(x) for x in out.split())
    return (build + scrub) / 1e6


def summary(times):
    q = statistics.quantiles(times, n=4)
    return f"median {statistics.median(times):.3f} ms (quartiles {q[0]:.3f}–{q[2]:.3f})"


def main():
    args = sys.argv[1:]
    samples = 101
    probe = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                         "release", "examples", "scrub_cold_probe")
    before = None
    i = 0
    while i < len(args):
        if args[i] == "--probe":
            probe, i = args[i + 1], i + 2
        elif args[i] == "--before":
            before, i = args[i + 1], i + 2
        else:
            samples, i = int(args[i]), i + 1
    now, then = [], []
    for _ in range(samples):
        now.append(sample(probe))
        if before:
            then.append(sample(before))
    print(f"scrubber, cold, {samples} fresh processes: {summary(now)}")
    if before:
        print(f"before ({before}): {summary(then)}")
        print(f"ratio (before / now, medians): {statistics.median(then) / statistics.median(now):.2f}x")


if __name__ == "__main__":
    main()
