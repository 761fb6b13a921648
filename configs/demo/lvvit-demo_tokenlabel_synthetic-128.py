# The demo's pretraining stage: the LV-ViT-S token-labeling recipe (configs/pretrain/) with small sizes, on
# lvseg's synthetic ImageNet-layout data (tools/make_demo_data.py imagenet), whose token-label maps come from
# the generator's exact masks (lvseg/demo/mask_label_maps.py stands in for a machine annotator).
# Its backbone is the one of configs/demo/upernet_lvvit-demo_synthetic-128.py, which fine-tunes from it.
_base_ = ['../pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py']
data_root = 'data/synthetic_in'
num_classes = 8  # = tools/make_demo_data.py --num-classes
img_size = 128
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=128, num_layers=8, num_heads=4, mlp_ratio=3.0, stem_channels=32,
                  skip_lam=2.0),
        img_size=img_size,
        drop_path_rate=0.0),
    num_classes=num_classes)
train_pipeline = [
    dict(type='LoadLazyImageFromFile'),
    dict(type='LoadTokenLabelMap', num_classes=num_classes),
    dict(type='RandomResizedCropWithBox', size=img_size, scale=(0.25, 1.0), interpolation='random'),
    dict(type='RandomFlipWithBox', prob=0.5),
    dict(type='RandAugmentWithAffine', config_str='rand-m9-mstd0.5-inc1',
         hparams=dict(translate_const=int(img_size * 0.45), img_mean=(124, 116, 104))),
    dict(type='PackTokenLabelInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(100000, img_size), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackTokenLabelInputs'),
]
train_dataloader = dict(
    batch_size=32, num_workers=2,
    dataset=dict(data_root=data_root, label_map_root='label_maps/train', pipeline=train_pipeline))
val_dataloader = dict(batch_size=32, num_workers=2, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
max_epochs = 15
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
# A run of ~150 iterations needs a faster EMA than ImageNet's 0.99992 (momentum 8e-5): decay 0.98.
custom_hooks = [dict(type='EMAHook', momentum=0.02, update_buffers=True, priority='ABOVE_NORMAL')]
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
