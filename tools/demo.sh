#!/usr/bin/env bash
# The demo (make demo), both stages of lvseg on the CPU in minutes, through the same tools a GPU user runs:
#   1. synthetic ImageNet-layout data with token-label maps (from the generator's exact masks)
#      -> token-labeling pretraining of a small LV-ViT (tools/pretrain.py): top-1 on the synthetic val split;
#   2. synthetic ADE20K-layout scenes -> UperNet fine-tuned from that checkpoint (tools/train.py)
#      -> tools/test.py: mIoU, and prediction pictures.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA_IN=${DATA_IN:-data/synthetic_in}
DATA=${DATA:-data/synthetic_ade}
WORK=${WORK:-work_dirs/demo}
PRETRAIN_CONFIG=configs/demo/lvvit-demo_tokenlabel_synthetic-128.py
CONFIG=configs/demo/upernet_lvvit-demo_synthetic-128.py
# Training autocasts to bf16 on CPUs with bf16 instructions (AVX512-BF16, AMX, Arm BF16; fp32 on others, with a
# warning saying so): the config switch cpu_bf16. CPU_BF16=0 trains in fp32 everywhere.
CPU_BF16=${CPU_BF16:-1}
if [ "$CPU_BF16" = 1 ]; then cpu_bf16=True; else cpu_bf16=False; fi

[ -f "$DATA_IN/classes.txt" ] ||
  "$PY" tools/make_demo_data.py imagenet "$DATA_IN" --num-classes 8 --train 40 --val 10 --size 128 --label-maps 8
[ -f "$DATA/classes.txt" ] ||
  "$PY" tools/make_demo_data.py ade20k "$DATA" --num-classes 8 --train 400 --val 40 --size 128
# Pictures of the token labels: the maps packed into a label store, each cell painted in its top class's colour.
[ -f "$DATA_IN/label_store/train/header.json" ] ||
  "$PY" tools/label_store.py pack "$DATA_IN/label_maps/train" "$DATA_IN/label_store/train" --images "$DATA_IN/train" \
    --num-classes 8 --annotator 'class masks (lvseg/demo/mask_label_maps.py)'
"$PY" tools/visualize.py token-labels "$DATA_IN/train" "$DATA_IN/label_store/train" "$WORK/token_labels" \
  --class-names "$DATA_IN/classes.txt"

"$PY" tools/pretrain.py "$PRETRAIN_CONFIG" --work-dir "$WORK/pretrain" --cfg-options cpu_bf16=$cpu_bf16 \
  train_dataloader.dataset.data_root="$DATA_IN" val_dataloader.dataset.data_root="$DATA_IN" \
  test_dataloader.dataset.data_root="$DATA_IN" 2>&1 | tee "$WORK.pretrain.log"
pretrained=$(cat "$WORK/pretrain/last_checkpoint")

"$PY" tools/train.py "$CONFIG" --work-dir "$WORK/seg" --cfg-options model.pretrained="$pretrained" cpu_bf16=$cpu_bf16 \
  train_dataloader.dataset.data_root="$DATA" val_dataloader.dataset.data_root="$DATA" \
  test_dataloader.dataset.data_root="$DATA"
checkpoint=$(cat "$WORK/seg/last_checkpoint")
"$PY" tools/test.py "$CONFIG" "$checkpoint" --work-dir "$WORK/test" --show-dir "$WORK/test/pictures" \
  --cfg-options test_dataloader.dataset.data_root="$DATA" 2>&1 | tee "$WORK.test.log"

echo
echo "demo: synthetic data in $DATA_IN and $DATA (8 easy classes: this checks the pipeline, not LV-ViT's quality)"
grep -o "accuracy/top1: [0-9.]*" "$WORK.pretrain.log" | tail -1 | sed 's/^/demo: pretraining (token labeling) val /'
grep -o "mIoU: [0-9.]*" "$WORK.test.log" | tail -1 | sed 's/^/demo: segmentation test /'
echo "demo: token-label pictures under $WORK/token_labels"
echo "demo: prediction pictures under $WORK/test/pictures/vis_data/vis_image"
