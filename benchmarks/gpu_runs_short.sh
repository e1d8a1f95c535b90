export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
R=/tmp/gpu; mkdir -p $R
C="--device=cuda --progress=false --threads=1 --length_groups=1 --dataset .devdata/Beauty.txt"
timeout 225 python3 -m basrec train $C --config configs/backbones/nextitnet_beauty.yaml --out $R/nextitnet_base > $R/nextitnet_base.log 2>&1 &
timeout 225 python3 -m basrec train $C --config configs/backbones/fmlprec_beauty.yaml --out $R/fmlprec_base > $R/fmlprec_base.log 2>&1 &
wait
cd $R && tar czf $OUT/all.tgz --exclude='*.pt' . ; ls $R/*/
