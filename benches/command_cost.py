#!/usr/bin/env python3
"""What telemetry adds to a command: `mytool run` timed with telemetry off,
and on with a collector that refuses, never answers, or accepts; then 100
runs in a row, as scripts run tools, with what they cost the collector.

    cargo build --release --all-features --example mytool
    python3 benches/command_cost.py [RUNS] [--mytool PATH] [--before PATH]

Prints two Markdown tables: per run, the median and worst milliseconds and
the median's difference from telemetry off; per 100 runs in a row, the
uploader processes started (the spool's `launches` counter; "?" for a build
without it), the HTTP requests and events the collector received (counted
by the collector, after waiting for the uploaders to finish), events per
request, and the mean wall time per run. Every case runs side by side in
this one run, each in a fresh HOME; the collectors listen on 127.0.0.1 only.
With `--before PATH` (another build of mytool, say from an earlier commit),
every case is run for that build too, side by side in the same run (the
100-in-a-row cases interleaved run by run with the others).
"""
import http.server
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import json

MYTOOL = os.path.join(os.path.dirname(__file__), "..", "target", "release", "examples", "mytool")
if "--mytool" in sys.argv:
    MYTOOL = sys.argv[sys.argv.index("--mytool") + 1]
    del sys.argv[sys.argv.index("--mytool") : sys.argv.index("--mytool") + 2]

BEFORE = None
if "--before" in sys.argv:
    BEFORE = sys.argv[sys.argv.index("--before") + 1]
    del sys.argv[sys.argv.index("--before") : sys.argv.index("--before") + 2]

LOCK = threading.Lock()


def serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


class Accept(http.server.BaseHTTPRequestHandler):
    # Each server class counts what it received.
    received = None

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.received is not None:
            with LOCK:
                self.received["requests"] += 1
                try:
                    self.received["events"] += len(json.loads(body))
                except ValueError:
                    pass
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Hang(Accept):
    def do_POST(self):
        time.sleep(120)


def refused_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def runs(env, n, tool=None):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run([tool or MYTOOL, "run"], env=env, stdout=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def setup(port, tool=None):
    home = tempfile.mkdtemp()
    env = {"HOME": home, "PATH": os.environ["PATH"]}
    if port is not None:
        env["MYTOOL_TELEMETRY_ENDPOINT"] = f"http://127.0.0.1:{port}/events"
        subprocess.run([tool or MYTOOL, "telemetry", "enable"], env=env, stdout=subprocess.DEVNULL, check=True)
    return home, env


def spool_of(home):
    return os.path.join(home, ".local", "share", "mytool", "telemetry", "spool")


def in_a_row(cases, n=100):
    """`n` runs in a row for each case, the cases interleaved run by run so
    that the machine's noise falls on all of them alike; then wait until no
    uploader is at work, and read what each case cost."""
    homes = [setup(port, tool) for _, port, _, tool in cases]
    times = [[] for _ in cases]
    for _ in range(n):
        for i, (home, env) in enumerate(homes):
            start = time.perf_counter()
            subprocess.run([cases[i][3], "run"], env=env, stdout=subprocess.DEVNULL, check=True)
            times[i].append((time.perf_counter() - start) * 1000)
    deadline = time.time() + 30
    while time.time() < deadline and any(
        os.path.exists(os.path.join(spool_of(home), "upload.pid")) for home, _ in homes
    ):
        time.sleep(0.05)
    time.sleep(0.5)
    rows = []
    for (label, port, received, _), (home, _), t in zip(cases, homes, times):
        launches = "—"
        if port is not None:
            try:
                with open(os.path.join(spool_of(home), "state.json")) as f:
                    launches = json.load(f).get("launches", "?")
            except (OSError, ValueError):
                launches = "?"
        requests, events = (received["requests"], received["events"]) if received else (0, 0)
        per_request = f"{events / requests:.1f}" if requests else "—"
        rows.append((label, launches, requests, events, per_request, statistics.mean(t), statistics.median(t)))
    return rows


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    cases = [
        ("telemetry off", None),
        ("on, collector refuses", refused_port()),
        ("on, collector accepts and never answers", serve(Hang)),
        ("on, collector up", serve(Accept)),
    ]
    tools = [("", MYTOOL)] + ([("before: ", BEFORE)] if BEFORE else [])
    rows = []
    for label, port in cases:
        for prefix, tool in tools:
            env = {"HOME": tempfile.mkdtemp(), "PATH": os.environ["PATH"]}
            if port is not None:
                env["MYTOOL_TELEMETRY_ENDPOINT"] = f"http://127.0.0.1:{port}/events"
                subprocess.run([tool, "telemetry", "enable"], env=env, stdout=subprocess.DEVNULL, check=True)
            runs(env, 3, tool)  # warm up
            times = runs(env, n, tool)
            rows.append((prefix + label, statistics.median(times), max(times)))
    prefix_of = lambda label: "before: " if label.startswith("before: ") else ""
    base = {prefix_of(r[0]): r[1] for r in rows if r[0].endswith("telemetry off")}
    print("| `mytool run` | median ms | worst ms | over telemetry off (same build) |")
    print("|---|---:|---:|---:|")
    for label, median, worst in rows:
        print(f"| {label} | {median:.1f} | {worst:.1f} | {median - base[prefix_of(label)]:+.1f} |")
    print()
    burst_cases = []
    for prefix, tool in tools:
        counted = {"requests": 0, "events": 0}
        Counting = type("Counting", (Accept,), {"received": counted})
        burst_cases += [
            (prefix + "telemetry off", None, None, tool),
            (prefix + "on, collector up", serve(Counting), counted, tool),
            (prefix + "on, collector refuses", refused_port(), None, tool),
        ]
    burst = in_a_row(burst_cases)
    off = {prefix_of(r[0]): (r[5], r[6]) for r in burst if r[0].endswith("telemetry off")}
    print(
        "| 100 runs in a row | uploaders started | requests | events received | events per request "
        "| mean ms per run | over off | median ms | over off |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, launches, requests, events, per_request, mean, median in burst:
        off_mean, off_median = off[prefix_of(label)]
        print(
            f"| {label} | {launches} | {requests} | {events} | {per_request} | {mean:.2f} | "
            f"{(mean / off_mean - 1) * 100:+.0f} % | {median:.2f} | {(median / off_median - 1) * 100:+.0f} % |"
        )


if __name__ == "__main__":
    main()
