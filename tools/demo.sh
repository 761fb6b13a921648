#!/usr/bin/env bash
# The demo (make demo): synthetic ADE20K-layout scenes -> train a small LV-ViT UperNet on the CPU with
# tools/train.py -> evaluate with tools/test.py (mIoU) and write prediction pictures. A few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-data/synthetic_ade}
WORK=${WORK:-work_dirs/demo}
CONFIG=configs/demo/upernet_lvvit-demo_synthetic-128.py

if [ ! -f "$DATA/classes.txt" ]; then
  "$PY" tools/make_demo_data.py ade20k "$DATA" --num-classes 8 --train 400 --val 40 --size 128
fi
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK" --cfg-options data_root="$DATA" \
  train_dataloader.dataset.data_root="$DATA" val_dataloader.dataset.data_root="$DATA" \
  test_dataloader.dataset.data_root="$DATA"
checkpoint=$(cat "$WORK/last_checkpoint")
"$PY" tools/test.py "$CONFIG" "$checkpoint" --work-dir "$WORK/test" --show-dir pictures \
  --cfg-options test_dataloader.dataset.data_root="$DATA" 2>&1 | tee "$WORK/test.log"
echo
echo "demo: synthetic data in $DATA (8 easy classes: this checks the pipeline, not LV-ViT's ADE20K quality)"
grep -o "mIoU: [0-9.]*" "$WORK/test.log" | tail -1 | sed 's/^/demo: test /'
echo "demo: prediction pictures under $WORK/test/pictures/vis_data/vis_image"
