"""Let GPU configs run where there is no GPU (a laptop, CI, this project's 2-core test machine).

The published recipes ask for AMP, SyncBN, NCCL and one GPU per process. mmengine 0.10 refuses each of
these on a CPU-only machine: ``AmpOptimWrapper`` asserts a GPU, the ``pytorch`` launcher calls
``torch.cuda.set_device``, DDP gets ``device_ids=[0]``, and SyncBN raises in a distributed CPU run.
:class:`~lvseg.engine.runner.LvsegRunner` calls :func:`adapt_config_to_cpu` and :func:`init_cpu_process_group`
so that the very same config runs, in fp32 (in bf16 with ``cpu_bf16 = True`` on CPUs that have it) and on
gloo; it logs each change once. Nothing changes where CUDA is
available, except on GPUs without bfloat16 (before Ampere: V100, T4), where :func:`adapt_amp_to_gpu` turns the
configs' bf16 autocast into fp16 with dynamic loss scaling.
"""
from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist
from mmengine.config import Config

from .cpu_bf16 import cpu_has_native_bf16


def _replace_types(node: Any, old: str, new: str) -> int:
    """Rename ``type=old`` to ``type=new`` in every dict below ``node``; return how many were renamed."""
    count = 0
    if isinstance(node, dict):
        if node.get('type') == old:
            node['type'] = new
            count += 1
        for value in node.values():
            count += _replace_types(value, old, new)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += _replace_types(value, old, new)
    return count


def adapt_config_to_cpu(cfg: Config, distributed: bool) -> list[str]:
    """Edit ``cfg`` in place for a machine without CUDA; return one line per change."""
    if torch.cuda.is_available():
        return []
    changes = adapt_amp_to_cpu(cfg)
    if distributed:
        renamed = sum(_replace_types(value, 'SyncBN', 'BN') for value in cfg.values())  # the options, in place
        if renamed:
            changes.append(f'SyncBN -> BN in {renamed} places: SyncBatchNorm needs GPU tensors')
        cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None,
                                     broadcast_buffers=False)
        changes.append('distributed backend gloo, DDP on CPU (device_ids=None)')
    return [f'[no GPU] {line}' for line in changes]


def adapt_amp_to_cpu(cfg: Config) -> list[str]:
    """Replace an ``AmpOptimWrapper`` (which mmengine allows on GPUs only): by lvseg's ``CpuBf16OptimWrapper``
    (bf16 autocast on the CPU) when the config sets ``cpu_bf16 = True``, its dtype is bf16 (or unset) and the CPU
    has bf16 instructions; by the fp32 ``OptimWrapper`` otherwise. Returns one line per change (not logged)."""
    optim_wrapper = cfg.get('optim_wrapper', {})
    if optim_wrapper.get('type') != 'AmpOptimWrapper':
        return []
    optim_wrapper.pop('loss_scale', None)
    dtype = optim_wrapper.pop('dtype', None)
    if not cfg.get('cpu_bf16', False):
        reason = 'mmengine allows AMP on GPUs only (cpu_bf16=True: bf16 on CPUs that have it)'
    elif dtype not in (None, 'bfloat16', torch.bfloat16):
        reason = f'cpu_bf16=True, but optim_wrapper.dtype is {dtype}: the CPU autocasts to bfloat16 only'
    elif not cpu_has_native_bf16():
        reason = 'cpu_bf16=True, but this CPU has no bf16 instructions (avx512_bf16, amx_bf16 or Arm bf16)'
    else:
        optim_wrapper['type'] = 'CpuBf16OptimWrapper'
        return ['AmpOptimWrapper -> CpuBf16OptimWrapper: bf16 autocast on the CPU (cpu_bf16=True)']
    optim_wrapper['type'] = 'OptimWrapper'
    return [f'AmpOptimWrapper -> OptimWrapper (fp32): {reason}']


def adapt_amp_to_gpu(cfg: Config) -> list[str]:
    """On a GPU without bfloat16 support, make a bf16 ``AmpOptimWrapper`` autocast to fp16 with dynamic loss
    scaling (fp16's range needs it); return one line per change."""
    optim_wrapper = cfg.get('optim_wrapper', {})
    if (optim_wrapper.get('type') != 'AmpOptimWrapper' or optim_wrapper.get('dtype') not in ('bfloat16', torch.bfloat16)
            or not torch.cuda.is_available() or gpu_has_native_bf16()):
        return []
    optim_wrapper.update(dtype='float16', loss_scale='dynamic')
    return [f'{torch.cuda.get_device_name()} has no bfloat16: AMP in float16 with dynamic loss scaling']


def gpu_has_native_bf16() -> bool:
    """Whether the current CUDA device computes in bfloat16 natively (Ampere and later).

    ``torch.cuda.is_bf16_supported()`` counts emulation by default (``including_emulation=True``), so a V100 or a
    T4 says yes and then runs bf16 autocast through slow emulated kernels: ask without emulation."""
    return torch.cuda.is_bf16_supported(including_emulation=False)


def init_cpu_process_group(launcher: str) -> None:
    """For ``--launcher pytorch`` without CUDA, join the gloo process group that torchrun describes.

    mmengine's launcher would call ``torch.cuda.set_device``; the Runner skips its own ``init_dist`` when a
    process group already exists.
    """
    if launcher != 'pytorch' or torch.cuda.is_available() or dist.is_initialized():
        return
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT') if k not in os.environ]
    if missing:
        raise RuntimeError(f'--launcher pytorch expects the variables torchrun sets; missing {missing}. '
                           'Start with: torchrun --nproc_per_node=N tools/train.py CONFIG --launcher pytorch')
    dist.init_process_group(backend='gloo')
