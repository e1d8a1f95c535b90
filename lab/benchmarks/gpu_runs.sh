#!/usr/bin/env bash
# One prepared GPU session (device tool): Beauty runs that the 2-core CPU cannot afford in a
# session, all at once on one GPU, seed 2024, `--length_groups=1` (one width-50 encoder call per
# step: no host synchronisation; the same model, trimming is exact for these backbones):
#   - SASRec stage 1, then the Table 5 ablations (w/o ALW, w/o CA, w/o NL) and BASRec itself
#     from it; "w/o Two" (joint, from scratch) from the start;
#   - NextItNet stage 1, then BASRec from it;
#   - GRU4Rec stage 1 trained with full-softmax CE (diagnostic), then BASRec (BCE) from it;
#   - FMLP-Rec alone (prefix samples).
# Expects .devdata/Beauty.txt (carried). Copies every run's small files (results, curves,
# config, env, per-user ranks, logs; no checkpoints) to $OUT/runs.tgz every 15 s and at the end.
# Measured 2026-11-27 on an H200: with these eight processes the GPU is 100 % busy and none of
# the stage-2 runs finishes within one 600 s call (stage-2 epochs 44-72 of at least 100);
# split it across calls or machines.
# Usage on the device machine: bash lab/benchmarks/gpu_runs.sh SECONDS
set -u
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
LIMIT=${1:-540}
OUT=${OUT:-/tmp/out}
R=${RUNS:-/tmp/gpu}
mkdir -p "$OUT" $R
nvidia-smi --query-gpu=name,memory.total --format=csv > "$OUT/gpu.txt" 2>&1
DATA=${DATA:-.devdata/Beauty.txt}
EXTRA=${EXTRA:-}  # e.g. short epochs for a dry run on CPU
COMMON="--device=${DEVICE:-cuda} --progress=false --threads=1 --length_groups=1 --dataset $DATA"
B=configs/backbones
S=configs/basrec
train() { # name, args...
  local name=$1; shift
  timeout $((LIMIT - SECONDS)) python3 -m basrec train $COMMON "$@" $EXTRA --out $R/$name \
    > $R/$name.log 2>&1
  echo "$name exit $? at ${SECONDS}s" >> "$OUT/exits.txt"
}
sync_out() {  # one archive: the device tool returns a limited number of files
  tar czf "$OUT/runs.tgz.tmp" -C $R --exclude='*.pt' . 2>/dev/null && mv "$OUT/runs.tgz.tmp" "$OUT/runs.tgz"
}
( while true; do sleep 15; sync_out; done ) &
SYNC=$!
{
  train sasrec_base --config $B/sasrec_beauty.yaml
  for v in "wo_alw --basrec.ssa_weighting=none" "wo_ca --basrec.cross=false" \
           "wo_nl --basrec.mixup=linear" "basrec"; do
    set -- $v
    name=$1; shift
    train sasrec_$name --objective basrec --config $B/sasrec_beauty.yaml \
      --config $S/sasrec_beauty.yaml --init-from $R/sasrec_base "$@" &
  done
  wait
} &
train sasrec_wo_two --objective basrec --config $B/sasrec_beauty.yaml \
  --config $S/sasrec_beauty.yaml --basrec.training=joint &
{
  # stage 1 by docs/algorithm.md §3.5's stopping rule, as these runs were made; the Beauty
  # presets of GRU4Rec and NextItNet train stage 1 longer (docs/decisions.md)
  train nextitnet_base --config $B/nextitnet_beauty.yaml --epochs=200 --patience=20
  train nextitnet_basrec --objective basrec --config $B/nextitnet_beauty.yaml \
    --config $S/nextitnet_beauty.yaml --init-from $R/nextitnet_base
} &
{
  train gru4rec_base_ce --config $B/gru4rec_beauty.yaml --loss=ce --epochs=200 --patience=20 \
    --min_epochs=0
  train gru4rec_basrec_from_ce --objective basrec --config $B/gru4rec_beauty.yaml \
    --config $S/gru4rec_beauty.yaml --init-from $R/gru4rec_base_ce
} &
train fmlprec_base --config $B/fmlprec_beauty.yaml &
while [ "$(jobs -rp | wc -l)" -gt 1 ] && [ $SECONDS -lt $((LIMIT + 5)) ]; do
  sleep 5
  [ $((SECONDS % 60)) -lt 5 ] && nvidia-smi --query-gpu=utilization.gpu,memory.used \
    --format=csv,noheader >> "$OUT/gpu_util.txt"
done
kill $SYNC 2>/dev/null
sync_out
ls -la "$OUT"
