#!/usr/bin/env bash
# The CPU addon's baseline instruction set (native/CMakeLists.txt's -march) against the
# alternatives, for the loops without a run-time clone: compiles tools/bench/cpu-baseline-isa.cc
# with each -march and the addon's other flags, runs each build three times (best of the three),
# and prints nanoseconds per element side by side.
#
#   bash tools/bench/cpu-baseline-isa.sh [MARCH...]     (default: x86-64 x86-64-v2 x86-64-v3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MARCHES=("$@")
[ ${#MARCHES[@]} -gt 0 ] || MARCHES=(x86-64 x86-64-v2 x86-64-v3)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
grep -m1 'model name' /proc/cpuinfo | sed 's/^.*: /cpu: /'
echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | grep -o -w -E 'sse4_2|avx2|avx512f|f16c' | tr '\n' ' ')"
for m in "${MARCHES[@]}"; do
  g++ -std=c++17 -O3 -march="$m" -fno-math-errno -fopenmp-simd -I"$ROOT/native/include" \
    "$ROOT/tools/bench/cpu-baseline-isa.cc" -o "$TMP/bench-$m" -lm
  for r in 1 2 3; do "$TMP/bench-$m" 2>/dev/null >"$TMP/run-$m-$r"; done
  # best of the three runs, per row
  paste "$TMP"/run-"$m"-* | awk -F'\t' '{ b = $2; for (i = 4; i <= NF; i += 2) if ($i < b) b = $i; print $1 "\t" b }' >"$TMP/best-$m"
done
printf '\n| ns per element (1 thread, 64 Ki elements) |'; for m in "${MARCHES[@]}"; do printf ' %s |' "$m"; done
printf '\n|---|'; for m in "${MARCHES[@]}"; do printf -- '--:|'; done; echo
cut -f1 "$TMP/best-${MARCHES[0]}" | while IFS= read -r name; do
  printf '| %s |' "$name"
  for m in "${MARCHES[@]}"; do printf ' %s |' "$(awk -F'\t' -v n="$name" '$1 == n { print $2 }' "$TMP/best-$m")"; done
  echo
done
