# UperNet + LV-ViT-S on Cityscapes (19 classes, gtFine *_labelTrainIds.png), 512x1024 crops, 90k iterations, 8 GPUs x
# 2 images. Data: mmseg's own base (mmseg::_base_/datasets/cityscapes.py, CityscapesDataset: random resize of
# (2048, 1024) by 0.5-2.0, crop 512x1024, flip, photometric distortion; test at 2048x1024). Crop, batch and length
# follow mmseg's transformer config for this crop (it has no ViT or Swin UperNet config for Cityscapes):
# configs/mask2former/mask2former_swin-t_8xb2-90k_cityscapes-512x1024.py. Model and optimizer are the headline's
# (the official LV-ViT recipe: AdamW 6e-5, weight decay 0.01 on every parameter, poly after 1500 warm-up
# iterations), the position grid built at the crop (32x64 tokens), and the slide test of the ADE20K recipe at this
# crop (windows of the crop, stride 2/3 of it). LV-ViT has no published Cityscapes result.
_base_ = [
    './_base_/models/upernet_lvvit-s.py',
    'mmseg::_base_/datasets/cityscapes.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/adamw_poly_90k.py',
]
crop_size = (512, 1024)
num_classes = 19
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained='pretrain/lvvit_s-26M-224-83.3.pth.tar',  # as the ADE20K configs: the official ImageNet file
    backbone=dict(img_size=crop_size),
    decode_head=dict(num_classes=num_classes),
    auxiliary_head=dict(num_classes=num_classes),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 683)))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
# Total batch 16 = 8 GPUs x 2: with --cfg-options auto_scale_lr.enable=True the lr follows other totals.
auto_scale_lr = dict(enable=False, base_batch_size=16)
