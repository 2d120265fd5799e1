#!/usr/bin/env bash
# A tool that generates completions in build.rs (rtb-telemetry in its
# [build-dependencies], without `http`) gets the `telemetry` verbs in its
# bash, fish and zsh completions.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../../target}/completions-host"
rm -f Cargo.lock
out=$(cargo build 2>&1) || { echo "$out"; exit 1; }
files=$(echo "$out" | sed -n 's/.*completions: //p')
[ -n "$files" ] || { echo "$out"; echo "FAIL: the build script wrote no completions" >&2; exit 1; }
for file in $files; do
  for word in telemetry enable disable reset status show add; do
    grep -q "$word" "$file" || { echo "FAIL: '$word' is not in $file" >&2; exit 1; }
  done
  echo "ok: $(basename "$file") completes the telemetry verbs"
done
HOME=$(mktemp -d) "$CARGO_TARGET_DIR/debug/completions-host" telemetry status >/dev/null
rm -f Cargo.lock
