#!/usr/bin/env bash
# Run paper grids on the device machine's GPU for at most SECONDS, all grids at once, and bring
# the run folders they changed back in $OUT/runs.tgz.part-* (a run that did not finish keeps its
# checkpoints and resumes here, on the CPU, with the same grid command, because run ids do not
# depend on the device, the thread count or the data folder).
#
# Usage, through the device tool, from the repository root:
#   BASREC_GIT_COMMIT=<HEAD here> [ONLY="seed=2025 label=Base"] [BY_LABEL=1] \
#     bash lab/benchmarks/gpu_grids.sh SECONDS configs/paper/A.yaml ...
# (BASREC_GIT_COMMIT: the device's copy of .git can be older than the working tree that
# travels, so the runs' env.json would name a stale commit without it.
# ONLY: space-separated FIELD=VALUE items (no spaces inside an item), each passed to every
# grid as --only; pack the carry with the same items, `python lab/scripts/gpu_carry.py GRID...
# --only seed=2025 ...`.
# BY_LABEL=1: each grid's plain runs first, then one process per label at once, for sweeps
# such as configs/paper/figure4.yaml whose columns would otherwise train one after another;
# ONLY may then select datasets, models and seeds, not labels or objectives.)
# with carry [".gpucarry"], packed here first by `python lab/scripts/gpu_carry.py GRID...` (the
# runs to resume with their checkpoints, the finished ones the grids would otherwise retrain,
# the stage-1 weights BASRec runs start from, and the data files; 64 MiB in all). Stop any CPU
# process working on a carried run first (kill -STOP or kill), and afterwards unpack the parts
# over the working tree (cat runs.tgz.part-* | tar xz) before resuming on the CPU: the copy
# that went to the GPU is then the newer one. Lock files never travel (nor come back: a run the
# time limit stopped leaves its lock behind there).
set -u
LIMIT=${1:?seconds}
shift
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/grids && rm -f /tmp/grids/*.log
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 BASREC_DATA_DIR=$PWD/.devdata
if [ -d .gpucarry ]; then  # packed by lab/scripts/gpu_carry.py: run folders and data files
  export BASREC_DATA_DIR=$PWD/.gpucarry/data
  [ -d .gpucarry/runs ] && cp -r .gpucarry/runs .
fi
nvidia-smi --query-gpu=name,memory.total --format=csv > "$OUT/gpu.txt" 2>&1
find runs -name .basrec.lock -delete 2>/dev/null
set -f  # ONLY's items are not file patterns
only_args=()
for item in ${ONLY:-}; do
  if [ "${BY_LABEL:-0}" = 1 ] && [[ $item == label=* || $item == objective=* ]]; then
    echo "gpu_grids.sh: with BY_LABEL=1, ONLY selects datasets, models and seeds (got $item)" >&2
    exit 2
  fi
  only_args+=(--only "$item")
done
set +f
# basrec experiment on $copy (the current grid's CUDA copy) with ONLY and the given arguments,
# its output to LOG, within what is left of LIMIT (20 s kept for packing); nothing when no time
# is left (timeout 0 would mean no limit)
experiment() {
  local log=$1 left=$((LIMIT - SECONDS - 20))
  shift
  [ "$left" -gt 0 ] || return 1
  timeout "$left" python3 -m basrec experiment "$copy" --root runs/paper \
    ${only_args[@]+"${only_args[@]}"} "$@" > "$log" 2>&1
}
for grid in "$@"; do
  copy=/tmp/grids/$(basename "$grid")
  # the same grid on CUDA (DEVICE=cpu to try the script here): device is an execution key,
  # so the run ids do not change
  python3 - "$grid" "$copy" "${DEVICE:-cuda}" <<'PY'
import sys

import yaml

spec = yaml.safe_load(open(sys.argv[1]))
spec.setdefault("base", {})["device"] = sys.argv[3]
yaml.safe_dump(spec, open(sys.argv[2], "w"))
PY
  log=/tmp/grids/$(basename "$grid" .yaml)
  if [ "${BY_LABEL:-0}" = 1 ]; then
    # the grid's plain runs first, then one process per label (each sweep column, each BASRec
    # variant), all on the GPU at once: a grid runs its runs one after another otherwise
    (
      experiment "$log.stage1.log" --only objective=none
      # the labels of the runs ONLY selects, plain runs left out
      python3 - "$copy" ${ONLY:-} > "$log.labels" <<'PY'
import sys

from basrec.experiments.plan import parse_only, plan, select_runs
from basrec.experiments.spec import load_spec

p = plan(load_spec(sys.argv[1]))
runs = select_runs(p.runs, parse_only(sys.argv[2:]), p.by_id())
print("\n".join(dict.fromkeys(r.label for r in runs if r.objective != "none")))
PY
      i=0
      while IFS= read -r label; do
        i=$((i + 1))
        experiment "$log.label$i.log" --only "label=$label" &
      done < "$log.labels"
      wait
    ) &
  else
    experiment "$log.log" &
  fi
done
wait
# Only the run folders this call changed come back, without the last checkpoint of a finished
# run (its results, curves, per-user ranks and best weights are what later steps read), split
# into 15 MiB parts (the device tool returns at most 8 files of 16 MiB, 64 MiB in all).
# Here: cat runs.tgz.part-* | tar xz
# Finished runs go first: if the archive outgrows what comes back, the lost tail holds only
# checkpoints of unfinished runs (their copy here stays as it was).
: > /tmp/finished.txt; : > /tmp/unfinished.txt; : > /tmp/skip.txt
for run in $(find runs/paper -mindepth 3 -maxdepth 3 -type d -newer "$OUT/gpu.txt"); do
  if [ -f "$run/results.json" ]; then
    echo "$run" >> /tmp/finished.txt; echo "$run/checkpoint_last.pt" >> /tmp/skip.txt
  else
    echo "$run" >> /tmp/unfinished.txt
  fi
done
cat /tmp/finished.txt /tmp/unfinished.txt > /tmp/changed.txt
tar czf - --exclude=.basrec.lock -X /tmp/skip.txt -T /tmp/changed.txt | split -b 15M - "$OUT/runs.tgz.part-"
for f in /tmp/grids/*.log; do echo "== $f"; tail -n 30 "$f"; done > "$OUT/grids.log"
echo "== finished" >> "$OUT/grids.log"; cat /tmp/finished.txt >> "$OUT/grids.log"
echo "== unfinished" >> "$OUT/grids.log"; cat /tmp/unfinished.txt >> "$OUT/grids.log"
cat "$OUT/grids.log"
ls -la "$OUT"
