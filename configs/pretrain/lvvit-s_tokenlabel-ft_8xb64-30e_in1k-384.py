# LV-ViT-S fine-tuned at 384 from the 224 model (docs/method.md#pretraining-recipe): token-label grid 24x24 (it
# follows the token grid), lr 5e-6 constant (min lr 5e-6), weight decay 1e-8, total batch 512 (8 x 64),
# 30 epochs. Published: 84.4 top-1. Start from the 224 run:
#   --cfg-options \
#   model.init_cfg.checkpoint=work_dirs/lvvit-s_tokenlabel_8xb128-310e_in1k-224/best_accuracy_top1_epoch_N.pth
# (the classifier resizes pos_embed and keeps both heads).
_base_ = './lvvit-s_tokenlabel_8xb128-310e_in1k-224.py'
img_size = 384
model = dict(backbone=dict(img_size=img_size),
             init_cfg=dict(type='Pretrained',
                           checkpoint='work_dirs/lvvit-s_tokenlabel_8xb128-310e_in1k-224/epoch_310.pth'))
train_pipeline = [
    dict(type='LoadLazyImageFromFile'),
    dict(type='LoadTokenLabelMap', num_classes=1000),
    dict(type='RandomResizedCropWithBox', size=img_size, scale=(0.08, 1.0), interpolation='random'),
    dict(type='RandomFlipWithBox', prob=0.5),
    dict(type='RandAugmentWithAffine', config_str='rand-m9-mstd0.5-inc1',
         hparams=dict(translate_const=int(img_size * 0.45), img_mean=(124, 116, 104))),
    dict(type='PackTokenLabelInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(100000, img_size), keep_ratio=True, interpolation='bicubic'),  # crop_pct 1.0
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackTokenLabelInputs'),
]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=5e-6, weight_decay=1e-8))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=0, end=30)]
train_cfg = dict(max_epochs=30)
auto_scale_lr = dict(base_batch_size=512)
