#!/usr/bin/env bash
# Builds the example extension (examples/deform-conv) as a user builds an extension package:
# outside the repository, in a new project that installed Kiln from the tarballs a release would
# publish (tools/release/stage.mjs --dev --pack, as the install check uses: the CPU and CUDA addons
# come from their prebuilt platform packages), with the headers, the CMake package and
# kiln-build-extension of the installed @kiln/native (never this repository's paths), then
# type-checks it and runs its tests there (CPU; the CUDA tests run where a GPU is, and skip with the
# reason elsewhere). CI runs it after the install check (.ci/run); it needs a build (npm run build),
# cmake and a C++ compiler (nvcc where present: the CUDA kernels compile too), and the npm registry
# or npm's cache (typescript, vitest and @types/node for the project).
#
#   bash tools/ci/extension-check.sh [--no-stage] [--keep]
#
#   --no-stage   use the tarballs already in out/release/tarballs (the install check staged them)
#   --keep       leave the temporary project for a look
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
KEEP=0
STAGE=1
for arg in "$@"; do
  case $arg in
    --keep) KEEP=1 ;;
    --no-stage) STAGE=0 ;;
    *) echo "usage: bash tools/ci/extension-check.sh [--no-stage] [--keep]" >&2; exit 2 ;;
  esac
done
T0=$SECONDS
say() { printf '[extension-check] %s (%d s)\n' "$*" $((SECONDS - T0)); }
die() { printf '[extension-check] FAILED: %s\n' "$*" >&2; exit 1; }

EXAMPLE=examples/deform-conv
VERSION=$(node -p "require('./packages/tensor/package.json').version")
TARBALLS=$ROOT/out/release/tarballs
command -v cmake >/dev/null || die "cmake is not on PATH"
# the addons must come from the installed platform packages, not from a folder named here
unset KILN_NATIVE_DIR

# 1. Kiln's packages as a release publishes them
if [ "$STAGE" = 1 ]; then
  say "staging and packing every public package (tools/release/stage.mjs --dev --pack)"
  node tools/release/stage.mjs --dev --pack
fi
tarball() { echo "$TARBALLS/kiln-$1-$VERSION.tgz"; }
# the packages the example names, and the CPU addon's platform package (@kiln/tensor's optional dependency)
for p in native tensor autograd cuda native-linux-x64-gnu; do
  [ -f "$(tarball "$p")" ] || die "no $(tarball "$p"): run npm run build, then this without --no-stage"
done
NATIVE_FILES=$(tar -tzf "$(tarball native)")
for f in include/kiln/extension/abi.h include/kiln/extension.h include/kiln/extension/entry.cc cmake/KilnConfig.cmake build-extension.mjs; do
  grep -qx "package/$f" <<<"$NATIVE_FILES" || die "the packed @kiln/native lacks $f"
done
! grep -q '^package/build/' <<<"$NATIVE_FILES" || die "the packed @kiln/native holds a build folder"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kiln-extension-check-XXXXXX")
case $WORK in "$ROOT"/*) die "the temporary project $WORK is inside the repository" ;; esac
if [ "$KEEP" = 1 ]; then say "keeping $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
PROJECT=$WORK/deform-conv
mkdir -p "$PROJECT"

# 2. the extension's package, as its author has it (its tracked files), depending on the tarballs
say "copying $EXAMPLE (its files, no build outputs) to $PROJECT"
git ls-files --cached --others --exclude-standard -z -- "$EXAMPLE" | tar --null -T - -cf - | tar -xf - -C "$WORK"
mv "$WORK/$EXAMPLE"/* "$WORK/$EXAMPLE"/.gitignore "$PROJECT"/ && rm -rf "$WORK/examples"
[ ! -e "$PROJECT/build" ] || die "a build folder was copied"
# @kiln/* dependencies point at the tarballs; the platform packages (the addons, optional
# dependencies of @kiln/tensor and @kiln/cuda that the registry would supply) are added beside them
node -e '
  const fs = require("node:fs");
  const [file, tarballs, version] = process.argv.slice(1);
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
  delete pkg.nx;   // how the Kiln repository runs the tests (through its tools): meaningless outside it
  const tgz = (name) => `${tarballs}/${name.slice(1).replace("/", "-")}-${version}.tgz`;
  for (const field of ["dependencies", "devDependencies"])
    for (const name of Object.keys(pkg[field] ?? {})) {
      if (!name.startsWith("@kiln/")) continue;
      if (!fs.existsSync(tgz(name))) throw new Error("no tarball for " + name + ": " + tgz(name));
      pkg[field][name] = "file:" + tgz(name);
    }
  for (const name of ["@kiln/native-linux-x64-gnu", "@kiln/cuda-linux-x64-gnu"])
    if (fs.existsSync(tgz(name))) (pkg.optionalDependencies ??= {})[name] = "file:" + tgz(name);
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
' "$PROJECT/package.json" "$TARBALLS" "$VERSION"

say "npm install (Kiln from the tarballs, the rest from the registry or npm's cache)"
(cd "$PROJECT" && npm install --no-audit --no-fund --prefer-offline --loglevel=error)
for p in native tensor autograd cuda native-linux-x64-gnu; do
  [ -f "$PROJECT/node_modules/@kiln/$p/package.json" ] && [ ! -L "$PROJECT/node_modules/@kiln/$p" ] ||
    die "@kiln/$p is not installed from its tarball in the project"
done
[ -f "$PROJECT/node_modules/@kiln/native-linux-x64-gnu/kiln_cpu.node" ] || die "the installed CPU platform package has no kiln_cpu.node"
[ ! -e "$PROJECT/node_modules/@kiln/native/build" ] || die "the installed @kiln/native holds a build folder (the addons must load from the platform packages)"

# 3. build, type-check and test there
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
