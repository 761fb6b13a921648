"""lvseg's runner and what mmengine lacks for its training recipes: hooks, samplers, loops, layer decay."""
from .bad_samples import CheckedDataset, SkippedSamplesHook
from .checkpoint_hook import AtomicCheckpointHook
from .cpu_bf16 import CpuBf16OptimWrapper
from .hooks import FiniteLossHook, NonFiniteLossError
from .layer_decay import LayerDecayOptimWrapperConstructor
from .mid_epoch_resume import ResumableEpochBasedTrainLoop, ResumableSampler
from .runner import LvsegRunner
from .step_seed import StepSeedHook

__all__ = ['AtomicCheckpointHook', 'CheckedDataset', 'CpuBf16OptimWrapper', 'FiniteLossHook',
           'LayerDecayOptimWrapperConstructor', 'LvsegRunner', 'NonFiniteLossError', 'ResumableEpochBasedTrainLoop',
           'ResumableSampler', 'SkippedSamplesHook', 'StepSeedHook']
