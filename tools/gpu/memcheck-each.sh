#!/usr/bin/env bash
# Runs test files under compute-sanitizer memcheck, ONE SANITIZER PROCESS PER FILE, several at a
# time. Called by remote.sh's `memcheck-each` step; runs on the GPU machine.
#
#   bash tools/gpu/memcheck-each.sh PATH...      (test files, or folders searched for *.test.ts)
#
# Why per file: the sanitizer instruments each kernel of the 21 MB CUDA addon when it is first
# loaded, and that work is on the CPU, in one thread per process. The whole suite in one process
# did not finish within a device call (600 s); the machine has 16 cores, so files run side by side
# (each with its own CUDA context on the one GPU), the largest first.
#
# Environment:
#   KILN_MEMCHECK_JOBS    files at a time (default 8)
#   KILN_MEMCHECK_LEFT_S  seconds from the start by which every file must have ended (default
#                         540): a file still running then is stopped and reported as unfinished, a
#                         file not started by then as not run, and the report still gets printed
#                         (2026-12-05: 121 files at 15 jobs did not fit 267 s; the old per-file
#                         limit let the whole step run into remote.sh's deadline, which killed it
#                         before any report)
# Prints each file's summary lines (the tail of its log when not clean), one line per file and a total:
#   memcheck-each: 32 files: 32 clean, 0 with errors, 0 failed tests, 0 unfinished, 0 not run | Tests 1403 passed
# Exit status: 0 when every file ran to the end with 0 sanitizer errors and its tests passed.
set -uo pipefail

JOBS=${KILN_MEMCHECK_JOBS:-8}
LEFT=${KILN_MEMCHECK_LEFT_S:-540}
[ $# -gt 0 ] || set -- packages
ALL=$(find "$@" -name node_modules -prune -o -name '*.test.ts' -type f -print | xargs -r ls -S)
[ -n "$ALL" ] || { echo "memcheck-each: no *.test.ts under $*"; exit 2; }
# files that fill the device's memory on purpose run alone, after the others
ALONE=$(printf '%s\n' $ALL | grep '\.whole-device\.test\.ts$' || true)
PARALLEL=$(printf '%s\n' $ALL | grep -v '\.whole-device\.test\.ts$' || true)
FILES="$PARALLEL $ALONE"
LOGS=$(mktemp -d /tmp/kiln-memcheck.XXXX)
GPU_TOOLS=$(cd "$(dirname "$0")" && pwd)
END_AT=$(($(date +%s) + LEFT))
export LOGS LEFT END_AT GPU_TOOLS NO_COLOR=1
unset FORCE_COLOR

one_file() {
  local file=$1 log t0=$SECONDS left
  log="$LOGS/$(printf '%s' "$file" | tr '/' '_').log"
  left=$((END_AT - $(date +%s)))
  if [ "$left" -lt 15 ]; then
    echo "rc=notrun" >"$log"
    return
  fi
  # the sanitizer's options and the one-worker vitest, as remote.sh's memcheck step
  source "$GPU_TOOLS/memcheck-command.sh"
  timeout -k 10 "$left" "${MEMCHECK_VITEST[@]}" "$file" >"$log" 2>&1
  echo "rc=$?" >>"$log"
  echo "seconds=$((SECONDS - t0))" >>"$log"
}
export -f one_file

START=$SECONDS
printf '%s\n' $PARALLEL | xargs -P "$JOBS" -I{} bash -c 'one_file "$@"' _ {}
for file in $ALONE; do one_file "$file"; done

clean=0 dirty=0 failed=0 unfinished=0 notrun=0 passed=0 nfiles=0
report=""
for file in $FILES; do
  log="$LOGS/$(printf '%s' "$file" | tr '/' '_').log"
  nfiles=$((nfiles + 1))
  rc=$(sed -n 's/^rc=//p' "$log" | tail -1)
  secs=$(sed -n 's/^seconds=//p' "$log" | tail -1)
  errors=$(grep -Eo 'ERROR SUMMARY: [0-9]+' "$log" | awk '{ s += $3 } END { print s + 0 }')
  tests=$(grep -E '^[[:space:]]*Tests[[:space:]]' "$log" | tail -1 | sed 's/^ *//')
  n=$(printf '%s' "$tests" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+' || echo 0)
  passed=$((passed + ${n:-0}))
  if [ "$rc" = notrun ]; then
    state="not run (no time left)"; notrun=$((notrun + 1))
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    state=unfinished; unfinished=$((unfinished + 1))
  elif [ "$errors" != 0 ] || [ "$rc" = 86 ]; then
    state="SANITIZER ERRORS ($errors)"; dirty=$((dirty + 1))
  elif [ "$rc" != 0 ]; then
    state="tests failed (rc=$rc)"; failed=$((failed + 1))
  else
    state=clean; clean=$((clean + 1))
  fi
  # A clean file's log is only its summary lines; any other, its tail (the device tool brings back
  # only the last part of long output).
  echo "==================== $file: $state"
  if [ "$state" = clean ]; then grep -E 'ERROR SUMMARY|Test Files|^[[:space:]]*Tests[[:space:]]' "$log"
  else tail -150 "$log"; fi
  report+=$(printf '%-58s %5ss %-24s %s' "$file" "${secs:-?}" "$state" "${tests:-no Tests line}")$'\n'
done
echo
echo "==================== per file ($((SECONDS - START)) s)"
printf '%s' "$report"
echo "memcheck-each: $nfiles files: $clean clean, $dirty with errors, $failed failed tests, $unfinished unfinished, $notrun not run | Tests $passed passed"
[ "$clean" = "$nfiles" ]
