# UperNet + LV-ViT-S fine-tuned on your own data set (./_base_/datasets/own_data.py: edit data_root, classes and
# palette there; the heads' num_classes follow its class list), 512x512 crops, 40k iterations, 8 GPUs x 2 images.
# Model and optimizer are the headline's (the official LV-ViT recipe: AdamW 6e-5, weight decay 0.01 on every
# parameter, poly after 1500 warm-up iterations; slide test 512/341), from the official ImageNet token-labeling file
# (or your own tools/pretrain.py checkpoint: --cfg-options model.pretrained=PATH). 40k iterations of 16 images is
# mmseg's Pascal VOC length (about 60 passes over its 10,582 training images): for N images that is 640,000 / N
# passes; shorten train_cfg.max_iters (and param_scheduler.1.end) for small data sets. One GPU: see auto_scale_lr.
#   python tools/check_dataset.py configs/upernet_lvvit-s_8xb2-40k_own-data-512x512.py
#   python tools/train.py configs/upernet_lvvit-s_8xb2-40k_own-data-512x512.py
_base_ = [
    './_base_/models/upernet_lvvit-s.py',
    './_base_/datasets/own_data.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/adamw_poly_40k.py',
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained='pretrain/lvvit_s-26M-224-83.3.pth.tar',  # as the ADE20K configs: the official ImageNet file
    decode_head=dict(num_classes={{_base_.num_classes}}),
    auxiliary_head=dict(num_classes={{_base_.num_classes}}))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
# Total batch 16 = 8 GPUs x 2: with --cfg-options auto_scale_lr.enable=True the lr follows other totals.
auto_scale_lr = dict(enable=False, base_batch_size=16)
