# ./adamw_poly_160k.py (the LV-ViT schedule: AdamW 6e-5, weight decay 0.01 on every parameter, 1500 warm-up
# iterations then poly to 0, bf16 autocast) over 40k iterations, validated and saved every 4000 as mmseg's
# schedule_40k.py (its Pascal VOC 2012 + aug configs: configs/upernet/upernet_r50_4xb4-40k_voc12aug-512x512.py).
_base_ = ['./adamw_poly_160k.py']
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=40000, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000, val_interval=4000)
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=4000))
