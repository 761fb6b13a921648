"""Hooks that stop a training run when it has gone wrong, saying where and why."""
from __future__ import annotations

import math

from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

_EXAMPLES = 8  # file names listed of a batch


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
