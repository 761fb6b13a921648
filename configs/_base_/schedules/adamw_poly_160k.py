# LV-ViT's ADE20K schedule as the official configs set it (TokenLabeling
# seg/configs/lvvit/upernet_lvvit_*_512x512_160k_ade20k.py; docs/method.md#segmentation-recipe): AdamW lr 6e-5,
# betas (0.9, 0.999), weight decay 0.01 on every parameter (no paramwise_cfg there: norms, pos_embed and cls_token
# decay too), 1500 linear warm-up iterations then poly (power 1.0) to 0, 160k iterations. mmseg's ViT habit (no decay
# on norms, pos_embed, cls_token) is a variant: ../../upernet_lvvit-s_no-decay-norm-pos_8xb2-160k_ade20k-512x512.py.
# The one intended difference: bf16 autocast in place of the official mmcv fp16 (fp16=dict(): fp16 autocast with a
# static loss scale of 512). bf16 has fp32's exponent range, so no gradient underflows or overflows and no loss
# scaling is needed; weights and optimizer state stay fp32, as there. GPUs without bf16 (before Ampere) get fp16
# with dynamic loss scaling (lvseg.engine.device_fallbacks); optim_wrapper.dtype=float16
# optim_wrapper.loss_scale=dynamic asks for it anywhere.
_base_ = ['mmseg::_base_/schedules/schedule_160k.py']
optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',  # tools/train.py falls back to fp32 OptimWrapper where no GPU is present
    dtype='bfloat16',
    loss_scale=dict(enabled=False),  # bf16 has fp32's range: no scaling, and no host sync for an inf check
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01))
# Without CUDA the tools train in fp32; cpu_bf16=True keeps bf16 autocast on CPUs with bf16 instructions
# (AVX512-BF16, AMX, Arm BF16; lvseg.engine.cpu_bf16): ~3x faster there, figures differ slightly from fp32.
cpu_bf16 = False
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]
# lvseg's hooks, as default hooks (merged into mmseg's schedule hooks; configs that set custom_hooks keep them):
# FiniteLossHook stops at the first NaN/inf loss, naming the iteration and the batch's files; StepSeedHook seeds
# by iteration so that --resume continues with the random numbers of an uninterrupted run.
# mmseg's checkpoint interval, written by lvseg's AtomicCheckpointHook (a kill never loses the last checkpoint).
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=16000),
                     finite_loss=dict(type='FiniteLossHook'), step_seed=dict(type='StepSeedHook'))
# A training sample that cannot be read or does not fit the data set (lvseg.engine.bad_samples) stops the run,
# naming its files; policy='skip' trains on the next sample instead and stops after max_skipped distinct ones.
bad_samples = dict(policy='error', max_skipped=100)
