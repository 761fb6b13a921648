# Runtime of classification pretraining: mmseg's default runtime with epoch-based logging, and lvseg's hooks
# (default hooks, not custom ones: configs that set custom_hooks keep them). Checkpoints: one per epoch, the best
# by top-1 kept, and one every 500 iterations inside an epoch (an ImageNet epoch at a batch of 1024 is 1251
# iterations): a kill loses at most 500 iterations, and --resume continues inside the epoch with the same data.
# FiniteLossHook stops at the first NaN/inf loss, naming the iteration and the batch's files; StepSeedHook seeds
# by iteration and epoch so that --resume continues with the same random numbers.
_base_ = ['mmseg::_base_/default_runtime.py']
runner_type = 'LvsegRunner'  # lvseg/engine/runner.py: safe and strict loading, atomic writes, device fallbacks
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3, save_best='accuracy/top1',
                    rule='greater', mid_epoch_interval=500),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    finite_loss=dict(type='FiniteLossHook'),
    step_seed=dict(type='StepSeedHook'))
log_processor = dict(by_epoch=True)
randomness = dict(seed=0)
# A training sample that cannot be read or does not fit the data set (lvseg.engine.bad_samples) stops the run,
# naming its files; policy='skip' trains on the next sample instead and stops after max_skipped distinct ones.
bad_samples = dict(policy='error', max_skipped=100)
