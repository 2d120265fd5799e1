#!/usr/bin/env python3
"""The licences each feature set brings into a host tool's dependency tree
(normal and build dependencies, for Linux, Windows and macOS), checked
against the list in docs/licences.md: CI fails on any licence expression
that is not there.

usage: python3 .ci/licences.py --check      # CI
       python3 .ci/licences.py --write      # rewrite the table in docs/licences.md
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "licences.md")
FEATURES = [
    ("none", []),
    ("`clap`", ["clap"]),
    ("`upload`", ["upload"]),
    ("`http`", ["http"]),
    ("`http`, `otlp`", ["http", "otlp"]),
    ("`native-tls`, `otlp`", ["native-tls", "otlp"]),
]
TARGETS = ["x86_64-unknown-linux-gnu", "x86_64-pc-windows-msvc", "aarch64-apple-darwin"]
BEGIN, END = "<!-- licences:begin -->", "<!-- licences:end -->"


def tree(features, target):
    """Packages a host tool that depends on the crate with `features` gets,
    through normal and build dependencies (the crate's own dev-dependencies,
    which turn on more features in its own workspace, play no part)."""
    with tempfile.TemporaryDirectory() as host:
        with open(os.path.join(host, "Cargo.toml"), "w", encoding="utf-8") as f:
            f.write(
                '[package]\nname = "licence-host"\nversion = "0.0.0"\nedition = "2024"\n'
                "[dependencies]\n"
                f"rtb-telemetry = {{ path = {json.dumps(ROOT)}, default-features = false, "
                f"features = {json.dumps(features)} }}\n[workspace]\n"
            )
        os.mkdir(os.path.join(host, "src"))
        open(os.path.join(host, "src", "main.rs"), "w").close()
        # The crate's own lock: the versions CI tests, as far as they go.
        shutil.copy(os.path.join(ROOT, "Cargo.lock"), host)
        out = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--filter-platform", target],
            cwd=host, check=True, capture_output=True, text=True,
        ).stdout
    meta = json.loads(out)
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = meta["resolve"]["root"]
    seen, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        for dep in nodes[pid]["deps"]:
            kinds = {k["kind"] for k in dep["dep_kinds"]}
            if kinds & {None, "build"}:
                todo.append(dep["pkg"])
    seen.discard(root)
    return [packages[p] for p in seen if packages[p]["name"] != "rtb-telemetry"]


def licences():
    """{feature label: {licence expression: sorted crate names}}"""
    table = {}
    for label, args in FEATURES:
        found = {}
        for target in TARGETS:
            for package in tree(args, target):
                expression = package.get("license") or "(none given)"
                found.setdefault(expression, set()).add(package["name"])
        table[label] = {k: sorted(v) for k, v in found.items()}
    return table


def render(table):
    rows = ["| feature set | licence expression | crates |", "|---|---|---|"]
    for label, found in table.items():
        for expression in sorted(found):
            crates = found[expression]
            shown = ", ".join(crates[:6]) + (f", … ({len(crates)} in all)" if len(crates) > 6 else "")
            rows.append(f"| {label} | `{expression}` | {shown} |")
    return "\n".join(rows)


def allowed(text):
    """The licence expressions the page lists."""
    body = text.split(BEGIN, 1)[1].split(END, 1)[0]
    return set(re.findall(r"^\|[^|]*\| `([^`]+)` \|", body, re.M))


def main():
    table = licences()
    with open(DOC, encoding="utf-8") as f:
        doc = f.read()
    if "--write" in sys.argv:
        before, rest = doc.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        with open(DOC, "w", encoding="utf-8") as f:
            f.write(f"{before}{BEGIN}\n{render(table)}\n{END}{after}")
        print(f"wrote {DOC}")
        return 0
    listed = allowed(doc)
    bad = []
    for label, found in table.items():
        for expression, crates in found.items():
            if expression not in listed:
                bad.append(f"{label}: `{expression}` ({', '.join(crates)})")
    for label, found in table.items():
        print(f"{label}: {len(found)} licence expressions, {sum(len(c) for c in found.values())} crate uses")
    if bad:
        print("FAIL: licences not listed in docs/licences.md:\n  " + "\n  ".join(bad), file=sys.stderr)
        return 1
    print("every licence is listed in docs/licences.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
