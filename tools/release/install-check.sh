#!/usr/bin/env bash
# Kiln installed as a user installs it: packs every public package (tools/release/stage.mjs --pack)
# and installs the tarballs with npm into a new project outside the repository (all but
# @kiln/native, the from-source build a user installs only where no prebuilt addon fits), with
# nothing on PATH but node (no compiler, cmake or nvcc, so nothing can be built), then, there:
#
#   1. type-checks the README's first example and the scripts of tools/release/consumer against the
#      published declarations (tsc, strict, skipLibCheck off; once, under the first node), and runs
#      the example: what it logs must equal what the same example logs in the repository;
#   2. imports @kiln/cuda: it must load, and say why CUDA is unavailable (no driver, no GPU), or be
#      available (KILN_REQUIRE_CUDA=1 demands it);
#   3. hides the CPU platform package (as --omit=optional would leave it out): the first op must
#      raise an AddonLoadError naming the package to install;
#   4. checks that npm ran no build (no @kiln/native, no build folder) and that `npm ls` is clean.
#
# This under this machine's node and under each version of KILN_INSTALL_CHECK_NODE (default
# "22.23.5 24.22.3", binaries from tools/node-binary.sh): the supported majors 20, 22 and 24.
# CI runs it after the tests (.ci/run); it needs a build (npm run build) and the npm registry or
# npm's cache (typescript and @types/node for the consumer, and Kiln's own dependencies).
#
#   bash tools/release/install-check.sh [--no-stage] [--node "20.19.0 22.12.0"]
#
#   --no-stage   use the tarballs already in out/release/tarballs
#   --node LIST  the extra Node versions (instead of KILN_INSTALL_CHECK_NODE)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
T0=$SECONDS
STAGE=1
EXTRA=${KILN_INSTALL_CHECK_NODE-22.23.5 24.22.3}
while [ $# -gt 0 ]; do
  case $1 in
    --no-stage) STAGE=0 ;;
    --node) EXTRA=$2; shift ;;
    *) echo "usage: bash tools/release/install-check.sh [--no-stage] [--node \"VERSIONS\"]" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '[install-check] %s\n' "$*"; }
die() { printf '[install-check] FAILED: %s\n' "$*" >&2; exit 1; }
step() { say "$1 ($((SECONDS - T0)) s)"; }

[ "$(node -p 'process.platform + "-" + process.arch')" = linux-x64 ] || die "prebuilt packages exist for linux-x64 only"
NPM_CLI=$(readlink -f "$(command -v npm)")
NPM_CLI=$(dirname "$NPM_CLI")/npm-cli.js
[ -f "$NPM_CLI" ] || die "npm's npm-cli.js not found next to $(command -v npm)"
VERSION=$(node -p "require('./packages/tensor/package.json').version")
TS_VERSION=$(node -p "require('./node_modules/typescript/package.json').version")
TYPES_NODE=$(node -p "require('./node_modules/@types/node/package.json').version")

if [ "$STAGE" = 1 ]; then
  step "packing every public package (stage.mjs --dev --pack)"
  node tools/release/stage.mjs --dev --pack
fi
TARBALLS=$ROOT/out/release/tarballs
ls "$TARBALLS"/*.tgz >/dev/null 2>&1 || die "no tarballs in $TARBALLS (run without --no-stage)"
USER_TARBALLS=()
for t in "$TARBALLS"/*.tgz; do [ "$(basename "$t")" = "kiln-native-$VERSION.tgz" ] || USER_TARBALLS+=("$t"); done

# The README's first example, and what it logs in the repository (sources, through tsx).
WORK=$ROOT/out/release/install-check
rm -rf "$WORK" && mkdir -p "$WORK"
awk '/^```ts$/ { on = 1; next } on && /^```$/ { exit } on { print }' README.md >"$WORK/example.ts"
[ -s "$WORK/example.ts" ] || die "no \`\`\`ts block in README.md"
step "running the README example in the repository"
node --conditions=@kiln/source --import tsx tools/release/consumer/run-example.mjs "$WORK/example.ts" >"$WORK/expected.json"

check_with_node() {
  local node_bin=$1 project safe out
  project=$(mktemp -d "${TMPDIR:-/tmp}/kiln-install-check-XXXXXX")
  case $project in "$ROOT"/*) die "the temporary project $project is inside the repository" ;; esac
  # PATH holds node alone: nothing can compile (checked), and npm runs from its own folder
  safe=$project/.bin-node-only
  mkdir -p "$safe" && ln -s "$node_bin/node" "$safe/node"
  for tool in cc gcc g++ c++ clang cmake make nvcc; do
    ! PATH=$safe command -v "$tool" >/dev/null || die "$tool is on the sanitised PATH"
  done
  local version
  version=$("$safe/node" --version)
  # the environment minus what would point npm or a build back at the repository or a toolchain
  local unset=() name
  for name in $(compgen -e); do
    case $name in npm_*|NODE_PATH|NODE_OPTIONS|KILN_NATIVE_DIR|CC|CXX|CUDACXX|CUDA_PATH|CUDAToolkit_ROOT|CMAKE_*) unset+=(-u "$name") ;; esac
  done
  run() { env "${unset[@]}" PATH="$safe" "$@"; }

  step "node $version: npm install of ${#USER_TARBALLS[@]} tarballs into $project"
  printf '{ "name": "kiln-install-check", "private": true, "type": "module" }\n' >"$project/package.json"
  local typescript=()
  [ -d "$WORK/js" ] || typescript=("typescript@$TS_VERSION" "@types/node@$TYPES_NODE")
  (cd "$project" && run node "$NPM_CLI" install --engine-strict --prefer-offline --no-audit --no-fund --loglevel=error \
    "${USER_TARBALLS[@]}" "${typescript[@]}") || die "npm install failed under node $version"
  [ ! -e "$project/node_modules/@kiln/native" ] || die "@kiln/native was installed (an optional peer: it must not be)"
  [ -z "$(find "$project/node_modules/@kiln" -name build -type d)" ] || die "a build folder appeared under node_modules/@kiln"
  (cd "$project" && run node "$NPM_CLI" ls --all >/dev/null) || die "npm ls reports problems under node $version"

  # the types do not depend on node's version: checked once, the JavaScript reused
  if [ ! -d "$WORK/js" ]; then
    step "node $version: tsc (strict, skipLibCheck off) on the README example and the consumer scripts"
    cp "$WORK/example.ts" tools/release/consumer/*.ts tools/release/consumer/tsconfig.json "$project/"
    (cd "$project" && run node node_modules/typescript/bin/tsc -p tsconfig.json) || die "the published types do not check"
    mkdir "$WORK/js" && cp "$project"/*.js tools/release/consumer/run-example.mjs "$WORK/js/"
  fi
  cp "$WORK"/js/* "$project/"

  step "node $version: the README example"
  out=$(cd "$project" && run node run-example.mjs example.js)
  [ "$out" = "$(cat "$WORK/expected.json")" ] || die "the installed example logged $out, the repository $(cat "$WORK/expected.json")"
  say "  logged $out (as in the repository)"

  step "node $version: import @kiln/cuda"
  out=$(cd "$project" && run node cuda-import.js) || die "importing @kiln/cuda failed: $out"
  say "  $out"
  if [ -n "${KILN_REQUIRE_CUDA:-}" ]; then
    [[ $out == *'"available":true'* ]] || die "KILN_REQUIRE_CUDA is set but CUDA is unavailable"
  else
    # the addon was installed, so the reason must be about the machine (driver, GPU), not the addon
    [[ $out == *'"available":true'* || $out =~ \"reason\":\"(no\ NVIDIA\ driver|the\ NVIDIA\ driver|cudaGetDeviceCount) ]] ||
      die "@kiln/cuda gives no machine reason for CUDA being unavailable: $out"
  fi

  step "node $version: the CPU platform package hidden"
  mv "$project/node_modules/@kiln/native-linux-x64-gnu" "$project/hidden-native"
  out=$(cd "$project" && run node missing-addon.js) || die "missing-addon.js: $out"
  mv "$project/hidden-native" "$project/node_modules/@kiln/native-linux-x64-gnu"
  [[ $out == *"npm install @kiln/native-linux-x64-gnu@$VERSION"* ]] || die "the missing-addon error does not name the package: $out"
  say "  $out"
  rm -rf "$project"
}

check_with_node "$(dirname "$(readlink -f "$(command -v node)")")"
for v in $EXTRA; do
  check_with_node "$(bash tools/node-binary.sh "$v")"
done
say "passed under node $(node --version)${EXTRA:+ and $EXTRA} in $((SECONDS - T0)) s"
