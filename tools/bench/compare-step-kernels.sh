#!/usr/bin/env bash
# What the GPU runs in one training step, Kiln's (tools/bench/train-step.ts) against its PyTorch
# twin's (tools/bench/retinanet_twin.py), on the same weights and batch. Runs on the GPU machine
# (from tools/gpu/remote.sh: 'sh:bash tools/bench/compare-step-kernels.sh cuda float32'):
#
#   1. cuDNN's API log of one step each side, and which convolution problems run different engines
#      (tools/bench/cudnn_log_engines.py; --last: the engine kept, after any benchmark search);
#   2. each kernel's exact device time under Nsight Compute (tools/bench/ncu_kernel_times.py),
#      totals and µs per call over every step each side ran (warm-up and the twin's check
#      included, so compare per call, or divide by the calls of a kernel that runs once a step):
#      Kiln's profiler times kernels with events, which count the GPU's waits for the host in;
#      ncu's figure is the kernel alone.
#
# Arguments: PRESET (cuda) PRECISION (float32) [more options for both sides, e.g. --cudnn-benchmark].
# Output: the comparisons on stdout; the logs in $KILN_KERNELS_DIR (/tmp/kiln-kernels).
# KILN_KERNELS_NCU=0 stops after the engines (a benchmark search's candidates would crowd ncu's table).
set -uo pipefail
PRESET=${1:-cuda}
PRECISION=${2:-float32}
shift $(($# < 2 ? $# : 2))
EXTRA=("$@")
# (bash before 4.4 calls an empty array unbound under set -u: expand it as ${EXTRA[@]+...})
D=${KILN_KERNELS_DIR:-/tmp/kiln-kernels}
NCU=${NCU:-$(command -v ncu || echo /usr/local/cuda/bin/ncu)}
NODE=(node --conditions=@kiln/source --import tsx)
COMMON=(--presets "$PRESET" --precisions "$PRECISION" ${EXTRA[@]+"${EXTRA[@]}"})
rm -rf "$D" && mkdir -p "$D"

"${NODE[@]}" tools/bench/train-step.ts --export "$D/data" "${COMMON[@]}" >"$D/export.log" 2>&1 || { cat "$D/export.log"; exit 1; }
kiln() { "${NODE[@]}" tools/bench/train-step.ts "${COMMON[@]}" "$@"; }
twin() { python3 tools/bench/retinanet_twin.py --data "$D/data" --modes eager "${COMMON[@]}" "$@"; }

echo "== cuDNN engines, one step each side ($PRESET $PRECISION ${EXTRA[*]-})"
CUDNN_LOGLEVEL_DBG=3 CUDNN_LOGDEST_DBG="$D/kiln-cudnn.log" kiln --steps 1 --warmup 1 >"$D/kiln-log-run.txt" 2>&1 || { tail -20 "$D/kiln-log-run.txt"; exit 1; }
CUDNN_LOGLEVEL_DBG=3 CUDNN_LOGDEST_DBG="$D/torch-cudnn.log" twin --steps 1 --warmup 1 >"$D/torch-log-run.txt" 2>&1 || { tail -20 "$D/torch-log-run.txt"; exit 1; }
python3 tools/bench/cudnn_log_engines.py "$D/kiln-cudnn.log" "$D/torch-cudnn.log" --last >"$D/engines.txt"
grep -A2 '^!!' "$D/engines.txt"
tail -1 "$D/engines.txt"

[ "${KILN_KERNELS_NCU:-1}" = 0 ] && exit 0

# Each side runs warm-up steps (and the twin a check) before its timed steps: `--steps 4` after one
# warm-up puts most kernels in the timed steps; the tables' totals cover every step each side ran.
echo "== kernel times under Nsight Compute ($PRESET $PRECISION ${EXTRA[*]-})"
NCU_ARGS=(--csv --print-units base --metrics gpu__time_duration.sum --cache-control none --clock-control none)
"$NCU" "${NCU_ARGS[@]}" --log-file "$D/kiln-ncu.csv" "${NODE[@]}" tools/bench/train-step.ts "${COMMON[@]}" --steps 4 --warmup 1 >"$D/kiln-ncu-run.txt" 2>&1 ||
  { tail -20 "$D/kiln-ncu-run.txt"; exit 1; }
"$NCU" "${NCU_ARGS[@]}" --log-file "$D/torch-ncu.csv" python3 tools/bench/retinanet_twin.py --data "$D/data" --modes eager "${COMMON[@]}" --steps 4 --warmup 1 \
  >"$D/torch-ncu-run.txt" 2>&1 || { tail -20 "$D/torch-ncu-run.txt"; exit 1; }
python3 tools/bench/ncu_kernel_times.py "$D/kiln-ncu.csv" "$D/torch-ncu.csv" --top "${KILN_KERNELS_TOP:-40}"
