#!/usr/bin/env bash
# A host pinned at clap 4.5.20 adds rtb-telemetry (feature `clap`) and keeps
# clap 4.5.20: resolves, builds, and runs a verb.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../../target}/pinned-host"
rm -f Cargo.lock
cargo generate-lockfile --quiet
version=$(cargo metadata --format-version 1 --quiet | python3 -c '
import json, sys
meta = json.load(sys.stdin)
print(next(p["version"] for p in meta["packages"] if p["name"] == "clap"))')
echo "clap resolved to $version"
[ "$version" = "4.5.20" ] || { echo "FAIL: the host's clap moved to $version" >&2; exit 1; }
cargo build --quiet
# Whole output captured first: `| head -1` would close the pipe under a
# multi-line status and the host's println! would panic on EPIPE.
status=$(HOME=$(mktemp -d) "$CARGO_TARGET_DIR/debug/pinned-host" telemetry status)
echo "${status%%$'\n'*}"
rm -f Cargo.lock
