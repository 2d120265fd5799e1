#!/usr/bin/env python3
"""What the panic hook adds to a panicking exit, as a user meets it: a
fresh `mytool crash` per sample (release build), start to exit, timed from
outside; telemetry off (undecided: no hook), on with the local file, and
on with a collector (the spool) — interleaved sample by sample, so the
three rows share the machine's noise. Prints medians and quartiles, and
the differences of the medians. Issue 29 asks for at most 5 ms added.

    cargo build --release --all-features --example mytool
    python3 benches/panic_exit.py [SAMPLES]

The collector row points at a port nobody listens on: the first panic
starts the uploader (the hook's one `spawn`), the others find no upload
due, as in a script that crashes in a loop.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
MYTOOL = os.path.join(TARGET, "release", "examples", "mytool")


def run(home, extra=None, args=("crash",)):
    env = {"HOME": home, "PATH": os.environ.get("PATH", "")}
    env.update(extra or {})
    start = time.perf_counter()
    done = subprocess.run([MYTOOL, *args], env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    took = (time.perf_counter() - start) * 1000
    return done.returncode, took


def summary(times):
    q = statistics.quantiles(times, n=4)
    return f"median {statistics.median(times):.2f} ms (quartiles {q[0]:.2f}–{q[2]:.2f})"


def main():
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 101
    with tempfile.TemporaryDirectory() as off, tempfile.TemporaryDirectory() as local, \
            tempfile.TemporaryDirectory() as spool:
        for home in (local, spool):
            run(home, args=("telemetry", "enable"))
        collector = {"MYTOOL_TELEMETRY_ENDPOINT": "http://127.0.0.1:9/events"}
        rows = {"off (no hook)": [], "on, local file": [], "on, collector (spool)": []}
        for _ in range(samples):
            for name, home, extra in (("off (no hook)", off, None),
                                      ("on, local file", local, None),
                                      ("on, collector (spool)", spool, collector)):
                code, took = run(home, extra)
                if code != 101:
                    sys.exit(f"mytool crash exited {code}, not 101 ({name})")
                rows[name].append(took)
        print(f"`mytool crash`, release, {samples} fresh processes each, interleaved:")
        for name, times in rows.items():
            print(f"  {name:24} {summary(times)}")
        base = statistics.median(rows["off (no hook)"])
        for name in ("on, local file", "on, collector (spool)"):
            print(f"  added by telemetry on, the hook included, {name}: "
                  f"{statistics.median(rows[name]) - base:+.2f} ms (medians)")


if __name__ == "__main__":
    main()
