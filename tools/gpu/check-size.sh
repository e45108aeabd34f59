#!/usr/bin/env bash
# Sums what a device call would send: the git working tree (tracked files and untracked files that
# git does not ignore, as `git ls-files -co --exclude-standard` lists them), plus the carried paths
# (default: .gpu-pack), against the device tool's 64 MiB limit. Symbolic links count as links.
#
#   bash tools/gpu/check-size.sh [CARRIED_PATH ...]
#
# Prints the total and the largest travelling files; exits 1 when over the limit.
set -euo pipefail
ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$ROOT"
LIMIT=$((64 * 1024 * 1024))
[ $# -gt 0 ] || set -- .gpu-pack

human() { awk -v b="$1" 'BEGIN { printf (b >= 1048576 ? "%.1f MiB" : "%.0f KiB"), (b >= 1048576 ? b / 1048576 : b / 1024) }'; }

LIST=$(mktemp)
trap 'rm -f "$LIST"' EXIT
# "size<TAB>path" for every file that travels; tracked files deleted here are skipped.
git ls-files -co --exclude-standard -z |
  while IFS= read -r -d '' f; do [ -e "$f" ] || [ -L "$f" ] && printf '%s\t%s\n' "$(stat -c %s -- "$f")" "$f"; done >"$LIST" || true
# A shared/ folder inside the checkout travels even where git ignores it.
if [ -d shared ]; then
  git ls-files -oi --exclude-standard -z -- shared |
    while IFS= read -r -d '' f; do printf '%s\t%s\n' "$(stat -c %s -- "$f")" "$f"; done >>"$LIST" || true
fi
TREE=$(awk -F'\t' '{ s += $1 } END { print s + 0 }' "$LIST")
NTREE=$(wc -l <"$LIST")

CARRIED=0
for c in "$@"; do
  if [ -e "$c" ]; then
    s=$(find "$c" \( -type f -o -type l \) -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
    find "$c" \( -type f -o -type l \) -printf '%s\t%p\n' >>"$LIST"
    printf '[size] carried %-22s %10s\n' "$c" "$(human "$s")"
    CARRIED=$((CARRIED + s))
  else
    printf '[size] carried %-22s (missing)\n' "$c"
  fi
done

TOTAL=$((TREE + CARRIED))
printf '[size] working tree: %d files, %s\n' "$NTREE" "$(human "$TREE")"
echo "[size] largest files that would travel:"
# (awk, not head: it reads to the end, so sort never dies of SIGPIPE under pipefail)
sort -t$'\t' -k1,1nr "$LIST" | awk 'NR <= 8' | while IFS=$'\t' read -r s p; do printf '[size]   %10s  %s\n' "$(human "$s")" "$p"; done
printf '[size] total that would travel: %s of 64 MiB (%d bytes)\n' "$(human "$TOTAL")" "$TOTAL"
if [ "$TOTAL" -gt "$LIMIT" ]; then
  echo "[size] ERROR: over the device tool's 64 MiB limit: the call would be refused" >&2
  exit 1
fi
