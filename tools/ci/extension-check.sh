#!/usr/bin/env bash
# Builds the example extension (examples/deform-conv) as a user builds an extension package:
# outside the repository, in a new project that installed Kiln from packed tarballs, with the
# headers, the CMake package and kiln-build-extension of the installed @kiln/native (never this
# repository's paths), then type-checks it and runs its tests there (CPU; the CUDA tests run where
# a GPU is, and skip with the reason elsewhere). CI runs it after the suite (.ci/run); it needs a
# build (npm run build), cmake and a C++ compiler (nvcc where present: the CUDA kernels compile
# too), and the npm registry or npm's cache (typescript, vitest and @types/node for the project).
#
#   bash tools/ci/extension-check.sh [--keep]     --keep: leave the temporary project for a look
#
# Packing: `npm pack` of the workspaces the extension needs. When issue 18's release tools land
# (tools/release/stage.mjs --pack, per-platform addon packages), pack_kiln switches to them and
# KILN_NATIVE_DIR below goes away; until then the installed packages find the addons of this
# repository's build through KILN_NATIVE_DIR (the only thing taken from the repository).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
KEEP=0
[ "${1:-}" = --keep ] && KEEP=1
T0=$SECONDS
say() { printf '[extension-check] %s (%d s)\n' "$*" $((SECONDS - T0)); }
die() { printf '[extension-check] FAILED: %s\n' "$*" >&2; exit 1; }

EXAMPLE=examples/deform-conv
ADDONS=$ROOT/native/build/Release
[ -f "$ADDONS/kiln_cpu.node" ] || die "no $ADDONS/kiln_cpu.node: run npm run build first"
[ -f packages/tensor/dist/index.js ] || die "packages/tensor/dist is not built: run npm run build first"
command -v cmake >/dev/null || die "cmake is not on PATH"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kiln-extension-check-XXXXXX")
case $WORK in "$ROOT"/*) die "the temporary project $WORK is inside the repository" ;; esac
if [ "$KEEP" = 1 ]; then say "keeping $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
TARBALLS=$WORK/tarballs
PROJECT=$WORK/deform-conv
mkdir -p "$TARBALLS" "$PROJECT"

# 1. Kiln's packages as tarballs
pack_kiln() {
  local w
  for w in @kiln/native @kiln/tensor @kiln/autograd @kiln/cuda; do
    npm pack --silent -w "$w" --pack-destination "$TARBALLS" >/dev/null
  done
}
say "packing Kiln's packages"
pack_kiln
ls "$TARBALLS"
tar -tzf "$TARBALLS"/kiln-native-*.tgz >"$WORK/native-files.txt"
for f in include/kiln/extension/abi.h include/kiln/extension.h include/kiln/extension/entry.cc cmake/KilnConfig.cmake build-extension.mjs; do
  grep -qx "package/$f" "$WORK/native-files.txt" || die "the packed @kiln/native lacks $f"
done
! grep -q '^package/build/' "$WORK/native-files.txt" || die "the packed @kiln/native holds a build folder"

# 2. the extension's package, as its author has it (its tracked files), depending on the tarballs
say "copying $EXAMPLE (its files, no build outputs) to $PROJECT"
git ls-files --cached --others --exclude-standard -z -- "$EXAMPLE" | tar --null -T - -cf - | tar -xf - -C "$WORK"
mv "$WORK/$EXAMPLE"/* "$WORK/$EXAMPLE"/.gitignore "$PROJECT"/ && rm -rf "$WORK/examples"
[ ! -e "$PROJECT/build" ] || die "a build folder was copied"
node -e '
  const fs = require("node:fs"), path = require("node:path");
  const [file, tarballs] = process.argv.slice(1);
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
  const tgz = fs.readdirSync(tarballs);
  for (const field of ["dependencies", "devDependencies"])
    for (const name of Object.keys(pkg[field] ?? {})) {
      if (!name.startsWith("@kiln/")) continue;
      const t = tgz.find((f) => f.startsWith(name.slice(1).replace("/", "-") + "-"));
      if (!t) throw new Error("no tarball for " + name);
      pkg[field][name] = "file:" + path.join(tarballs, t);
    }
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
' "$PROJECT/package.json" "$TARBALLS"

say "npm install (Kiln from the tarballs, the rest from the registry or npm's cache)"
(cd "$PROJECT" && npm install --no-audit --no-fund --prefer-offline --loglevel=error)
for p in native tensor autograd cuda; do
  [ -f "$PROJECT/node_modules/@kiln/$p/package.json" ] && [ ! -L "$PROJECT/node_modules/@kiln/$p" ] ||
    die "@kiln/$p is not installed from its tarball in the project"
done

# 3. build, type-check and test there
export KILN_NATIVE_DIR=$ADDONS
say "building the extension (npm run build: kiln-build-extension, then tsc)"
(cd "$PROJECT" && npm run build)
KILN_DIR=$(sed -n 's/^Kiln_DIR:[A-Z]*=//p' "$PROJECT/build/CMakeCache.txt")
[ "$KILN_DIR" = "$PROJECT/node_modules/@kiln/native/cmake" ] || die "CMake found Kiln at '$KILN_DIR', not in the installed @kiln/native"
! grep -rqs -- "$ROOT" "$PROJECT/build/CMakeCache.txt" "$PROJECT"/build/CMakeFiles/*/flags.make ||
  die "the extension's build refers to the repository ($ROOT)"
[ -f "$PROJECT/build/kiln_deform_conv.so" ] || die "no build/kiln_deform_conv.so"
say "type-checking the sources and tests (tsc -p tsconfig.test.json)"
(cd "$PROJECT" && npx tsc -p tsconfig.test.json)
say "running the extension's tests"
(cd "$PROJECT" && NO_COLOR=1 npx vitest run --reporter=default)
say "OK: the example extension builds and passes its tests against the packed Kiln"
