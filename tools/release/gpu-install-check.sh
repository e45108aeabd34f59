#!/usr/bin/env bash
# Runs ON the GPU machine (remote.sh's `install-check` step), from .gpu-pack/release as
# tools/release/gpu-install-pack.sh made it: installs the Kiln tarballs with npm, offline, into a new
# project outside the repository with only node on PATH, then runs the focal loss on CUDA there
# (consumer/focal-cuda.ts): the installed CUDA addon must find the GPU, and the loss and its
# gradient must agree with the CPU's. Rehearse it anywhere: without a GPU it gets as far as the
# focal script, which exits 1 saying why CUDA is unavailable.
#
#   bash tools/release/gpu-install-check.sh [PACK_DIR]     (default .gpu-pack/release)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PACK=$(cd "${1:-$ROOT/.gpu-pack/release}" && pwd)
T0=$SECONDS
say() { printf '[gpu-install-check] %s (%d s)\n' "$1" $((SECONDS - T0)); }
die() { printf '[gpu-install-check] FAILED: %s\n' "$*" >&2; exit 1; }

for f in npm.tgz npm-cache.tar.xz focal-cuda.js manifest.txt; do [ -f "$PACK/$f" ] || die "$PACK/$f is missing (tools/release/gpu-install-pack.sh)"; done
command -v node >/dev/null || die "node is not on PATH"
sed 's/^/[gpu-install-check] pack: /' "$PACK/manifest.txt"

PROJECT=$(mktemp -d "${TMPDIR:-/tmp}/kiln-gpu-install-XXXXXX")
case $PROJECT in "$ROOT"/*) die "the temporary project $PROJECT is inside the repository" ;; esac
trap 'rm -rf "$PROJECT"' EXIT
TOOLS=$PROJECT/.tools
mkdir -p "$TOOLS/bin"
ln -s "$(readlink -f "$(command -v node)")" "$TOOLS/bin/node"
# An .xz file's contents on stdout: with xz where the machine has it, else with python3's lzma.
xz_cat() {
  if command -v xz >/dev/null; then xz -dc "$1"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}
tar -xzf "$PACK/npm.tgz" -C "$TOOLS"                        # $TOOLS/package/bin/npm-cli.js
xz_cat "$PACK/npm-cache.tar.xz" | tar -xf - -C "$TOOLS"     # $TOOLS/npm-cache
for tool in cc gcc g++ c++ clang cmake make nvcc; do
  ! PATH=$TOOLS/bin command -v "$tool" >/dev/null || die "$tool is on the sanitised PATH"
done
# only node on PATH, and nothing that points npm or the loader elsewhere
run() { env -u NODE_PATH -u NODE_OPTIONS -u KILN_NATIVE_DIR -u npm_config_prefix PATH="$TOOLS/bin" "$@"; }

# the tarballs travelled as xz (gpu-install-pack.sh): npm installs them as the .tgz files they were
TARBALLS=$TOOLS/tarballs
mkdir -p "$TARBALLS"
for t in "$PACK"/tarballs/*.tar.xz; do
  xz_cat "$t" | gzip -1 >"$TARBALLS/$(basename "$t" .tar.xz).tgz"
done

say "node $(node --version): npm install --offline of $(ls "$TARBALLS"/*.tgz | wc -l) tarballs into $PROJECT"
printf '{ "name": "kiln-gpu-install-check", "private": true, "type": "module" }\n' >"$PROJECT/package.json"
(cd "$PROJECT" && run node "$TOOLS/package/bin/npm-cli.js" install --offline --cache "$TOOLS/npm-cache" \
  --engine-strict --no-audit --no-fund --loglevel=error "$TARBALLS"/*.tgz) || die "npm install failed"
[ ! -e "$PROJECT/node_modules/@kiln/native" ] || die "@kiln/native was installed (an optional peer: it must not be)"
[ -f "$PROJECT/node_modules/@kiln/cuda-linux-x64-gnu/package.json" ] || die "@kiln/cuda-linux-x64-gnu was not installed"
[ -z "$(find "$PROJECT/node_modules/@kiln" -name build -type d)" ] || die "a build folder appeared under node_modules/@kiln"

say "the focal loss on CUDA and on the CPU (20000 x 80, float32, sum; loss and gradient)"
cp "$PACK/focal-cuda.js" "$PROJECT/"
(cd "$PROJECT" && run node focal-cuda.js) || die "focal-cuda.js failed (above: why)"
say "passed"
