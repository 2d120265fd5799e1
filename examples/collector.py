#!/usr/bin/env python3
"""A minimal collector for rtb-telemetry's JSON delivery: accepts the
uploader's POSTs, keeps each event once (by its id), prints it as a JSON
line, and answers 200. Not for production; a sketch of the other side.

    python3 examples/collector.py [PORT]        # default 8080
    MYTOOL_TELEMETRY_ENDPOINT=http://127.0.0.1:8080/v1/events mytool run
"""
import http.server
import json
import sys

seen = set()


class Collector(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        try:
            records = json.loads(self.rfile.read(length))
        except ValueError:
            self.send_response(400)  # refused for good: the uploader sets it aside
            self.end_headers()
            return
        # [{"id": "...", "event": {...}}, ...]; a week's report (report
        # mode) comes alone as [{"id": "...", "report": {...}}].
        for record in records:
            if record["id"] not in seen:  # a retry resends the same ids
                seen.add(record["id"])
                print(json.dumps(record.get("event") or {"report": record.get("report")}), flush=True)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
http.server.HTTPServer(("127.0.0.1", port), Collector).serve_forever()
