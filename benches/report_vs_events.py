#!/usr/bin/env python3
"""A week of a tool run 50 times a day, in event mode and in report mode:
how many requests, how many bytes sent, and how many records one machine
can be linked by. Measured with the real `mytool` (release build) and a
loopback collector that keeps every request as it arrives.

    cargo build --release --all-features --example mytool
    python3 benches/report_vs_events.py

Event mode: 350 runs (`mytool run` with varied arguments) spool 350
events; each run of a user's week is more than the upload interval (one
minute) after the last, so each event goes in a request of its own: the
requests and bytes are those of the 350 records, each as the one record of
a request (the record's bytes on the wire, plus the request's headers as
the collector received them for the first one). Report mode: the same 350
runs count; the week is then over (the counts file's week set to a past
Monday, as a run of last week left it) and the next run seals it and
starts the uploader, whose one request is what is measured.
"""
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
MYTOOL = os.path.join(TARGET, "release", "examples", "mytool")
RUNS = 50 * 7

REQUESTS = []


class Collector(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        head = self.requestline + "\r\n" + str(self.headers)
        REQUESTS.append((len(head.encode()) + 2, body))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_):
        pass


def mytool(home, args, extra=None):
    env = {"HOME": home, "PATH": os.environ.get("PATH", "")}
    env.update(extra or {})
    subprocess.run([MYTOOL, *args], env=env, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def varied(i):
    """The arguments of run `i`: formats, dry runs and inputs vary."""
    args = ["run", "--format", "json" if i % 3 == 0 else "text"]
    if i % 7 == 0:
        args.append("--dry-run")
    return args + ["in"] * (i % 12)


def wait_for(n, seconds=20):
    deadline = time.time() + seconds
    while len(REQUESTS) < n and time.time() < deadline:
        time.sleep(0.05)
    if len(REQUESTS) < n:
        sys.exit(f"the collector got {len(REQUESTS)} requests, expected {n}")


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = {"MYTOOL_TELEMETRY_ENDPOINT": f"http://127.0.0.1:{server.server_port}/events"}
    data = ".local/share/mytool/telemetry"

    with tempfile.TemporaryDirectory() as home:
        mytool(home, ["telemetry", "enable"])
        for i in range(RUNS):
            mytool(home, varied(i), endpoint)
        wait_for(1)  # the first run's uploader
        time.sleep(2)  # done with what it took
        headers = REQUESTS[0][0]
        # What the upload took, and what waits in the spool for the next.
        records = [r for _, body in REQUESTS for r in json.loads(body)]
        spool = os.path.join(home, data, "spool")
        for name in os.listdir(spool):
            if name.endswith(".jsonl"):
                records += [json.loads(line) for line in open(os.path.join(spool, name))]
        ids = set()
        event_bytes = 0
        for record in records:
            record.pop("to", None)
            wire = json.dumps([record], separators=(",", ":"), ensure_ascii=False)
            event_bytes += headers + len(wire.encode())
            ids.add(record["event"]["machine_id"])
        event_requests = len(records)
        if event_requests != RUNS:
            sys.exit(f"{event_requests} events, expected {RUNS}")

    REQUESTS.clear()
    report = dict(endpoint, MYTOOL_TELEMETRY_MODE="report")
    with tempfile.TemporaryDirectory() as home:
        mytool(home, ["telemetry", "enable"])
        for i in range(RUNS):
            mytool(home, varied(i), report)
        path = os.path.join(home, data, "report/counts.json")
        counts = json.load(open(path))
        for section in counts["sections"]:
            section["week"] = "2026-11-30"
        json.dump(counts, open(path, "w"))
        mytool(home, ["run"], report)  # next week's first run seals the last
        wait_for(1)
        time.sleep(0.5)
        head, body = REQUESTS[0]
        sent = json.loads(body)
        reports = [r for r in sent if "report" in r]
        counted = sum(c["count"] for r in reports for c in r["report"]["counters"])
        if counted != RUNS or len(REQUESTS) != 1:
            sys.exit(f"{len(REQUESTS)} requests counting {counted} runs, expected 1 and {RUNS}")
        report_bytes = head + len(body)
        counters = len(reports[0]["report"]["counters"])

    print(f"A week of {RUNS} runs (50 a day), release mytool, loopback collector:")
    print(f"{'':24}{'events':>12}{'reports':>12}")
    print(f"{'requests':24}{event_requests:>12}{len(REQUESTS):>12}")
    print(f"{'bytes sent':24}{event_bytes:>12,}{report_bytes:>12,}")
    print(f"{'records':24}{event_requests:>12}{len(reports):>12}")
    print(f"{'linkable to one machine':24}{event_requests if len(ids) == 1 else 0:>12}{1:>12}")
    print(f"(the report holds {counters} counters; events carry {len(ids)} machine id)")
    server.shutdown()


if __name__ == "__main__":
    main()
