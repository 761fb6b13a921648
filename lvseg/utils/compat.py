"""What lvseg assumes of other libraries' private names, in one place.

Where mmengine, mmseg, torch or numpy offer no public way to do what lvseg needs, the private name is touched here
and nowhere else: each function (or adapter class) says what it assumes, and tests/test_utils/test_compat.py holds
one test per assumption, so that a release that changes one fails that test rather than a user's run.
tests/test_utils/test_private_names.py checks that no other module of lvseg names these private names.

Read against mmengine 0.10.7, mmseg 1.2.2, torch 2.14 and numpy 2.4 (mmseg and numpy need nothing here today:
lvseg reaches them through public names only).

This module lives in :mod:`lvseg.utils`, the floor every lvseg package may import, rather than in
:mod:`lvseg.engine`: :mod:`lvseg.checkpoints.safe_load` needs :func:`history_buffer_statistics`, and
``checkpoints`` must not import the engine, which sits above it.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

from mmengine.hooks import CheckpointHook
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner import BaseLoop, Runner


# ---------------------------------------------------------------------------------------------------- mmengine
def built_train_loop(runner: Runner) -> BaseLoop | None:
    """The runner's train loop if it is built, else None, without building it.

    mmengine's public ``Runner.train_loop`` builds the loop (and with it the training data set) when it is read.
    Assumes ``Runner._train_loop`` holds the loop's config (a dict, or None) until the loop is built, then the
    :class:`~mmengine.runner.BaseLoop`.
    """
    loop = runner._train_loop
    return loop if isinstance(loop, BaseLoop) else None


def requested_checkpoint(runner: Runner) -> tuple[str | None, bool]:
    """``(load_from, resume)``: the checkpoint the runner was asked to load and whether to resume from it.

    Assumes ``Runner.__init__`` keeps its ``load_from`` and ``resume`` arguments as ``_load_from`` and ``_resume``
    (mmengine's ``load_or_resume`` reads them there).
    """
    return runner._load_from, runner._resume


def has_loaded_checkpoint(runner: Runner) -> bool:
    """Whether the runner has loaded (or resumed from) a checkpoint, after which its ``load_or_resume`` does nothing.

    Assumes the flag ``Runner._has_loaded``, which ``Runner.load_or_resume`` reads and ``load_checkpoint`` /
    ``resume`` set.
    """
    return runner._has_loaded


def mark_checkpoint_loaded(runner: Runner) -> None:
    """Record that the runner has loaded a checkpoint (what mmengine's own ``load_checkpoint`` records), so that
    mmengine's ``load_or_resume`` does not load again. Assumes the flag ``Runner._has_loaded``."""
    runner._has_loaded = True


def subset_indices(dataset: object) -> int | Sequence[int] | None:
    """The ``indices`` argument an mmengine ``BaseDataset`` was built with (a subset of its data list), or None.

    Assumes ``BaseDataset.__init__`` keeps the argument as ``_indices``; any other object gives None.
    """
    return getattr(dataset, '_indices', None)


def history_buffer_statistics() -> frozenset[str]:
    """The names of the statistics methods registered on mmengine's ``HistoryBuffer`` (``min``, ``max``,
    ``current``, ``mean`` and any ``HistoryBuffer.register_statistics`` added).

    A pickled ``HistoryBuffer`` (in every checkpoint mmengine writes, through its ``MessageHub``) refers to these
    methods as ``getattr(HistoryBuffer, name)``; a safe unpickler allows exactly these names. Assumes the class
    attribute ``HistoryBuffer._statistics_methods``, a dict keyed by name, which a ``HistoryBuffer()`` fills with
    the four defaults.
    """
    HistoryBuffer()  # registers the default statistics on the class
    return frozenset(HistoryBuffer._statistics_methods)


class CheckpointHookSaveSteps(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) whose two saving steps a subclass overrides under public names:
    :meth:`save_checkpoint_with_step` and :meth:`save_best_checkpoint`; their defaults are mmengine's.

    Assumes that ``CheckpointHook`` writes every regular checkpoint (``after_train_epoch`` / ``after_train_iter``),
    and re-writes the latest one after a new best, through ``_save_checkpoint_with_step(runner, step, meta)``, and
    every best checkpoint through ``_save_best_checkpoint(runner, metrics)``, called from ``after_val_epoch``.
    """

    def save_checkpoint_with_step(self, runner: Runner, step: int, meta: dict) -> None:
        """Save the checkpoint of ``step`` (an epoch or an iteration, as ``by_epoch``) with ``meta``, delete the
        outdated ones, and record it in ``<work_dir>/last_checkpoint``: mmengine's."""
        super()._save_checkpoint_with_step(runner, step, meta)

    def save_best_checkpoint(self, runner: Runner, metrics: Mapping) -> None:
        """Save a new best checkpoint if ``metrics`` beat the best so far, deleting the previous best: mmengine's."""
        super()._save_best_checkpoint(runner, metrics)

    def _save_checkpoint_with_step(self, runner: Runner, step: int, meta: dict) -> None:
        self.save_checkpoint_with_step(runner, step, meta)

    def _save_best_checkpoint(self, runner: Runner, metrics: Mapping) -> None:
        self.save_best_checkpoint(runner, metrics)


# ---------------------------------------------------------------------------------------------------- torch
def with_state_dict_metadata(state_dict: OrderedDict, source: Mapping) -> OrderedDict:
    """``state_dict`` (a rewritten copy of ``source``) carrying ``source``'s per-module metadata; returns it.

    Assumes torch keeps a state dict's per-module versions (BatchNorm's, say, which decide how an old file loads)
    in its attribute ``_metadata``, which ``Module.state_dict`` sets and ``Module.load_state_dict`` reads; a plain
    copy of the dict loses it.
    """
    state_dict._metadata = getattr(source, '_metadata', OrderedDict())
    return state_dict
