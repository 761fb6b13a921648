# UperNet + LV-ViT-S on Pascal Context (59 classes, PascalContextDataset59: label 0 is ignored), 480x480 crops, 80k
# iterations, 8 GPUs x 2 images. Data: mmseg's own base (mmseg::_base_/datasets/pascal_context_59.py: random resize
# of (520, 520) by 0.5-2.0, crop 480, flip, photometric distortion; test at 520). mmseg has no transformer config
# for Pascal Context 59 at this crop; crop, total batch (16), length and the slide test (480 windows, stride 320)
# follow its own ones, e.g. configs/deeplabv3plus/deeplabv3plus_r50-d8_4xb4-80k_pascal-context-59-480x480.py. Model
# and optimizer are the headline's (the official LV-ViT recipe: AdamW 6e-5, weight decay 0.01 on every parameter,
# poly after 1500 warm-up iterations), the position grid built at the crop (30x30 tokens). LV-ViT has no published
# Pascal Context result.
_base_ = [
    './_base_/models/upernet_lvvit-s.py',
    'mmseg::_base_/datasets/pascal_context_59.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/adamw_poly_80k.py',
]
crop_size = (480, 480)
num_classes = 59
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained='pretrain/lvvit_s-26M-224-83.3.pth.tar',  # as the ADE20K configs: the official ImageNet file
    backbone=dict(img_size=crop_size),
    decode_head=dict(num_classes=num_classes),
    auxiliary_head=dict(num_classes=num_classes),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(320, 320)))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
# Total batch 16 = 8 GPUs x 2: with --cfg-options auto_scale_lr.enable=True the lr follows other totals.
auto_scale_lr = dict(enable=False, base_batch_size=16)
