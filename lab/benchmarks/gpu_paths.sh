#!/usr/bin/env bash
# GPU paths beyond a plain CUDA run (prepared 2026-11-27; 1. and 2. run on an H100 on 2026-11-28,
# docs/performance.md "GPU paths checked"; short):
#   1. NCCL: `torchrun --nproc_per_node=1` with --device=cuda joins an nccl process group (a job
#      torchrun starts always does, basrec.distributed.from_environment),
#      averages gradients and gathers evaluation ranks through it; with one process the result
#      must equal the plain single-process run (same seed) exactly;
#   2. mixed precision on CUDA: --amp=bf16 and --amp=fp16 (loss scaling) train the same tiny
#      run to a finite loss, and an fp16 run's checkpoint_last.pt holds the scaler state a
#      resume reads (the resume itself is not exercised here);
#   3. CUDA step timings of NextItNet and FMLP-Rec (plain and BASRec stage 2, float32 and
#      bf16), which the H200 records of 2026-11-26 do not have.
# Expects .devdata/tiny.txt and .devdata/Beauty.txt (carried). Writes $OUT/paths.log and
# $OUT/bench_cuda_paths.json. BENCH=0 skips the timings (3.), for a call that trains on the same
# GPU at the same time and would disturb them.
# Usage on the device machine: bash lab/benchmarks/gpu_paths.sh
set -u
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
R=/tmp/gpu_paths
mkdir -p "$OUT" $R
DEVICE=${DEVICE:-cuda}
{
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
echo "== NCCL, one process, against the plain run"
COMMON="--dataset .devdata/tiny.txt --model sasrec --objective basrec --device=$DEVICE
  --epochs=2 --basrec.stage1_epochs=2 --progress=false"
python3 -m basrec train $COMMON --out $R/plain > $R/plain.log 2>&1; echo "plain exit $?"
python3 -m torch.distributed.run --standalone --nproc_per_node=1 -m basrec train $COMMON \
  --out $R/nccl > $R/nccl.log 2>&1; echo "torchrun exit $?"; tail -3 $R/nccl.log
python3 - $R <<'PY'
import json
import sys

a = json.load(open(f"{sys.argv[1]}/plain/results.json"))
b = json.load(open(f"{sys.argv[1]}/nccl/results.json"))
env = json.load(open(f"{sys.argv[1]}/nccl/env.json"))
print("world_size", env.get("world_size"), "device", env.get("device"))
print("identical" if a["test"] == b["test"] else f"DIFFERENT {a['test']} {b['test']}")
PY
echo "== mixed precision on CUDA"
for AMP in bf16 fp16; do
  python3 -m basrec train $COMMON --amp=$AMP --out $R/amp_$AMP > $R/amp_$AMP.log 2>&1
  echo "amp $AMP exit $?"; tail -1 $R/amp_$AMP.log
done
python3 -m basrec train $COMMON --amp=fp16 --epochs=1 --out $R/amp_resume > /dev/null 2>&1
python3 - $R/amp_resume <<'PY'
import sys

import torch

print("scaler in checkpoint_last:", "scaler" in torch.load(f"{sys.argv[1]}/checkpoint_last.pt", weights_only=False))
PY
if [ "${BENCH:-1}" != 0 ]; then
echo "== CUDA step timings (Beauty)"
timeout 240 python3 lab/benchmarks/bench_steps.py --dataset .devdata/Beauty.txt \
  --models nextitnet,fmlprec --device "$DEVICE" --steps 30 --amp bf16 \
  --out "$OUT/bench_cuda_paths.json" | grep -E '"what"|median_s|ratio'
fi
} 2>&1 | tee "$OUT/paths.log"
