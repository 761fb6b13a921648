# UperNet + LV-ViT-S on ADE20K, 512x512 crops, 160k iterations, 8 GPUs x 2 images (short name:
# configs/upernet_lvvit.py). Published: 47.9 mIoU single-scale, 48.6 multi-scale.
_base_ = [
    './_base_/models/upernet_lvvit-s.py',
    'mmseg::_base_/datasets/ade20k.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/adamw_poly_160k.py',
]
crop_size = (512, 512)
model = dict(data_preprocessor=dict(size=crop_size))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
# Total batch 16 = 8 GPUs x 2: with --cfg-options auto_scale_lr.enable=True the lr follows other totals.
auto_scale_lr = dict(enable=False, base_batch_size=16)
