# Semantic FPN + LV-ViT-S on ADE20K, 512x512, 80k iterations (mmseg's FPN schedule length), 8 GPUs x 2.
# The side-layer pyramid (strides 4, 8, 16, 16) feeds mmseg's FPN neck and FPNHead.
_base_ = ['./upernet_lvvit-s_8xb2-160k_ade20k-512x512.py']
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(pyramid_out_channels=384),
    neck=dict(type='FPN', in_channels=[384, 384, 384, 384], out_channels=256, num_outs=4),
    decode_head=dict(
        _delete_=True,
        type='FPNHead',
        in_channels=[256, 256, 256, 256],
        in_index=[0, 1, 2, 3],
        feature_strides=[4, 8, 16, 16],
        channels=128,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=80000, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=80000, val_interval=8000)
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=8000))
