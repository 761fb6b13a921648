# ./adamw_poly_160k.py (the LV-ViT schedule: AdamW 6e-5, weight decay 0.01 on every parameter, 1500 warm-up
# iterations then poly to 0, bf16 autocast) over 80k iterations, validated and saved every 8000 as mmseg's
# schedule_80k.py (its Pascal Context 59 and COCO-Stuff164k configs, e.g.
# configs/deeplabv3plus/deeplabv3plus_r50-d8_4xb4-80k_pascal-context-59-480x480.py).
_base_ = ['./adamw_poly_160k.py']
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=80000, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=80000, val_interval=8000)
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=8000))
