"""What mmengine lacks for lvseg's training recipes, and what makes its runs fail clearly and resume safely."""
from .bad_samples import BadSampleError, CheckedDataset, SkippedSamplesHook
from .checkpoint_hook import AtomicCheckpointHook
from .cpu_bf16 import CpuBf16OptimWrapper
from .hooks import FiniteLossHook, NonFiniteLossError
from .layer_decay import LayerDecayOptimWrapperConstructor
from .mid_epoch_resume import ResumableEpochBasedTrainLoop, ResumableSampler
from .step_seed import StepSeedHook

__all__ = ['AtomicCheckpointHook', 'BadSampleError', 'CheckedDataset', 'CpuBf16OptimWrapper', 'FiniteLossHook',
           'LayerDecayOptimWrapperConstructor', 'NonFiniteLossError', 'ResumableEpochBasedTrainLoop',
           'ResumableSampler', 'SkippedSamplesHook', 'StepSeedHook']
