#!/usr/bin/env bash
# Runs ON the GPU machine, from the root of the copied working tree, with .gpu-pack carried
# (made here by tools/gpu/pack.sh). Sets up Node.js and node_modules from the pack, puts the
# native addons where the loader looks, then runs the steps named by its arguments, in order:
#
#   test[:PATH]            KILN_REQUIRE_CUDA=1 vitest run [PATH]   (the whole suite by default: its
#                          files in parallel, then the *.whole-device.test.ts files alone, which fill
#                          the device's memory on purpose)
#   memcheck[:PATH]        the same under compute-sanitizer memcheck --leak-check full, in one
#                          worker process (default PATH: packages/losses)
#   memcheck-each[:PATH]   every *.test.ts under PATH (default packages) under the sanitizer, one
#                          process per file, KILN_MEMCHECK_JOBS (8) at a time: memcheck-each.sh
#                          (KILN_MEMCHECK_LEFT_S caps its seconds, to leave time for later steps)
#   bench:SCRIPT [ARGS]    node --conditions=@kiln/source --import tsx SCRIPT ARGS
#   py:SCRIPT [ARGS]       PYTHONUNBUFFERED=1 python3 SCRIPT ARGS  (with $OUT exported)
#   sh:COMMAND             any shell command (runs with the same node and environment)
#   focal-bench[:ARGS]     the focal-loss benchmark of docs/benchmarks.md: PyTorch's implementations
#                          (tools/bench/torch_focal.py ARGS) then Kiln's (tools/bench/focal-gpu.ts),
#                          one combined table written to $OUT/benchmarks-gpu.md
#   install-check          the tarballs of .gpu-pack/release (tools/release/gpu-install-pack.sh)
#                          installed offline outside the tree, the focal loss on CUDA there
#                          (tools/release/gpu-install-check.sh)
#   train-bench[:ARGS]     the training-step benchmark: Kiln exports its initial weights and one batch
#                          per preset (tools/bench/train-step.ts --export), the PyTorch twin checks
#                          its losses against Kiln's and times eager and torch.compile
#                          (tools/bench/retinanet_twin.py), then Kiln times its step, prints the
#                          profiler's table of one step and writes the combined table to
#                          $OUT/benchmarks-train.md; ARGS go to all three (each ignores the
#                          other's options), e.g. 'train-bench:--presets cuda --steps 20'.
#                          torch.compile of the `real` preset spent 474 s compiling its first
#                          step on the H200 (2026-12-05): give 'train-bench:--modes eager' unless
#                          the call has that time (compile rows: --presets cuda, about 30 s)
#   example-bench[:ARGS]   the RetinaNet example's own step beside torchvision's RetinaNet on the same
#                          weights and batch: example-step.ts --export, tools/bench/example_twin.py
#                          (checks the losses, times eager and torch.compile), example-step.ts
#                          --torch, the table in $OUT/benchmarks-example.md; ARGS go to all three
#                          (e.g. 'example-bench:--precisions float32,tf32,bf16 --head-norm 32')
#   dense-bench[:ARGS]     matmul and conv2d, PyTorch (tools/bench/torch_dense.py ARGS) then Kiln
#                          (tools/bench/dense-gpu.ts), one table written to $OUT/dense-gpu.md
#   decl-check             Kiln's declarations of cuBLASLt and cuDNN against the real headers
#                          (tools/gpu/check-nvidia-decls.sh)
#   extensions[:ARGS]      the tests of extensions loaded at run time (the test extensions and
#                          examples/*, built here with nvcc and packed as extensions.tar.xz)
#
# A step with arguments is one shell word: bash tools/gpu/remote.sh test 'py:ref.py --n 16'.
# Each step's output goes to the terminal and to $OUT/<step>.log; a summary comes last, also in
# $OUT/summary.txt. The device tool brings back at most 8 files from $OUT: the summary and the
# first 6 steps' logs get files of their own, later steps share $OUT/more.log; when steps wrote
# more files than that, all but the summary are packed into $OUT/out.tar.gz at the end.
#
# Environment:
#   OUT                  where logs go (default ./out)
#   KILN_GPU_DEADLINE_S  seconds after start by which every step must have ended (default 570,
#                        for the device tool's 600 s limit; set it to the call's timeout_s - 30):
#                        a step is stopped at the deadline so that the summary still gets printed
#   KILN_NODE_DIR        where node is unpacked (default /tmp/kiln-node)
#   KILN_UNPACK_WITH     xz | python   (default: xz when installed, else python3's tarfile)
# Exit status: 0 when every step exited 0, else 1.
set -uo pipefail

START=$SECONDS
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
PACK=$ROOT/.gpu-pack
export OUT=${OUT:-$ROOT/out}
mkdir -p "$OUT"
NODE_DIR=${KILN_NODE_DIR:-/tmp/kiln-node}
DEADLINE=${KILN_GPU_DEADLINE_S:-570}
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"

note() { printf '[remote] %s\n' "$*" | tee -a "$SUMMARY"; }
elapsed() { echo $((SECONDS - START)); }

# Unpacks a .tar.xz into a folder, with xz when there is one, else with python3's tarfile.
unpack() {
  local archive=$1 dest=$2 how=${KILN_UNPACK_WITH:-}
  [ -n "$how" ] || { command -v xz >/dev/null 2>&1 && how=xz || how=python; }
  mkdir -p "$dest"
  if [ "$how" = xz ]; then
    xz -dc "$archive" | tar -xf - -C "$dest"
  else
    python3 - "$archive" "$dest" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1], "r:xz") as t:
    kw = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
    t.extractall(sys.argv[2], **kw)
PY
  fi
}

# ---- set up -------------------------------------------------------------------------------------
note "started $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), in $ROOT; logs in $OUT"
if [ ! -d "$PACK" ]; then
  note "ERROR: no .gpu-pack here: run 'bash tools/gpu/pack.sh' here first and carry [\".gpu-pack\"]"
  exit 2
fi
[ -f "$PACK/manifest.txt" ] && sed -n '1,3p' "$PACK/manifest.txt" | sed 's/^/[remote] pack: /' | tee -a "$SUMMARY"

SETUP_OK=1
if [ -x "$NODE_DIR/bin/node" ] && [ "$("$NODE_DIR/bin/node" --version 2>/dev/null)" = "$(sed -n 's/^node: \(v[^ ]*\).*/\1/p' "$PACK/manifest.txt" 2>/dev/null)" ]; then
  : # already unpacked by an earlier call on this (warm) machine
elif [ -f "$PACK/node.tar.xz" ]; then
  rm -rf "$NODE_DIR"
  unpack "$PACK/node.tar.xz" "$NODE_DIR" || { note "ERROR: could not unpack node.tar.xz"; SETUP_OK=0; }
else
  note "ERROR: .gpu-pack/node.tar.xz is missing"
  SETUP_OK=0
fi
export PATH="$NODE_DIR/bin:$PATH"

if [ -f "$PACK/node_modules.tar.xz" ]; then
  # A warm machine may still hold an older unpacked node_modules: start from the pack's.
  rm -rf node_modules
  unpack "$PACK/node_modules.tar.xz" "$ROOT" || { note "ERROR: could not unpack node_modules.tar.xz"; SETUP_OK=0; }
else
  note "ERROR: .gpu-pack/node_modules.tar.xz is missing"
  SETUP_OK=0
fi
if [ "$SETUP_OK" = 1 ]; then
  node tools/gpu/link-workspaces.mjs "$ROOT" 2>&1 | sed 's/^/[remote] /' | tee -a "$SUMMARY"
fi
if [ -f "$PACK/dist.tar.xz" ]; then
  unpack "$PACK/dist.tar.xz" "$ROOT" || note "WARNING: could not unpack dist.tar.xz"
fi

mkdir -p native/build/Release
shopt -s nullglob
ADDONS=("$PACK"/native/*.node.xz)
shopt -u nullglob
if [ ${#ADDONS[@]} -gt 0 ]; then
  rm -f native/build/Release/*.node # a warm machine may hold older ones
  for f in "${ADDONS[@]}"; do
    out="native/build/Release/$(basename "$f" .xz)"
    if command -v xz >/dev/null 2>&1; then xz -dc "$f" >"$out"
    else python3 -c 'import lzma,sys; open(sys.argv[2],"wb").write(lzma.open(sys.argv[1]).read())' "$f" "$out"; fi
  done
  note "addons: $(cd native/build/Release && ls -- *.node | tr '\n' ' ')"
fi
[ -f native/build/Release/kiln_cuda.node ] ||
  note "WARNING: native/build/Release/kiln_cuda.node is missing: CUDA tests will fail (build here, pack again)"

if [ -f "$PACK/extensions.tar.xz" ]; then
  if unpack "$PACK/extensions.tar.xz" "$ROOT"; then note "extension libraries unpacked (test-extensions, examples/*/build)"
  else note "WARNING: could not unpack extensions.tar.xz: the extensions step will fail"; fi
fi

# the example's pictures: fontconfig finds no configuration there, so text drew as empty boxes
if [ -f "$PACK/fonts.tar.xz" ]; then
  FONTS=/tmp/kiln-fonts
  if unpack "$PACK/fonts.tar.xz" "$FONTS"; then
    printf '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig><dir>%s</dir><cachedir>%s/cache</cachedir></fontconfig>\n' "$FONTS" "$FONTS" >"$FONTS/fonts.conf"
    export FONTCONFIG_FILE="$FONTS/fonts.conf"
    note "fonts: DejaVu Sans for the pictures (FONTCONFIG_FILE=$FONTCONFIG_FILE)"
  else note "WARNING: could not unpack fonts.tar.xz: pictures will show their text as boxes"; fi
fi

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | sed 's/^/[remote] gpu: /' | tee -a "$SUMMARY"
else
  note "gpu: nvidia-smi not found (no NVIDIA driver on this machine?)"
fi
note "node: $(command -v node || echo 'not found') $(node --version 2>&1)"
note "setup took $(elapsed) s"
if [ "$SETUP_OK" != 1 ]; then
  note "ERROR: setup failed; no step run"
  exit 2
fi

# ---- steps --------------------------------------------------------------------------------------
unset FORCE_COLOR
# KILN_REQUIRE_CUDA_LIBRARIES: the dense-op suites fail, rather than skip, a path whose library
# (cuBLASLt, cuDNN) is not found: this machine has both.
export NO_COLOR=1 KILN_REQUIRE_CUDA=1 KILN_REQUIRE_CUDA_LIBRARIES=1
# Multicast stays off on these machines (KINDS.md); keep it so in what we start.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
VITEST=(node node_modules/vitest/vitest.mjs run --reporter=default)

R_NAME=() R_RC=() R_TIME=() R_LINE=() R_LOG=()
NLOGS=0
declare -A USED

# Sets LOG to the log file of a step: a name the device tool brings back (letters, digits, . _ -),
# unique, and $OUT/more.log once 6 logs exist (the tool brings back 8 files; summary.txt is one).
set_log() {
  local kind=$1 arg=$2 base name n=2
  base=$kind
  if [ -n "$arg" ]; then
    arg=${arg%% *}
    arg=$(basename -- "$arg")
    arg=${arg%.*}
    base="$kind-$(printf '%s' "$arg" | tr -c 'A-Za-z0-9._-' '_')"
  fi
  name=$base
  while [ -n "${USED[$name]:-}" ]; do name="$base-$n"; n=$((n + 1)); done
  USED[$name]=1
  if [ "$NLOGS" -ge 6 ]; then
    LOG=$OUT/more.log
  else
    NLOGS=$((NLOGS + 1))
    LOG=$OUT/$name.log
  fi
}

# Runs one step: name, log file, command...; output to terminal and log, bounded by the deadline.
run_step() {
  local name=$1 log=$2
  shift 2
  local left=$((DEADLINE - $(elapsed)))
  local i=${#R_NAME[@]}
  R_NAME[i]=$name R_LOG[i]=$(basename "$log")
  if [ "$left" -lt 15 ]; then
    R_RC[i]=skipped R_TIME[i]=0 R_LINE[i]="not run: past the deadline (KILN_GPU_DEADLINE_S=$DEADLINE)"
    echo "== $name: skipped, no time left" | tee -a "$log"
    return
  fi
  {
    echo "== $name  ($(date -u +%H:%M:%SZ), ${left}s left)"
    echo "\$ $(printf '%q ' "$@")"
  } | tee -a "$log"
  local t0=$SECONDS rc
  timeout -k 10 "$left" "$@" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  [ "$rc" = 124 ] && echo "== $name: stopped at the deadline" | tee -a "$log"
  R_RC[i]=$rc R_TIME[i]=$((SECONDS - t0))
}

# Records a step that did not run (rc: missing, usage), with `message` in its log.
not_run() {
  local name=$1 log=$2 rc=$3 message=$4 i=${#R_NAME[@]}
  echo "== $name: $message" | tee -a "$log"
  R_NAME[i]=$name R_LOG[i]=$(basename "$log") R_RC[i]=$rc R_TIME[i]=0
}

# The last lines that say how a step went.
# The command of a Kiln-against-its-PyTorch-twin benchmark (train-bench, example-bench): Kiln
# writes its weights, batch and losses to DIR (KILN_SCRIPT --export), the twin checks its losses
# against them and times its step (TWIN_SCRIPT --json DIR/torch.json), then Kiln times its own and
# writes the combined table to $OUT/TABLE (KILN_SCRIPT --torch ... KILN_EXTRA). ARGS go to all
# three. Kiln's side runs whatever the twin did; the status is the twin's when that failed
# (2: no PyTorch, 3: the losses disagree), else Kiln's.
#   twin_bench KILN_SCRIPT TWIN_SCRIPT DIR TABLE KILN_EXTRA ARGS
twin_bench() {
  local kiln=$1 twin=$2 dir=$3 table=$4 extra=$5 args=$6 node="node --conditions=@kiln/source --import tsx"
  printf '%s' "D=$dir && rm -rf \$D && $node $kiln --export \$D $args || exit; PYTHONUNBUFFERED=1 python3 $twin --data \$D --json \$D/torch.json $args; T=\$?; $node $kiln --torch \$D/torch.json${extra:+ $extra} --out \"\$OUT/$table\" $args; K=\$?; [ \$T = 0 ] && exit \$K; exit \$T"
}

summary_line() {
  local kind=$1 log=$2 line
  case $kind in
    test | extensions) line=$(grep -E '^[[:space:]]*(Test Files|Tests)[[:space:]]|No test files found' "$log" | tail -2 | sed 's/^ *//' | paste -sd'|' -) ;;
    memcheck)
      # one ERROR SUMMARY per process the sanitizer followed (vitest's main process and its fork)
      line=$(grep -E 'ERROR SUMMARY|^[[:space:]]*Tests[[:space:]]|No test files found' "$log" | sed 's/^ *//; s/^========= *//' |
        sort | uniq -c | awk '{ n = $1; sub(/^ *[0-9]+ /, ""); print (n > 1 ? $0 " (x" n ")" : $0) }' | paste -sd'|' -) ;;
    memcheck-each) line=$(grep '^memcheck-each:' "$log" | tail -1) ;;
    *) line=$(grep -v '^[[:space:]]*$' "$log" | tail -1) ;;
  esac
  [ -n "$line" ] || line=$(grep -v '^[[:space:]]*$' "$log" | tail -1)
  printf '%s' "${line:0:300}"
}

[ $# -gt 0 ] || set -- test
for step in "$@"; do
  kind=${step%%:*}
  arg=""
  [ "$kind" = "$step" ] || arg=${step#*:}
  set_log "$kind" "$arg"
  log=$LOG
  read -r -a words <<<"$arg"
  case $kind in
    test)
      if [ ${#words[@]} -gt 0 ]; then
        run_step "$step" "$log" "${VITEST[@]}" "${words[@]}"
      else
        # The whole suite, its files in parallel, then the files that fill the device's memory on
        # purpose (*.whole-device.test.ts) one at a time: beside the others they starve them
        # (an H100 run of 2026-12-05 had 28 MB left for another file's events test).
        run_step "$step" "$log" "${VITEST[@]}" --exclude '**/*.whole-device.test.ts'
        R_LINE[${#R_NAME[@]} - 1]=$(summary_line test "$log")
        set_log test whole-device
        log=$LOG
        alone=$(find packages examples -name node_modules -prune -o -name '*.whole-device.test.ts' -type f -print)
        if [ -n "$alone" ]; then
          run_step "test:*.whole-device" "$log" "${VITEST[@]}" --no-file-parallelism $alone
        else
          not_run "test:*.whole-device" "$log" missing "no *.whole-device.test.ts files found"
        fi
      fi
      ;;
    memcheck)
      [ ${#words[@]} -gt 0 ] || words=(packages/losses)
      if command -v compute-sanitizer >/dev/null 2>&1; then
        # the sanitizer's options and the one-worker vitest: memcheck-command.sh
        source tools/gpu/memcheck-command.sh
        run_step "$step" "$log" "${MEMCHECK_VITEST[@]}" --no-file-parallelism "${words[@]}"
      else
        not_run "$step" "$log" missing "compute-sanitizer not found on this machine; step not run"
      fi
      ;;
    memcheck-each)
      if command -v compute-sanitizer >/dev/null 2>&1; then
        # the files must end 20 s before the deadline (sooner when KILN_MEMCHECK_LEFT_S says so)
        mc_left=$((DEADLINE - $(elapsed) - 20))
        [ "${KILN_MEMCHECK_LEFT_S:-$mc_left}" -lt "$mc_left" ] && mc_left=$KILN_MEMCHECK_LEFT_S
        run_step "$step" "$log" env KILN_MEMCHECK_LEFT_S=$mc_left \
          bash tools/gpu/memcheck-each.sh "${words[@]}"
      else
        not_run "$step" "$log" missing "compute-sanitizer not found on this machine; step not run"
      fi
      ;;
    bench)
      if [ ${#words[@]} -eq 0 ]; then
        not_run "$step" "$log" usage "no script given (bench:path/to/script.ts)"
      else
        run_step "$step" "$log" node --conditions=@kiln/source --import tsx "${words[@]}"
      fi
      ;;
    py)
      if [ ${#words[@]} -eq 0 ]; then
        not_run "$step" "$log" usage "no script given (py:path/to/script.py)"
      else
        run_step "$step" "$log" env PYTHONUNBUFFERED=1 python3 "${words[@]}"
      fi
      ;;
    sh)
      run_step "$step" "$log" bash -c "$arg"
      ;;
    focal-bench)
      # The focal-loss benchmark of docs/benchmarks.md: PyTorch's implementations first (their
      # timings and a cross-check set), then Kiln's, which prints the combined table and writes it
      # to $OUT/benchmarks-gpu.md. An argument is passed to torch_focal.py (e.g. --impls eager,seed).
      run_step "$step" "$log" bash -c "PYTHONUNBUFFERED=1 python3 tools/bench/torch_focal.py --export-check /tmp/kiln-check --json /tmp/kiln-torch.json $arg && node --conditions=@kiln/source --import tsx tools/bench/focal-gpu.ts --torch /tmp/kiln-torch.json --check /tmp/kiln-check --out \"\$OUT/benchmarks-gpu.md\""
      ;;
    train-bench)
      # the training-step benchmark of docs/benchmarks.md (see the header and twin_bench)
      run_step "$step" "$log" bash -c "$(twin_bench tools/bench/train-step.ts tools/bench/retinanet_twin.py /tmp/kiln-train benchmarks-train.md --profile "$arg")"
      ;;
    example-bench)
      # the example's step and its twin (see the header and twin_bench)
      run_step "$step" "$log" bash -c "$(twin_bench tools/bench/example-step.ts tools/bench/example_twin.py /tmp/kiln-example benchmarks-example.md "" "$arg")"
      ;;
    dense-bench)
      # matmul and conv2d against PyTorch: its timings first, then Kiln's, which prints the table
      # (ARGS go to both: --sizes, --conv, --warmup, --reps mean the same to each)
      run_step "$step" "$log" bash -c "PYTHONUNBUFFERED=1 python3 tools/bench/torch_dense.py --json /tmp/kiln-torch-dense.json $arg && node --conditions=@kiln/source --import tsx tools/bench/dense-gpu.ts --torch /tmp/kiln-torch-dense.json --out \"\$OUT/dense-gpu.md\" $arg"
      ;;
    extensions)
      # extensions loaded at run time, on the GPU: the loader's tests (the probe's CUDA kernels, a
      # device error), an extension op's gradcheck, and the example extension's suite (CUDA kernels
      # against the CPU and the float64 reference)
      run_step "$step" "$log" "${VITEST[@]}" packages/tensor/test/extensions.test.ts packages/autograd/test/extension-op.test.ts examples/deform-conv "${words[@]}"
      ;;
    decl-check)
      run_step "$step" "$log" bash tools/gpu/check-nvidia-decls.sh
      ;;
    install-check)
      # Kiln's tarballs installed offline into a project outside the tree, the focal loss on CUDA
      # there (.gpu-pack/release from tools/release/gpu-install-pack.sh)
      run_step "$step" "$log" bash tools/release/gpu-install-check.sh
      ;;
    *)
      not_run "$step" "$log" usage "unknown step (test[:PATH], memcheck[:PATH], memcheck-each[:PATH], bench:SCRIPT, py:SCRIPT, sh:CMD, focal-bench[:ARGS], train-bench[:ARGS], example-bench[:ARGS], dense-bench[:ARGS], decl-check, install-check, extensions[:ARGS])"
      ;;
  esac
  i=$((${#R_NAME[@]} - 1))
  R_LINE[i]=${R_LINE[i]:-$(summary_line "$kind" "$log")}
done

# ---- summary ------------------------------------------------------------------------------------
FAILED=0
for i in "${!R_NAME[@]}"; do [ "${R_RC[i]}" = 0 ] || FAILED=1; done
{
  echo
  echo "================ summary ($(elapsed) s in all) ================"
  for i in "${!R_NAME[@]}"; do
    printf '%-40s rc=%-7s %4ss  %s\n' "${R_NAME[i]}" "${R_RC[i]}" "${R_TIME[i]}" "${R_LOG[i]}"
    printf '    %s\n' "${R_LINE[i]}"
  done
  echo "files in \$OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
} | tee -a "$SUMMARY"
# The device tool brings back 8 files at most: with more, everything but the summary travels in
# one archive, out.tar.gz (unpack it where the files come back: tar -xzf out.tar.gz).
NOUT=$(find "$OUT" -type f | wc -l)
if [ "$NOUT" -gt 8 ]; then
  (cd "$OUT" && find . -type f ! -name summary.txt ! -name out.tar.gz -printf '%P\n' | tar -czf out.tar.gz -T - &&
    find . -type f ! -name summary.txt ! -name out.tar.gz -delete) &&
    echo "$NOUT files in \$OUT: packed into out.tar.gz (the device tool brings back 8 at most)" | tee -a "$SUMMARY"
fi
exit $FAILED
