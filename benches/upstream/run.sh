#!/usr/bin/env bash
# Instructions per `record` (enabled, NoopSink), ours against upstream
# rtb-telemetry 0.7.5, measured side by side with callgrind. Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --locked --quiet
bin="${CARGO_TARGET_DIR:-target}/release/upstream-comparison"
n=${1:-20000}
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
    grep -oE 'Collected : [0-9]+' | grep -oE '[0-9]+'
}
per_call() { echo $(( ($(count "$1" "$n") - $(count "$1" 0)) / n )); }
base=$(per_call baseline)
up_base=$(per_call upstream_baseline)
ours=$(( $(per_call ours) - base ))
erased=$(( $(per_call ours_erased) - base ))
up=$(( $(per_call upstream) - up_base ))
ours_off=$(( $(per_call ours_disabled) - base ))
up_off=$(( $(per_call upstream_disabled) - up_base ))
printf '| per call, over the loop | ours | upstream 0.7.5 |\n|---|---:|---:|\n'
printf '| disabled `record` | %+d | %+d |\n' "$ours_off" "$up_off"
printf '| enabled `record` into `NoopSink`, ours typed | %d | %d |\n' "$ours" "$up"
printf '| enabled, ours `erased::TelemetryContext` | %d | %d |\n' "$erased" "$up"
awk -v o="$ours" -v e="$erased" -v u="$up" 'BEGIN { printf "\nupstream / ours typed = %.2fx; upstream / ours erased = %.2fx\n", u / o, u / e }'
# The targets of issue 12: at least 2x fewer typed, 1.5x fewer erased.
awk -v o="$ours" -v e="$erased" -v u="$up" 'BEGIN {
  if (u < 2 * o) { print "FAIL: typed record is not 2x cheaper than upstream" > "/dev/stderr"; exit 1 }
  if (u < 1.5 * e) { print "FAIL: erased record is not 1.5x cheaper than upstream" > "/dev/stderr"; exit 1 }
}'
