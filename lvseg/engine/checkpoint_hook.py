"""A ``CheckpointHook`` after which a crash at any moment leaves a complete checkpoint to resume from."""
from __future__ import annotations

import logging
import os.path as osp
import re
from pathlib import Path

from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

from ..utils.atomic_write import PART_SUFFIX, write_text_atomically
from ..utils.compat import CheckpointHookSaveSteps

# What lvseg.utils.atomic_write.atomic_write_path leaves behind when killed: '.<name>.<8 hex digits>.part'.
_PART_FILE = re.compile(r'^\..+\.[0-9a-f]{8}' + re.escape(PART_SUFFIX) + '$')
MID_EPOCH_TEMPLATE = 'iter_{}.pth'
MID_EPOCH_KEY = 'mid_epoch_ckpt'  # message hub info: the path of the mid-epoch checkpoint that is kept


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHookSaveSteps):
    """mmengine's ``CheckpointHook`` (same arguments) whose checkpoints survive ``kill -9`` at any moment, and
    that can also save in the middle of long epochs.

    mmengine 0.10.7 deletes the oldest kept checkpoint *before* writing the new one, then writes the
    ``last_checkpoint`` pointer in place: with ``max_keep_ckpts=1`` a kill during the write leaves no checkpoint
    at all and a pointer to a deleted file, and a kill during the pointer's write leaves it empty. It also
    deletes the previous best checkpoint (``save_best``) before writing the new best. This hook writes the new
    checkpoint, then the pointer (through a temporary file and a rename), and only then deletes what the new
    checkpoint replaces. The checkpoint file itself is written atomically by
    :meth:`lvseg.engine.runner.LvsegRunner.save_checkpoint`. Before training it removes the ``.part`` files of
    writes that a kill interrupted.

    Args:
        mid_epoch_interval: with ``by_epoch=True``, also save every this many iterations inside an epoch, to
            ``iter_<iteration>.pth``, so that a kill loses at most that many iterations; ``--resume`` continues
            from there with :class:`~lvseg.engine.mid_epoch_resume.ResumableEpochBasedTrainLoop`. One such file
            is kept: the next one, or the checkpoint at the end of the epoch, replaces it. 0 (default): none.
        *args, **kwargs: those of mmengine's ``CheckpointHook``.
    """

    def __init__(self, *args, mid_epoch_interval: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if mid_epoch_interval < 0:
            raise ValueError(f'mid_epoch_interval must be 0 (off) or a number of iterations, got {mid_epoch_interval}')
        self.mid_epoch_interval = mid_epoch_interval

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not is_main_process() or not isinstance(self.file_backend, LocalBackend):
            return
        for folder in {Path(self.out_dir), Path(runner.work_dir)}:
            for part in (p for p in folder.glob(f'.*{PART_SUFFIX}') if _PART_FILE.match(p.name)):
                part.unlink(missing_ok=True)
                print_log(f'removed {part}, a checkpoint write that was interrupted', logger='current',
                          level=logging.WARNING)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        done = batch_idx + 1
        if (self.by_epoch and self.mid_epoch_interval and done % self.mid_epoch_interval == 0
                and done < len(runner.train_dataloader)):
            self._save_mid_epoch_checkpoint(runner)

    def _save_mid_epoch_checkpoint(self, runner) -> None:
        """Save ``iter_<n>.pth`` (meta: the unfinished epoch, the iterations done), point ``last_checkpoint`` at
        it, then delete the previous mid-epoch checkpoint."""
        previous = runner.message_hub.get_info(MID_EPOCH_KEY)
        filename = MID_EPOCH_TEMPLATE.format(runner.iter + 1)
        path = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info(MID_EPOCH_KEY, path)  # saved in the checkpoint: deleted after a resume too
        runner.logger.info(f'Saving checkpoint at {runner.iter + 1} iterations (epoch {runner.epoch + 1} goes on)')
        runner.save_checkpoint(self.out_dir, filename, self.file_client_args, save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler,
                               meta=dict(epoch=runner.epoch, iter=runner.iter + 1), by_epoch=False,
                               backend_args=self.backend_args, **self.args)
        if is_main_process():
            write_text_atomically(path, osp.join(runner.work_dir, 'last_checkpoint'))
            if previous != path:
                self._remove(previous)

    def save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        """Save the checkpoint of ``step``, then point ``last_checkpoint`` at it (atomically), then delete the
        outdated checkpoint and the mid-epoch one it replaces."""
        outdated = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        mid_epoch = runner.message_hub.get_info(MID_EPOCH_KEY)
        runner.message_hub.update_info(MID_EPOCH_KEY, None)

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(self.out_dir, ckpt_filename, self.file_client_args,
                               save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler,
                               meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        write_text_atomically(self.last_ckpt, osp.join(runner.work_dir, 'last_checkpoint'))
        self._remove(mid_epoch)
        if outdated is not None:
            self._remove(self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(outdated)))

    def save_best_checkpoint(self, runner, metrics) -> None:
        """mmengine's, with the previous best deleted after the new best is written, not before."""
        backend = self.file_backend
        self.file_backend = _DeferredRemovals(backend)
        try:
            super().save_best_checkpoint(runner, metrics)
        finally:
            deferred, self.file_backend = self.file_backend.removed, backend
        kept = {getattr(self, 'best_ckpt_path', None), *getattr(self, 'best_ckpt_path_dict', {}).values()}
        for path in deferred:
            if path not in kept:  # a best of the same name was just rewritten
                self._remove(path)

    def _remove(self, path: str | None) -> None:
        """Delete a checkpoint file (or a DeepSpeed checkpoint folder) if it exists."""
        if path is None:
            return
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):
            self.file_backend.rmtree(path)


class _DeferredRemovals:
    """A file backend that records the paths it is asked to remove instead of removing them."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.removed: list[str] = []

    def remove(self, path: str) -> None:
        self.removed.append(path)

    def rmtree(self, path: str) -> None:
        self.removed.append(path)

    def __getattr__(self, name: str):
        return getattr(self.backend, name)


def use_atomic_checkpoint_hook(cfg: Config) -> list[str]:
    """Swap mmengine's ``CheckpointHook`` in ``cfg.default_hooks.checkpoint`` for :class:`AtomicCheckpointHook`
    (same arguments); a config without that entry gets one with mmengine's default ``interval=1``. Return one
    line per change."""
    hooks = cfg.get('default_hooks')
    if hooks is None:
        cfg.default_hooks = hooks = {}
    why = '(checkpoints survive a kill at any moment)'
    if 'checkpoint' not in hooks:
        hooks['checkpoint'] = dict(type='AtomicCheckpointHook', interval=1)
        return [f'default_hooks.checkpoint: AtomicCheckpointHook added {why}']
    checkpoint = hooks['checkpoint']
    if isinstance(checkpoint, dict) and checkpoint.get('type') in ('CheckpointHook', 'mmengine.CheckpointHook',
                                                                   CheckpointHook):
        checkpoint['type'] = 'AtomicCheckpointHook'
        return [f'default_hooks.checkpoint: CheckpointHook -> AtomicCheckpointHook, same arguments {why}']
    return []
