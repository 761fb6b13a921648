"""Per-sample seeds: a sample's random augmentations depend on its seed alone, not on what was drawn before.

A sampler that yields :class:`SeededIndex` es (pretraining's :class:`~lvseg.engine.mid_epoch_resume.ResumableSampler`)
and a data set that honours them (:class:`PerSampleSeeding`, which :class:`~.imagenet.ImageNetTokenLabelDataset`
mixes in) make the augmentation of every sample reproducible whichever data loader worker loads it and however
a run was interrupted; the runner checks that a config pairs them (see :mod:`lvseg.engine.run_policy`).
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


class SeededIndex(int):
    """A sample index (an ``int`` to any data set) that carries the seed of the sample's random augmentations."""

    seed: int

    def __new__(cls, index: int, seed: int) -> SeededIndex:
        item = super().__new__(cls, index)
        item.seed = seed
        return item

    def __reduce__(self):  # data loader workers receive indices pickled
        return SeededIndex, (int(self), self.seed)


def seed_all(seed: int, accelerators: bool = True) -> None:
    """Seed Python's, numpy's and torch's global generators.

    With ``accelerators=False`` torch's CPU generator alone: ``torch.manual_seed`` also queues a reseed of the
    CUDA, XPU and MTIA generators, formatting a Python stack trace for each (a fraction of a millisecond a call,
    ``bench/data_pipeline.py``), a cost that per-sample seeding of CPU-only augmentations need not pay.
    """
    random.seed(seed)
    np.random.seed(seed)
    if accelerators:
        torch.manual_seed(seed)
    else:
        torch.default_generator.manual_seed(seed)


def seed_sample(index: int) -> None:
    """Reseed Python's, numpy's and torch's CPU generators with ``index.seed`` if ``index`` is a
    :class:`SeededIndex`; leave them alone for a plain index. (A sample's augmentations run on the CPU: the
    accelerators' generators are left alone, which saves the cost of their queued reseeds, see ``seed_all``.)"""
    seed = getattr(index, 'seed', None)
    if seed is not None:
        seed_all(seed, accelerators=False)


class PerSampleSeeding:
    """Mix-in for a data set (before its base class) whose ``__getitem__`` reseeds the global generators from a
    :class:`SeededIndex` before the sample's pipeline runs; a plain index leaves them alone."""

    seeds_samples = True  # what the runner's pairing check looks for

    def __getitem__(self, index: int) -> Any:
        seed_sample(index)
        return super().__getitem__(index)
