"""Resuming an epoch-based run from a checkpoint taken in the middle of an epoch, with the same data.

mmengine 0.10.7's ``EpochBasedTrainLoop`` restarts a resumed epoch from its first batch: after a checkpoint
taken at batch ``k`` of an epoch (``AtomicCheckpointHook(mid_epoch_interval=...)``) it would train on those
``k`` batches twice and run ``k`` iterations past the schedule. :class:`ResumableEpochBasedTrainLoop` starts
the epoch at batch ``k`` instead, and :class:`ResumableSampler` (mmengine's ``DefaultSampler``: same
arguments, same order) leaves out the ``k`` batches' samples without loading them.

The samples that follow must also be augmented as in the uninterrupted run, whatever was drawn before and
whichever data loader worker loads them. So the sampler hands out
:class:`~lvseg.datasets.sample_seed.SeededIndex` es, the sample's index with a seed derived from
``(sampler seed, epoch, index)``, and a data set that mixes in
:class:`~lvseg.datasets.sample_seed.PerSampleSeeding` (as ``ImageNetTokenLabelDataset`` does) reseeds Python's,
numpy's and torch's generators with it before the sample is loaded: a sample's crop, flip and RandAugment depend
on the seed, the epoch and the sample alone, with any number of workers, persistent or not. The runner refuses
a ``ResumableSampler`` over a data set that does not honour the seeds (:mod:`lvseg.engine.run_policy`).
"""
from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from mmengine.dataset import DefaultSampler
from mmengine.runner import EpochBasedTrainLoop
from mmseg.registry import DATA_SAMPLERS, LOOPS

from ..datasets.sample_seed import SeededIndex
from .config_checks import ConfigError
from .step_seed import SAMPLE_STREAM, step_seed


@DATA_SAMPLERS.register_module()
class ResumableSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` (same arguments, the same indices in the same order, split over ranks alike)
    that yields :class:`~lvseg.datasets.sample_seed.SeededIndex` es and can start its next pass part-way through
    (:meth:`start_at`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._start = 0

    def start_at(self, position: int) -> None:
        """Make the next pass begin at this rank's ``position``-th index (the ones before were trained on)."""
        if not 0 <= position < self.num_samples:
            raise ValueError(f'cannot start an epoch at sample {position}: this rank has {self.num_samples}')
        self._start = position

    def __iter__(self) -> Iterator[SeededIndex]:
        start, self._start = self._start, 0
        epoch = self.epoch
        # Seeds are made as the loader asks for indices, not all at the epoch's start (an epoch holds millions).
        return (SeededIndex(index, step_seed(self.seed, SAMPLE_STREAM, epoch, index))
                for index in islice(super().__iter__(), start, None))


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` (same arguments) that resumes mid-epoch where the checkpoint was taken.

    After ``--resume`` from a checkpoint of iteration ``i`` in epoch ``e`` (``meta`` ``epoch=e, iter=i``, as
    ``AtomicCheckpointHook`` writes mid-epoch), the epoch starts at batch ``i - e * len(dataloader)``: the
    sampler (a :class:`ResumableSampler`) skips the samples of the batches already trained on, and the hooks
    see the true batch index. Every epoch must have had ``len(dataloader)`` iterations: resuming with another
    batch size or number of processes than the checkpoint's run stops with a :class:`ConfigError`.

    Built on mmengine's public loop: ``run_epoch`` calls ``run_iter(idx, batch)`` for the batches of
    ``self.dataloader``, ``idx`` counting from 0; the batches skipped are added to ``idx``.
    """

    batches_skipped = 0  # batches of the current epoch trained on before the resumed checkpoint

    def run_epoch(self) -> None:
        """Iterate the rest of the current epoch (all of it, unless resumed mid-epoch)."""
        done = self.iter - self.epoch * len(self.dataloader)
        if done:
            self._start_epoch_at(done)
        self.batches_skipped = done
        try:
            super().run_epoch()
        finally:
            self.batches_skipped = 0

    def run_iter(self, idx: int, data_batch) -> None:
        """mmengine's, for the batch ``idx`` of the epoch (counting the batches skipped on resuming)."""
        super().run_iter(idx + self.batches_skipped, data_batch)

    def _start_epoch_at(self, batch: int) -> None:
        batches = len(self.dataloader)
        if not 0 < batch < batches:
            raise ConfigError(f'the resumed checkpoint is at iteration {self.iter}, epoch {self.epoch}: batch '
                             f'{batch} of an epoch that has {batches} batches here; was it written with another '
                             'batch size or number of processes?')
        sampler = self.dataloader.sampler
        if not isinstance(sampler, ResumableSampler):
            raise ConfigError(f'resuming in the middle of epoch {self.epoch + 1} needs train_dataloader.sampler='
                             f"dict(type='ResumableSampler', ...), not {type(sampler).__name__}")
        sampler.start_at(batch * self.dataloader.batch_sampler.batch_size)
        self.runner.logger.info(f'epoch {self.epoch + 1} resumes at batch {batch + 1} of {batches}')
