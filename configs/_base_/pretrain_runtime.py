# Runtime of classification pretraining: mmseg's default runtime with epoch-based logging, a checkpoint per
# epoch and the best by top-1 kept.
_base_ = ['mmseg::_base_/default_runtime.py']
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3, save_best='accuracy/top1',
                    rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'))
log_processor = dict(by_epoch=True)
randomness = dict(seed=0)
