#!/usr/bin/env bash
# The RetinaNet example's runs on one GPU, one process per job at the same time, then their
# results merged (main.ts replot): the tables on the console, the merged results.json and the
# charts in OUT_DIR/merged, each job's log in OUT_DIR/JOB.log and its own output (pictures,
# checkpoints, results.json) in OUT_DIR/JOB.
#
#   bash tools/gpu/example-runs.sh OUT_DIR JOBS [main.ts options ...]
#   bash tools/gpu/example-runs.sh /tmp/runs 0,1,2 --preset cuda --workers 4
#   bash tools/gpu/example-runs.sh /tmp/runs 0:ce+ce-alpha,1:ce+ce-alpha,0:fl-g0+fl-g0.5 --preset cuda
#
# A job is a seed (every loss compared, main.ts's --seed N), or SEED:LOSS+LOSS... (main.ts's
# --seed SEED --losses LOSS,LOSS...). The merge joins each loss's seeds from every job, and fills
# the gamma sweep's gamma 2 from focal's runs, as one run of the whole experiment would.
#
# Why processes: one training step of the cuda preset leaves the GPU idle between its kernels
# (the host queues them one by one), so several trainings side by side finish sooner than one
# after the other. Each process makes its batches with --workers threads: keep their sum near the
# machine's cores. --resume continues each job from its checkpoints in OUT_DIR/JOB (seedN, or
# seedN-LOSS+LOSS for a job with losses). A job that fails is left out of the merge, which names it.
# Exit status: 0 when every process and the merge succeeded, else 1.
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: example-runs.sh OUT_DIR JOBS [main.ts options ...]" >&2; exit 2; }
out=$1 jobs=${2//,/ }
shift 2
main=(node --conditions=@kiln/source --import tsx examples/retinanet/main.ts)
mkdir -p "$out"
pids=() names=()
for job in $jobs; do
  seed=${job%%:*} losses=()
  if [ "$job" != "$seed" ]; then
    [ -n "${job#*:}" ] || { echo "example-runs.sh: job $job names no loss after the colon (a seed alone trains every loss)" >&2; exit 2; }
    losses=(--losses "${job#*:}")
  fi
  losses=("${losses[@]//+/,}")
  name=seed$seed${losses[1]:+-${losses[1]//,/+}}
  names+=("$name")
  "${main[@]}" "$@" --seed "$seed" "${losses[@]}" --out "$out/$name" >"$out/$name.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
files=()
for name in "${names[@]}"; do
  echo "== $name ($out/$name.log)"
  grep -E "^(focal|ce|ce-alpha|fl-g[0-9.]+) seed|^total|Error" "$out/$name.log"
  if [ -f "$out/$name/results.json" ]; then
    files+=("$out/$name/results.json")
  else
    echo "example-runs.sh: $name wrote no results.json (see its log): left out of the merge" >&2
  fi
done
[ ${#files[@]} -gt 0 ] || exit 1
joined=$(IFS=,; echo "${files[*]}")
"${main[@]}" replot --results "$joined" --out "$out/merged" || status=1
exit $status
