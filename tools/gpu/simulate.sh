#!/usr/bin/env bash
# Rehearses a device call here, at no device time: copies what the device tool would send (the
# git working tree: tracked and untracked-not-ignored files, plus .gpu-pack) into a fresh folder,
# without node_modules, hides this machine's node from PATH, and runs tools/gpu/remote.sh there
# with the given steps, OUT=/tmp/fake-out (or $OUT).
#
#   bash tools/gpu/pack.sh && bash tools/gpu/simulate.sh [--smoke] [STEP ...]
#
# --smoke adds, in the copy only, a throwaway vitest test (in the first packages/*/test) and a TS
# bench script, and runs the
# steps `test:gpu-pack-smoke sh:... bench:gpu-pack-smoke-bench.ts` before the given ones: it
# proves that vitest and tsx run on the packed node with the packed node_modules alone.
# Without a GPU here, KILN_REQUIRE_CUDA=1 makes the real CUDA tests fail: that is expected.
# KILN_SIM_PATH_EXTRA=DIR appends DIR to that PATH (a stub compute-sanitizer, say).
# The copy is left in $KILN_SIM_DIR (default /tmp/kiln-gpu-sim) for a look.
set -euo pipefail
ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$ROOT"
SIM=${KILN_SIM_DIR:-/tmp/kiln-gpu-sim}
export OUT=${OUT:-/tmp/fake-out}
SMOKE=0
if [ "${1:-}" = --smoke ]; then SMOKE=1; shift; fi
[ -d .gpu-pack ] || { echo "no .gpu-pack: run bash tools/gpu/pack.sh first" >&2; exit 2; }

rm -rf "$SIM" "$OUT"
mkdir -p "$SIM" "$OUT"
git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  mkdir -p "$SIM/$(dirname "$f")"
  cp -P "$f" "$SIM/$f"
done
cp -a .gpu-pack "$SIM/.gpu-pack"
[ ! -e "$SIM/node_modules" ] || { echo "node_modules travelled?" >&2; exit 1; }

if [ "$SMOKE" = 1 ]; then
  # Inside a vitest project's include (vitest.config.ts: packages/<name>/test/**/*.test.ts).
  SMOKE_DIR=$(cd "$SIM" && ls -d packages/*/test 2>/dev/null | head -1)
  SMOKE_DIR=${SMOKE_DIR:-.}
  cat >"$SIM/$SMOKE_DIR/gpu-pack-smoke.test.ts" <<'EOF'
import { existsSync, lstatSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { expect, test } from "vitest";

test("runs on the packed node", () => {
  expect(process.execPath).toBe(`${process.env.KILN_NODE_DIR ?? "/tmp/kiln-node"}/bin/node`);
  expect(process.env.KILN_REQUIRE_CUDA).toBe("1");
});
test("workspace links are links", () => {
  expect(lstatSync("node_modules/@kiln/native").isSymbolicLink()).toBe(true);
  expect(existsSync("node_modules/@kiln/native/package.json")).toBe(true);
});
test("the packed native addons load", () => {
  const dir = "native/build/Release";
  const addons = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".node")) : [];
  const require = createRequire(import.meta.url);
  for (const f of addons) {
    const m = require(resolve(dir, f));
    console.log(`loaded ${f}: exports ${Object.keys(m).slice(0, 8).join(", ")}`);
    expect(typeof m).toBe("object");
  }
});
test("TypeScript is transformed", () => {
  const n: number = [1, 2, 3].reduce((a, b) => a + b);
  expect(n).toBe(6);
});
EOF
  cat >"$SIM/gpu-pack-smoke-bench.ts" <<'EOF'
import ndarray from "ndarray";
const t0 = performance.now();
const a = ndarray(new Float32Array(1 << 20), [1024, 1024]);
for (let i = 0; i < a.size; i++) a.data[i] = i;
const ms: number = performance.now() - t0;
console.log(`smoke bench: ${a.shape.join("x")} filled in ${ms.toFixed(1)} ms on ${process.execPath} ${process.version}`);
EOF
  set -- test:gpu-pack-smoke "sh:which node && node -e 'console.log(require.resolve(\"vitest/package.json\"))'" \
    bench:gpu-pack-smoke-bench.ts "$@"
fi

# A PATH with everything this machine has except Node.js.
FAKEBIN=$SIM.bin
rm -rf "$FAKEBIN"
mkdir -p "$FAKEBIN"
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
  [ -d "$d" ] || continue
  for f in "$d"/*; do
    b=$(basename "$f")
    case $b in node | nodejs | npm | npx | corepack) continue ;; esac
    [ -e "$FAKEBIN/$b" ] || ln -s "$f" "$FAKEBIN/$b"
  done
done

echo "[simulate] copy in $SIM ($(du -sh "$SIM" | cut -f1)), OUT=$OUT, steps: $*"
rc=0
# remote.sh's own KILN_* settings (KILN_GPU_DEADLINE_S, KILN_UNPACK_WITH, ...) pass through.
mapfile -t PASS < <(env | grep -E '^KILN_' | grep -vE '^KILN_SIM_' || true)
(cd "$SIM" && env -i HOME="$HOME" TERM="${TERM:-dumb}" PATH="$FAKEBIN${KILN_SIM_PATH_EXTRA:+:$KILN_SIM_PATH_EXTRA}" OUT="$OUT" \
  "${PASS[@]}" bash tools/gpu/remote.sh "$@") || rc=$?
echo "[simulate] remote.sh exited $rc; files in $OUT:"
ls -la "$OUT"
exit $rc
