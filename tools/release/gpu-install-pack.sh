#!/usr/bin/env bash
# Packs, here, what the GPU machine needs to install Kiln's tarballs as a user would and run the
# focal loss on CUDA there (tools/release/gpu-install-check.sh, remote.sh's `install-check` step).
# That machine reaches no registry, so everything npm needs travels: the tarballs, npm itself (the
# npm package of this machine's npm version), an npm cache holding every third-party package the
# tarballs depend on, and the consumer script compiled to JavaScript. Run it after
# `bash tools/gpu/pack.sh` (which it adds to) and carry [".gpu-pack"]:
#
#   npm run build && bash tools/gpu/pack.sh && bash tools/release/gpu-install-pack.sh [--no-stage] [--release]
#
#   --no-stage  use the tarballs already in out/release/tarballs
#   --release   stage a KILN_CUDA_ARCHS=release build (stage.mjs checks its GPU code); by default an
#               everyday build is staged (stage.mjs --dev), whose sm_90 code runs on the H200
#
# Writes .gpu-pack/release/: tarballs/*.tar.xz (all but @kiln/native; the npm tarballs with their
# gzip layer recompressed as xz, about half the size for the addons, so that the release and the
# test pack fit one device call's 64 MiB together; gpu-install-check.sh turns them back into .tgz
# files with the same contents), npm.tgz, npm-cache.tar.xz, focal-cuda.js and manifest.txt. Downloads are cached in node_modules/.cache/kiln-gpu-pack.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
STAGE=1
DEV=--dev
while [ $# -gt 0 ]; do
  case $1 in
    --no-stage) STAGE=0 ;;
    --release) DEV= ;;
    *) echo "usage: bash tools/release/gpu-install-pack.sh [--no-stage] [--release]" >&2; exit 2 ;;
  esac
  shift
done
say() { printf '[gpu-install-pack] %s\n' "$*"; }
die() { printf '[gpu-install-pack] ERROR: %s\n' "$*" >&2; exit 1; }

[ -d .gpu-pack ] || die "no .gpu-pack: run 'bash tools/gpu/pack.sh' first (it makes the node binary the GPU machine uses)"
command -v xz >/dev/null || die "xz is not installed"
VERSION=$(node -p "require('./packages/tensor/package.json').version")
NPM_VERSION=$(npm --version)
CACHE=node_modules/.cache/kiln-gpu-pack
DEST=.gpu-pack/release
rm -rf "$DEST" && mkdir -p "$DEST/tarballs" "$CACHE"

[ "$STAGE" = 0 ] || node tools/release/stage.mjs --pack $DEV
for t in out/release/tarballs/*.tgz; do
  [ "$(basename "$t")" = "kiln-native-$VERSION.tgz" ] || cp "$t" "$DEST/tarballs/"
done
ls "$DEST"/tarballs/kiln-cuda-linux-x64-gnu-*.tgz >/dev/null 2>&1 || die "no @kiln/cuda-linux-x64-gnu tarball (was the CUDA addon built?)"

# npm, as the registry ships it (its dependencies are bundled in the tarball)
if [ ! -s "$CACHE/npm-$NPM_VERSION.tgz" ]; then
  say "fetching npm@$NPM_VERSION (npm pack)"
  (cd "$CACHE" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
fi
cp "$CACHE/npm-$NPM_VERSION.tgz" "$DEST/npm.tgz"

# an npm cache that holds what the tarballs need from the registry (and not the tarballs, which
# travel anyway): the registry packages of a scratch install's lockfile, added to an empty cache
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
printf '{ "name": "kiln-gpu-install-pack", "private": true, "type": "module" }\n' >"$TMP/package.json"
(cd "$TMP" && npm install --no-audit --no-fund --loglevel=error "$ROOT/$DEST"/tarballs/*.tgz) ||
  die "npm install of the tarballs failed"
mapfile -t SPECS < <(node -e '
const lock = require(process.argv[1]);
for (const [path, p] of Object.entries(lock.packages))
  if (path && !p.link && !(p.resolved ?? "").startsWith("file:")) console.log(`${path.split("node_modules/").at(-1)}@${p.version}`);' "$TMP/package-lock.json")
say "caching ${#SPECS[@]} registry packages: ${SPECS[*]}"
[ ${#SPECS[@]} -eq 0 ] || npm cache add --cache "$TMP/npm-cache" --loglevel=error "${SPECS[@]}" || die "npm cache add failed"
mkdir -p "$TMP/npm-cache"
tar -C "$TMP" -cf - npm-cache | xz -6 >"$DEST/npm-cache.tar.xz"

# the tarballs travel as xz (see the top); the bytes inside are the published ones
for t in "$DEST"/tarballs/*.tgz; do
  gzip -dc "$t" | xz -9 -T0 >"${t%.tgz}.tar.xz" && rm "$t"
done

# the consumer script, as JavaScript (install-check.sh type-checks it against the published types)
node -e '
const ts = require("typescript"), fs = require("fs");
const src = fs.readFileSync(process.argv[1], "utf8");
const out = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } });
fs.writeFileSync(process.argv[2], out.outputText);' tools/release/consumer/focal-cuda.ts "$DEST/focal-cuda.js"

{
  echo "kiln: $VERSION ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- || echo ', with uncommitted changes')), staged as $([ -n "$DEV" ] && echo "an everyday build (--dev)" || echo "a release build")"
  echo "npm: $NPM_VERSION"
  (cd "$DEST" && du -b tarballs/*.tar.xz npm.tgz npm-cache.tar.xz focal-cuda.js | awk '{ printf "%s %.1f KiB\n", $2, $1 / 1024 }')
} >"$DEST/manifest.txt"
cat "$DEST/manifest.txt" | sed 's/^/[gpu-install-pack] /'
say "$(du -sh "$DEST" | cut -f1) in $DEST; .gpu-pack holds $(du -sh .gpu-pack | cut -f1) in all"
