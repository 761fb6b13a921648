# LV-ViT's ImageNet schedule (docs/method.md#pretraining-recipe): AdamW lr 1.6e-3 for a batch of 1024, weight decay
# 0.05 except on biases, norms, pos_embed and cls_token; 5 linear warm-up epochs from 1e-6, cosine to 1e-5 at
# epoch 300, then 10 cool-down epochs at 1e-5; AMP; EMA of the weights (decay 0.99992, mmengine momentum
# 8e-5), used for evaluation and saved in the checkpoints.
optim_wrapper = dict(
    type='AmpOptimWrapper',  # tools/pretrain.py falls back to fp32 where no GPU is present
    dtype='bfloat16',  # fp16 on GPUs without bf16 (or dtype='float16'), then with loss_scale='dynamic'
    loss_scale=dict(enabled=False),  # bf16 has fp32's range: no scaling, and no host sync for an inf check
    optimizer=dict(type='AdamW', lr=1.6e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                       custom_keys={'pos_embed': dict(decay_mult=0.0), 'cls_token': dict(decay_mult=0.0)}),
    clip_grad=None)  # e.g. dict(max_norm=5.0)
warmup_epochs = 5
cosine_epochs = 300
# Without CUDA the tools train in fp32; cpu_bf16=True keeps bf16 autocast on CPUs with bf16 instructions
# (AVX512-BF16, AMX, Arm BF16; lvseg.engine.cpu_bf16): ~3x faster there, figures differ slightly from fp32.
cpu_bf16 = False
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 1.6e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=warmup_epochs, end=cosine_epochs,
         convert_to_iter_based=True),
]
# mmengine's epoch loop, able to resume in the middle of an epoch (lvseg.engine.mid_epoch_resume)
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=cosine_epochs + 10, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=1024)  # --cfg-options auto_scale_lr.enable=True
custom_hooks = [dict(type='EMAHook', momentum=8e-5, update_buffers=True, priority='ABOVE_NORMAL')]
