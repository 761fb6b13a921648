"""bfloat16 autocast for training on the CPU, which mmengine's ``AmpOptimWrapper`` refuses.

mmengine 0.10.7's ``AmpOptimWrapper.__init__`` asserts a GPU (CUDA, NPU, MLU or MUSA), although its autocast
helper (``mmengine.runner.amp.autocast``) runs bf16 on the CPU. CPUs with bf16 instructions (x86 AVX512-BF16
or AMX, Arm BF16) train lvseg's models markedly faster in bf16 than in fp32 (``bench/train_step.py``; the
figures in docs/performance.md#measured-cpu-only); elsewhere bf16 is emulated and slower.
:class:`CpuBf16OptimWrapper` autocasts
the forward pass (``optim_context``) to bf16 on the CPU; bf16 has fp32's exponent range, so no loss scaling.
The runner switches to it from a bf16 ``AmpOptimWrapper`` on machines without CUDA when the config sets
``cpu_bf16 = True`` (see :func:`lvseg.engine.device_fallbacks.adapt_config_to_cpu`).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmseg.registry import OPTIM_WRAPPERS

# /proc/cpuinfo flags of native bf16 arithmetic: x86 AVX512-BF16 and AMX-BF16, Arm's BF16 extension.
BF16_CPU_FLAGS = frozenset({'avx512_bf16', 'amx_bf16', 'bf16'})


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU computes in bf16 natively, from the flags (x86) or features (Arm) of ``/proc/cpuinfo``
    (or of ``cpuinfo``, its text). False where that file does not exist (not Linux)."""
    if cpuinfo is None:
        path = Path('/proc/cpuinfo')
        if not path.is_file():
            return False
        cpuinfo = path.read_text()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(':')
        if key.strip() in ('flags', 'Features') and BF16_CPU_FLAGS & set(value.split()):
            return True
    return False


@OPTIM_WRAPPERS.register_module()
class CpuBf16OptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward pass (``optim_context``, which mmengine's ``train_step`` wraps around the
    data preprocessor and the losses) runs under ``torch.autocast('cpu', dtype=torch.bfloat16)``.

    Parameters, gradients and optimizer state stay fp32. Takes ``OptimWrapper``'s arguments, and ``dtype``
    ('bfloat16' only) so that it reads an ``AmpOptimWrapper`` config.
    """

    def __init__(self, dtype: str | torch.dtype = 'bfloat16', **kwargs) -> None:
        if dtype not in ('bfloat16', torch.bfloat16):
            raise ValueError(f'CpuBf16OptimWrapper autocasts to bfloat16 only, got dtype={dtype!r}')
        super().__init__(**kwargs)

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        with super().optim_context(model), torch.autocast('cpu', dtype=torch.bfloat16):
            yield

