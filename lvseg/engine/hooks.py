"""Hooks that watch a training run: stop it when it has gone wrong, saying where and why; report what it did to
get by (images decoded on the CPU instead of the GPU)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

if TYPE_CHECKING:  # lvseg.datasets.device_decode imports lvseg.engine
    from ..datasets.device_decode import DecodeStats

_EXAMPLES = 8  # file names listed of a batch
# A training batch that decoded more than this share of its images on the CPU while training on a GPU is warned
# about (the training process decodes those itself, between steps).
CPU_DECODE_SHARE = 0.25


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


def _last_finite(values, before: int) -> tuple[int, float] | None:
    """``(index, value)`` of the last finite entry of ``values[:before]``, or None."""
    for index in range(before - 1, -1, -1):
        if math.isfinite(values[index]):
            return index, float(values[index])
    return None


def _batch_files(data_batch) -> list[str]:
    """The image files of a batch (``data_samples[i].img_path``), as far as the samples record them."""
    samples = data_batch.get('data_samples', []) if isinstance(data_batch, dict) else []
    return [str(s.metainfo.get('img_path', '?')) for s in samples if hasattr(s, 'metainfo')]


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training at the first iteration whose loss is NaN or infinite.

    Raises :class:`NonFiniteLossError` (and logs it) naming the iteration (1-based, as mmengine's log lines), the
    non-finite loss terms, the last finite total loss and its iteration, and the image files of the batch. It
    runs before the ``CheckpointHook``, so no checkpoint of the broken weights is written: ``--resume`` goes
    back to the last good one.

    It costs no device synchronisation: it reads the losses that mmengine's ``RuntimeInfoHook`` has already
    copied to the message hub as Python floats (``train/loss``, ``train/loss_*``) in the same
    ``after_train_iter``; the last finite loss comes from the message hub's history of ``train/loss``.
    """

    priority = 'NORMAL'  # after RuntimeInfoHook (VERY_HIGH), before LoggerHook and CheckpointHook

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: dict | None = None) -> None:
        hub = runner.message_hub
        if 'train/loss' not in hub.log_scalars:
            return
        if math.isfinite(hub.get_scalar('train/loss').current()):
            return
        values = hub.get_scalar('train/loss').data[0]  # the history, one entry per iteration
        iteration = runner.iter + 1
        terms = {key: hub.get_scalar(f'train/{key}').current() for key in (outputs or {})
                 if 'loss' in key and f'train/{key}' in hub.log_scalars}
        bad = ', '.join(f'{key}={value}' for key, value in terms.items() if not math.isfinite(value))
        last = _last_finite(values, len(values) - 1)
        last_text = ('no finite loss before it in this run' if last is None else
                     f'last finite loss {last[1]:.6g} at iteration {iteration - (len(values) - 1 - last[0])}')
        files = _batch_files(data_batch)
        rank = f' on rank {get_rank()}' if get_world_size() > 1 else ''
        message = (f'non-finite loss at iteration {iteration}{rank}: {bad or f"loss={values[-1]}"}; {last_text}; '
                   f'batch of {len(files)} images: {", ".join(files[:_EXAMPLES])}'
                   f'{", ..." if len(files) > _EXAMPLES else ""}. Stopped before saving a checkpoint; lower the lr '
                   'or clip gradients (optim_wrapper.clip_grad), check these images, and --resume from the last '
                   'checkpoint')
        runner.logger.error(message)
        raise NonFiniteLossError(message)


@HOOKS.register_module()
class DecodeStatsHook(Hook):
    """Report how ``augment_on='device'`` decoded the training images: at the end of each epoch, how many took each
    decoding path (:class:`~lvseg.datasets.device_decode.DecodeStats`, kept by the model's data preprocessor as
    ``decode_stats``); and a warning at the first batch of an epoch that decoded more than :data:`CPU_DECODE_SHARE`
    of its images on the CPU while training on a GPU. The counts are this process's (rank 0's in the log). Does
    nothing for a model whose data preprocessor keeps no ``decode_stats``.
    """

    priority = 'NORMAL'

    def __init__(self) -> None:
        self.cpu_heavy_batches = 0  # batches of this epoch above CPU_DECODE_SHARE

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        stats = _decode_stats(runner)
        if stats is None or stats.batch_cpu_share() <= CPU_DECODE_SHARE:
            return
        self.cpu_heavy_batches += 1
        if self.cpu_heavy_batches == 1:
            runner.logger.warning(
                f'iteration {runner.iter + 1}: {stats.batch_cpu_share():.0%} of the batch was decoded on the CPU '
                f'({stats.describe(stats.batch)}), more than {CPU_DECODE_SHARE:.0%}: the GPU waits for the training '
                'process to decode them (further such batches of this epoch are counted at its end)')

    def after_train_epoch(self, runner) -> None:
        stats = _decode_stats(runner)
        if stats is None or not stats.total:
            return
        heavy = (f'; batches decoded more than {CPU_DECODE_SHARE:.0%} on the CPU: {self.cpu_heavy_batches}'
                 if self.cpu_heavy_batches else '')
        runner.logger.info(f'epoch {runner.epoch + 1}: images decoded by path: {stats.describe(stats.total)}{heavy}')
        stats.reset()
        self.cpu_heavy_batches = 0


def _decode_stats(runner) -> DecodeStats | None:
    """The ``decode_stats`` of the data preprocessor of ``runner.model`` (unwrapped from DDP), or None."""
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    return getattr(getattr(model, 'data_preprocessor', None), 'decode_stats', None)
