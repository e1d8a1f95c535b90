#!/usr/bin/env bash
# Run paper grids on the device machine's GPU for at most SECONDS, all grids at once, and bring
# their run folders back in $OUT/runs.tgz (checkpoints included: a run that did not finish
# resumes here, on the CPU, with the same grid command, because run ids do not depend on the
# device, the thread count or the data folder).
#
# Usage, through the device tool, from the repository root:
#   bash benchmarks/gpu_grids.sh SECONDS configs/paper/A.yaml [configs/paper/B.yaml ...]
# with carry [".devdata", "runs/paper/<dataset>/<model>", ...]: .devdata holds the data files
# (Beauty.txt, ...); carry the run folders of runs to resume (64 MiB in all). Stop any CPU
# process working on a carried run first (kill -STOP or kill), and afterwards unpack the archive
# over the working tree (tar xzf runs.tgz) before resuming on the CPU: the copy that went to
# the GPU is then the newer one. Lock files copied from this machine are dropped on the device
# (their process is not there).
set -u
LIMIT=${1:?seconds}
shift
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/grids
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 BASREC_DATA_DIR=$PWD/.devdata
nvidia-smi --query-gpu=name,memory.total --format=csv > "$OUT/gpu.txt" 2>&1
find runs -name .basrec.lock -delete 2>/dev/null
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
  timeout $((LIMIT - SECONDS - 20)) python3 -m basrec experiment "$copy" --root runs/paper \
    > "$OUT/$(basename "$grid" .yaml).log" 2>&1 &
done
wait
tar czf "$OUT/runs.tgz" runs/paper
