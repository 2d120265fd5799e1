#!/usr/bin/env python3
"""What telemetry adds to a command: `mytool run` timed with telemetry off,
and on with a collector that refuses, never answers, or accepts.

    cargo build --release --all-features --example mytool
    python3 benches/command_cost.py [RUNS]

Prints a Markdown table: median and worst milliseconds, and the median's
difference from telemetry off. Each case runs in a fresh HOME; the
collectors listen on 127.0.0.1 only.
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

MYTOOL = os.path.join(os.path.dirname(__file__), "..", "target", "release", "examples", "mytool")


def serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


class Accept(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
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


def runs(env, n):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run([MYTOOL, "run"], env=env, stdout=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    cases = [
        ("telemetry off", None),
        ("on, collector refuses", refused_port()),
        ("on, collector accepts and never answers", serve(Hang)),
        ("on, collector up", serve(Accept)),
    ]
    rows = []
    for label, port in cases:
        env = {"HOME": tempfile.mkdtemp(), "PATH": os.environ["PATH"]}
        if port is not None:
            env["MYTOOL_TELEMETRY_ENDPOINT"] = f"http://127.0.0.1:{port}/events"
            subprocess.run([MYTOOL, "telemetry", "enable"], env=env, stdout=subprocess.DEVNULL, check=True)
        runs(env, 3)  # warm up
        times = runs(env, n)
        rows.append((label, statistics.median(times), max(times)))
    base = rows[0][1]
    print("| `mytool run` | median ms | worst ms | over telemetry off |")
    print("|---|---:|---:|---:|")
    for label, median, worst in rows:
        print(f"| {label} | {median:.1f} | {worst:.1f} | {median - base:+.1f} |")


if __name__ == "__main__":
    main()
