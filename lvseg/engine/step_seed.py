"""Seeding by training step and rank, so that a resumed run draws the same random numbers as an uninterrupted one,
and no two ranks of a run draw the same ones."""
from __future__ import annotations

import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ..datasets.sample_seed import seed_all

_STEP_STREAM, _DATA_STREAM = 0, 1
SAMPLE_STREAM = 2  # per-sample augmentation seeds (lvseg.engine.mid_epoch_resume)


def step_seed(seed: int, stream: int, *steps: int) -> int:
    """A 32-bit seed mixed from the run's ``seed``, a stream id and step numbers (numpy's ``SeedSequence``)."""
    return int(np.random.SeedSequence([seed % 2**32, stream, *steps]).generate_state(1)[0])


@HOOKS.register_module()
class StepSeedHook(Hook):
    """Make the random draws of each training iteration depend on ``(runner.seed, rank, iteration)`` only, and
    those of the main process's data augmentations (``num_workers=0``) on ``(runner.seed, rank, epoch)`` only.

    mmengine resumes the weights, optimizer, schedulers, EMA, message hub and iteration count, and an
    iteration-based loop replays the data loader up to the resumed iteration; but it saves no random state,
    so after ``--resume`` dropout, drop-path, MixToken boxes and random erasing (timm's draws from Python's
    ``random``) would draw other numbers than the uninterrupted run (validation in between draws too). This
    hook seeds Python's, numpy's and torch's generators before each training iteration from the iteration,
    and gives them back their previous states after it; so the data augmentations of the main process draw
    from streams seeded at each epoch's start and used by nothing else, which an iteration-based loop's replay
    consumes exactly as the original run did.

    The rank is part of every seed: the configs' ``randomness=dict(seed=...)`` gives every rank the same
    ``runner.seed``, and without the rank each rank of a run would draw the same MixToken box, drop-path masks,
    erasing boxes and (``augment_on='device'``) crops, flips and RandAugment ops for its image ``b`` as every
    other rank. mmengine's ``randomness.diff_rank_seed`` is no substitute: without a seed it draws a fresh one per
    run, which a resumed run cannot repeat. So the draws are reproducible for a given seed and rank, that is for a
    given seed and world size, and a run resumed on the same number of ranks continues as the uninterrupted one.
    Data loader workers are seeded by mmengine (per worker and rank, the same every epoch unless
    ``persistent_workers=True``); pretraining's ``ResumableSampler`` seeds each sample instead
    (:mod:`lvseg.engine.mid_epoch_resume`).
    """

    priority = 'VERY_HIGH'  # first in every stage: seeded before the iteration draws; restored before the other
    # hooks' after_train_iter, none of which draws random numbers

    def __init__(self) -> None:
        self._data_states: tuple | None = None

    def before_train_epoch(self, runner) -> None:
        seed_all(step_seed(runner.seed, _DATA_STREAM, runner.rank, runner.epoch))

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._data_states = random.getstate(), np.random.get_state(), torch.get_rng_state()
        seed_all(step_seed(runner.seed, _STEP_STREAM, runner.rank, runner.iter))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        python_state, numpy_state, torch_state = self._data_states
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
