# LV-ViT-L, token labeling, ImageNet-1k at 224: drop path 0.3, lr 1e-3 and RandAugment with 3 ops
# (rand-n3-m9-mstd0.5-inc1), as the official README's command. (Published L numbers are at 448/512.)
_base_ = './lvvit-s_tokenlabel_8xb128-310e_in1k-224.py'
model = dict(backbone=dict(arch='large', drop_path_rate=0.3))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 1e-3, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=300, convert_to_iter_based=True),
]
train_pipeline = [
    dict(type='LoadLazyImageFromFile'),
    dict(type='LoadTokenLabelMap', num_classes=1000),
    dict(type='RandomResizedCropWithBox', size=224, scale=(0.08, 1.0), interpolation='random'),
    dict(type='RandomFlipWithBox', prob=0.5),
    dict(type='RandAugmentWithAffine', config_str='rand-n3-m9-mstd0.5-inc1',
         hparams=dict(translate_const=100, img_mean=(124, 116, 104))),
    dict(type='PackTokenLabelInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
