#!/usr/bin/env bash
# The RetinaNet example's runs on one GPU, one process per seed at the same time, then their
# results merged (main.ts replot): the tables on the console, the merged results.json and the
# charts in OUT_DIR/merged, each process's log in OUT_DIR/seedN.log and its own output (pictures,
# checkpoints, results.json) in OUT_DIR/seedN.
#
#   bash tools/gpu/example-runs.sh OUT_DIR SEEDS [main.ts options ...]
#   bash tools/gpu/example-runs.sh /tmp/runs 0,1,2 --preset cuda --tf32 --workers 4
#
# Why processes: one training step of the cuda preset leaves the GPU idle between its kernels
# (the host queues them one by one), so several trainings side by side finish sooner than one
# after the other. Each process makes its batches with --workers threads: keep their sum near the
# machine's cores. --resume continues each seed from its checkpoints in OUT_DIR/seedN.
# Exit status: 0 when every process and the merge succeeded, else 1.
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: example-runs.sh OUT_DIR SEEDS [main.ts options ...]" >&2; exit 2; }
out=$1 seeds=${2//,/ }
shift 2
main=(node --conditions=@kiln/source --import tsx examples/retinanet/main.ts)
mkdir -p "$out"
pids=()
for s in $seeds; do
  "${main[@]}" "$@" --seed "$s" --out "$out/seed$s" >"$out/seed$s.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
files=()
for s in $seeds; do
  echo "== seed $s ($out/seed$s.log)"
  grep -E "^(focal|ce|ce-alpha|fl-g[0-9.]+) seed|^total|Error" "$out/seed$s.log"
  files+=("$out/seed$s/results.json")
done
joined=$(IFS=,; echo "${files[*]}")
"${main[@]}" replot --results "$joined" --out "$out/merged" || status=1
exit $status
