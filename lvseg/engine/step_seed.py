"""Seeding by training step, so that a resumed run draws the same random numbers as an uninterrupted one."""
from __future__ import annotations

import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

_TORCH_STREAM, _DATA_STREAM = 0, 1


def step_seed(seed: int, stream: int, step: int) -> int:
    """A 32-bit seed mixed from the run's ``seed``, a stream id and a step number (numpy's ``SeedSequence``)."""
    return int(np.random.SeedSequence([seed % 2**32, stream, step]).generate_state(1)[0])


@HOOKS.register_module()
class StepSeedHook(Hook):
    """Reseed torch's generators before each training iteration from ``(runner.seed, iteration)``, and Python's
    and numpy's before each training epoch from ``(runner.seed, epoch)``.

    mmengine resumes the weights, optimizer, schedulers, EMA, message hub and iteration count, and an
    iteration-based loop replays the data loader up to the resumed iteration; but it saves no random state,
    so after ``--resume`` dropout, drop-path, MixToken boxes and random erasing draw other numbers than the
    uninterrupted run would have (and validation in between consumes torch's generator too). With this hook
    those draws depend only on the seed and the iteration, and the data augmentations of the main process
    (``num_workers=0``) of an epoch only on the seed and the epoch, whatever ran before. ``runner.seed`` already
    differs per rank when ``randomness.diff_rank_seed=True``. Data loader workers are seeded by mmengine
    (per worker, the same every epoch unless ``persistent_workers=True``): with persistent workers an
    epoch-based run resumed at epoch ``k`` repeats epoch 1's augmentations, a known gap.
    """

    priority = 'VERY_HIGH'  # before anything of the iteration draws random numbers

    def before_train_epoch(self, runner) -> None:
        seed = step_seed(runner.seed, _DATA_STREAM, runner.epoch)
        random.seed(seed)
        np.random.seed(seed)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        torch.manual_seed(step_seed(runner.seed, _TORCH_STREAM, runner.iter))
