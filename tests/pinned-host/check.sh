#!/usr/bin/env bash
# A host pinned at hexyl 0.17's versions adds rtb-telemetry (features clap,
# http, otlp) and keeps every pinned version: resolves (cargo would fail on
# a pin it cannot keep), every pin is in the lock as written, builds with
# the crate's MSRV toolchain when rustup can install it, and runs a verb.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../../target}/pinned-host"
rm -f Cargo.lock
cargo generate-lockfile --quiet
cargo metadata --format-version 1 --quiet | python3 -c '
import json, re, sys
meta = json.load(sys.stdin)
pins = {}
for line in open("Cargo.toml"):
    m = re.match(r"^([\w-]+) = (?:\{ version = )?\"=([\d.]+)\"", line)
    if m:
        pins[m.group(1)] = m.group(2)
resolved = {}
for p in meta["packages"]:
    resolved.setdefault(p["name"], set()).add(p["version"])
moved = {n: sorted(resolved.get(n, ())) for n, v in pins.items() if resolved.get(n) != {v}}
print(len(pins), "pins kept,", len(meta["packages"]), "packages in the host tree")
if moved:
    sys.exit(f"FAIL: pins moved or doubled: {moved}")
if len(pins) < 20:
    sys.exit("FAIL: the pins were not read from Cargo.toml")
'
toolchain=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
if rustup toolchain install "$toolchain" --profile minimal >/dev/null 2>&1; then
  cargo "+$toolchain" build --quiet
else
  echo "NOT CHECKED on $toolchain: rustup could not install it; built with the default toolchain" >&2
  cargo build --quiet
fi
# Whole output captured first: `| head -1` would close the pipe under a
# multi-line status and the host's println! would panic on EPIPE.
status=$(HOME=$(mktemp -d) "$CARGO_TARGET_DIR/debug/pinned-host" telemetry status)
echo "${status%%$'\n'*}"
rm -f Cargo.lock
