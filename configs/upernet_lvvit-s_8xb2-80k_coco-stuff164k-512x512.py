# UperNet + LV-ViT-S on COCO-Stuff164k (171 classes, annotations *_labelTrainIds.png), 512x512 crops, 80k iterations,
# 8 GPUs x 2 images. Data: mmseg's own base (mmseg::_base_/datasets/coco-stuff164k.py, COCOStuffDataset: random
# resize of (2048, 512) by 0.5-2.0, crop 512, flip, photometric distortion; test at (2048, 512)). mmseg has no
# transformer config for COCO-Stuff164k at this crop; crop, total batch (16) and length follow its own ones, e.g.
# configs/deeplabv3/deeplabv3_r50-d8_4xb4-80k_coco-stuff164k-512x512.py (which also has 160k and 320k versions).
# Model, optimizer and slide test (512 windows, stride 341) are the headline's (the official LV-ViT recipe: AdamW
# 6e-5, weight decay 0.01 on every parameter, poly after 1500 warm-up iterations). LV-ViT has no published
# COCO-Stuff result.
_base_ = [
    './_base_/models/upernet_lvvit-s.py',
    'mmseg::_base_/datasets/coco-stuff164k.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/adamw_poly_80k.py',
]
crop_size = (512, 512)
num_classes = 171
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained='pretrain/lvvit_s-26M-224-83.3.pth.tar',  # as the ADE20K configs: the official ImageNet file
    decode_head=dict(num_classes=num_classes),
    auxiliary_head=dict(num_classes=num_classes))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
# Total batch 16 = 8 GPUs x 2: with --cfg-options auto_scale_lr.enable=True the lr follows other totals.
auto_scale_lr = dict(enable=False, base_batch_size=16)
