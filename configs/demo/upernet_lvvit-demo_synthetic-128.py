# The demo: UperNet + a small LV-ViT on lvseg's synthetic scenes (tools/make_demo_data.py), 128x128,
# trained from scratch on the CPU in a few minutes. Same code path as the ADE20K configs; only the
# sizes, the data and the schedule are small. Photometric distortion is off: colour is half of what
# tells the synthetic classes apart.
_base_ = ['../upernet_lvvit-s_8xb2-160k_ade20k-512x512.py']
data_root = 'data/synthetic_ade'
num_classes = 8  # = tools/make_demo_data.py --num-classes
crop_size = (128, 128)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,  # from scratch on purpose; make demo passes its own stage-1 checkpoint (model.pretrained=...)
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=128, num_layers=8, num_heads=4, mlp_ratio=3.0, stem_channels=32,
                  skip_lam=2.0),
        img_size=crop_size,
        out_indices=(1, 3, 5, 7),
        drop_path_rate=0.0,
        pyramid_out_channels=256,
        pyramid_norm_cfg=norm_cfg),
    decode_head=dict(in_channels=[128, 128, 128, 256], channels=64, num_classes=num_classes, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=128, channels=32, num_classes=num_classes, norm_cfg=norm_cfg),
    test_cfg=dict(mode='whole'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(256, 128), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 128), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
dataset = dict(type='ClassFileSegDataset', data_root=data_root, reduce_zero_label=True)
train_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True,
    dataset=dict(dataset, data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
                 pipeline=train_pipeline, _delete_=True))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    dataset=dict(dataset, data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
                 pipeline=test_pipeline, _delete_=True))
test_dataloader = val_dataloader

max_iters = 600
# The demo's figures (README, docs/performance.md#the-demo) were measured with mmseg's ViT habit, kept here: no
# weight decay on norms, pos_embed and cls_token (the ADE20K configs decay every parameter, as the official ones).
optim_wrapper = dict(
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(norm_decay_mult=0.0,
                       custom_keys={'pos_embed': dict(decay_mult=0.0), 'cls_token': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=50, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1),
    visualization=dict(type='SegVisualizationHook', interval=1))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
