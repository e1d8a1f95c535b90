#!/usr/bin/env bash
# One prepared GPU session (device tool): CUDA checks, CUDA step timings, then a long run.
# Expects the datasets in .devdata/ (carried) and writes what it measured to $OUT.
# Usage on the device machine: bash lab/benchmarks/gpu_check.sh LONG_RUN_SECONDS
set -u
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
LONG=${1:-420}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/gpu
{
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
echo "== CUDA training with BASRec on every backbone (tiny data, 2+2 epochs)"
for m in sasrec gru4rec nextitnet fmlprec; do
  python3 -m basrec train --dataset .devdata/tiny.txt --model $m --objective basrec \
    --device=cuda --epochs=2 --basrec.stage1_epochs=2 --progress=false --out /tmp/gpu/tiny_$m \
    > /tmp/gpu/tiny_$m.log 2>&1; echo "$m exit $?"; tail -2 /tmp/gpu/tiny_$m.log
done
echo "== determinism on CUDA: the same tiny run twice"
for r in a b; do
  python3 -m basrec train --dataset .devdata/tiny.txt --model sasrec --device=cuda --epochs=3 \
    --progress=false --out /tmp/gpu/det_$r > /dev/null 2>&1
done
python3 -c "import json; a=json.load(open('/tmp/gpu/det_a/results.json'))['test']; b=json.load(open('/tmp/gpu/det_b/results.json'))['test']; print('identical' if a==b else f'DIFFERENT {a} {b}')"
echo "== CUDA step timings (Beauty)"
python3 lab/benchmarks/bench_steps.py --dataset .devdata/Beauty.txt --models sasrec,gru4rec \
  --device cuda --steps 30 --out "$OUT/bench_cuda.json" | grep -E '"what"|median_s|ratio'
} 2>&1 | tee "$OUT/checks.log"
# stage 1 by docs/algorithm.md §3.5's rule, as this run was made; the preset's is longer
echo "== long run: GRU4Rec + BASRec on Beauty (presets), at most ${LONG}s"
timeout "$LONG" python3 -m basrec train --dataset .devdata/Beauty.txt --model gru4rec \
  --objective basrec --config configs/backbones/gru4rec_beauty.yaml \
  --config configs/basrec/gru4rec_beauty.yaml --device=cuda --progress=false \
  --basrec.stage1_epochs=200 --basrec.stage1_patience=20 --basrec.stage1_min_epochs=0 \
  --out /tmp/gpu/gru4rec_beauty_basrec_s2024 > "$OUT/long_run.log" 2>&1
echo "long run exit $?"
cd /tmp/gpu && rm -f gru4rec_beauty_basrec_s2024/stage1/checkpoint_last.pt
tar czf "$OUT/stage1.tgz" gru4rec_beauty_basrec_s2024/stage1
tar czf "$OUT/stage2.tgz" --exclude=stage1 gru4rec_beauty_basrec_s2024
ls -la "$OUT"
