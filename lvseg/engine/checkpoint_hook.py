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

from ..checkpoints.io import write_text_atomically

# What lvseg.checkpoints.io.atomic_write_path leaves behind when killed: '.<name>.<mkstemp's 8 chars>.part'.
_PART_FILE = re.compile(r'^\..+\.[a-z0-9_]{8}\.part$')


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) whose checkpoints survive ``kill -9`` at any moment.

    mmengine 0.10.7 deletes the oldest kept checkpoint *before* writing the new one, then writes the
    ``last_checkpoint`` pointer in place: with ``max_keep_ckpts=1`` a kill during the write leaves no checkpoint
    at all and a pointer to a deleted file, and a kill during the pointer's write leaves it empty. This hook
    writes the new checkpoint, then the pointer (through a temporary file and a rename), and only then deletes
    the outdated checkpoint. The checkpoint file itself is written atomically by ``Runner.save_checkpoint``
    (patched in :mod:`lvseg.compat`). Before training it removes the ``.part`` files of writes that a kill
    interrupted. Best checkpoints (``save_best``) keep mmengine's order: the previous best is deleted before
    the new one is written (a kill in between loses the best checkpoint, never the one to resume from).
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not is_main_process() or not isinstance(self.file_backend, LocalBackend):
            return
        for folder in {Path(self.out_dir), Path(runner.work_dir)}:
            for part in (p for p in folder.glob('.*.part') if _PART_FILE.match(p.name)):
                part.unlink(missing_ok=True)
                print_log(f'removed {part}, a checkpoint write that was interrupted', logger='current',
                          level=logging.WARNING)

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        outdated = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(self.out_dir, ckpt_filename, self.file_client_args,
                               save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler,
                               meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        write_text_atomically(self.last_ckpt, osp.join(runner.work_dir, 'last_checkpoint'))
        if outdated is not None:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(outdated))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # checkpoints saved by DeepSpeed are folders
                self.file_backend.rmtree(path)


def use_atomic_checkpoint_hook(cfg: Config) -> bool:
    """Swap mmengine's ``CheckpointHook`` in ``cfg.default_hooks.checkpoint`` for :class:`AtomicCheckpointHook`
    (same arguments); a config without that entry gets one with mmengine's default ``interval=1``. Return
    whether the config changed."""
    hooks = cfg.get('default_hooks')
    if hooks is None:
        cfg.default_hooks = hooks = {}
    if 'checkpoint' not in hooks:
        hooks['checkpoint'] = dict(type='AtomicCheckpointHook', interval=1)
        return True
    checkpoint = hooks['checkpoint']
    if isinstance(checkpoint, dict) and checkpoint.get('type') in ('CheckpointHook', 'mmengine.CheckpointHook',
                                                                   CheckpointHook):
        checkpoint['type'] = 'AtomicCheckpointHook'
        return True
    return False
