"""Shims for what the pinned OpenMMLab releases get wrong on torch >= 2.6 and numpy 2, and for checkpoint files
that mmengine reads unsafely or writes non-atomically; applied on import.

Each shim is small, says which release it works around, and has a test that fails without it
(tests/test_compat.py, tests/test_reliability_checkpoints.py). Remove a shim when the pinned release carries
the fix.
"""
from __future__ import annotations

import argparse
import pickle

import mmengine.runner
import mmengine.runner.runner
import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.runner.checkpoint import CheckpointLoader

from .checkpoints.io import load_from_local_weights_only, save_checkpoint_atomically


def _numpy_pickle_globals() -> list:
    """The numpy callables and classes that a pickled ndarray, dtype or scalar refers to."""
    dtype_classes = {type(np.dtype(code)) for code in '?bBhHiIlLqQefdgFDGSUV'} | {type(np.dtype('O'))}
    return [np.ndarray, np.dtype, np._core.multiarray._reconstruct, np._core.multiarray.scalar,
            *sorted(dtype_classes, key=lambda cls: cls.__name__)]


def _history_buffer_statistic(owner: type, name: str):
    """Stand-in for ``getattr`` while unpickling: resolves only ``HistoryBuffer.<registered statistic>``.

    A ``HistoryBuffer`` pickles its statistics methods as ``getattr(HistoryBuffer, 'mean')``; allowing the real
    ``getattr`` would let a checkpoint reach any attribute of any allowed object.
    """
    if owner is HistoryBuffer and name in HistoryBuffer._statistics_methods:
        return getattr(owner, name)
    raise pickle.UnpicklingError(f'checkpoint asks for getattr({owner!r}, {name!r}); lvseg allows getattr only '
                                 f'for HistoryBuffer statistics {sorted(HistoryBuffer._statistics_methods)}')


def allow_checkpoint_types() -> None:
    """Let ``torch.load(weights_only=True)`` (torch >= 2.6's default) read the checkpoints lvseg meets.

    mmengine 0.10.7 calls ``torch.load`` without ``weights_only`` and stores its ``MessageHub`` in every
    checkpoint: ``HistoryBuffer`` objects holding numpy arrays and scalars, and their statistics methods as
    ``getattr(HistoryBuffer, name)``. Under torch >= 2.6, ``--resume`` and ``tools/test.py`` then fail with
    "Unsupported global: mmengine.logging.history_buffer.HistoryBuffer" (mmengine issue 1655; fixed on mmengine
    main, in no release). timm's training script, which made the official LV-ViT checkpoints, stores its
    ``argparse.Namespace``. Rather than load arbitrary pickles (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``), allow
    exactly these data-only types, and a ``getattr`` restricted to the HistoryBuffer statistics.
    """
    HistoryBuffer()  # registers the default statistics (min, max, current, mean) on the class
    torch.serialization.add_safe_globals([HistoryBuffer, argparse.Namespace, *_numpy_pickle_globals(),
                                          (_history_buffer_statistic, 'builtins.getattr')])


def load_local_checkpoints_weights_only() -> None:
    """Make mmengine load local checkpoint files with :func:`lvseg.checkpoints.io.load_checkpoint_file`.

    mmengine 0.10.7's local loader calls ``torch.load`` without ``weights_only``, so torch's default applies,
    and ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` turns it into an unpickling of anything; a refused file gives
    torch's generic advice to pass ``weights_only=False``. Every local path goes through this one loader
    (``--resume``, ``load_from``, ``init_cfg=dict(type='Pretrained')``, backbones' ``load_pretrained``): it
    passes ``weights_only=True`` explicitly and refuses a file holding other objects with a message naming the
    file and the objects, unless ``LVSEG_UNSAFE_LOAD=1`` (the tools' ``--unsafe-load``).
    """
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_weights_only, force=True)


def save_checkpoints_atomically() -> None:
    """Make mmengine's ``Runner.save_checkpoint`` write local files through a temporary file and a rename.

    mmengine 0.10.7's ``save_checkpoint`` writes the bytes straight into the final file, so a kill mid-write
    leaves a truncated checkpoint under the final name. ``Runner.save_checkpoint`` (every checkpoint of the
    ``CheckpointHook``, best ones included) calls the name ``save_checkpoint`` of ``mmengine.runner.runner``, and
    ``CheckpointHook``'s model publishing that of ``mmengine.runner``: those two names now point at
    :func:`lvseg.checkpoints.io.save_checkpoint_atomically`, which hands anything but local files back to
    mmengine. The narrowest point: the file backends' ``put`` serves every other write too, and the hook only
    decides names. (:class:`lvseg.engine.checkpoint_hook.AtomicCheckpointHook` adds what a patch cannot: the
    ``last_checkpoint`` pointer and deleting outdated checkpoints only once the new one is complete.)
    """
    mmengine.runner.runner.save_checkpoint = save_checkpoint_atomically
    mmengine.runner.save_checkpoint = save_checkpoint_atomically


def plain_dict_param_groups() -> None:
    """Give the optimizers that mmengine builds plain ``dict`` parameter groups, so ``compile=True`` works.

    mmengine 0.10.7's ``DefaultOptimWrapperConstructor`` (and lvseg's layer-decay constructor, built on it) puts
    the per-parameter groups of ``paramwise_cfg`` into the optimizer's ``ConfigDict``, which turns each group
    into a ``ConfigDict``. ``Runner(compile=True)`` (``--cfg-options compile=True``) compiles ``train_step``,
    the optimizer step included, and torch 2.14's dynamo cannot trace ``AdamW.step`` over such groups
    ("InternalTorchDynamoError: 'UserDefinedDictVariable' object has no attribute 'items'"). The groups hold
    the same keys and values either way.
    """
    build = DefaultOptimWrapperConstructor.__call__
    if getattr(build, 'lvseg_plain_groups', False):
        return

    def build_with_plain_groups(self, model):
        optim_wrapper = build(self, model)
        groups = optim_wrapper.optimizer.param_groups
        groups[:] = [dict(group) for group in groups]
        return optim_wrapper

    build_with_plain_groups.lvseg_plain_groups = True
    DefaultOptimWrapperConstructor.__call__ = build_with_plain_groups


allow_checkpoint_types()
load_local_checkpoints_weights_only()
save_checkpoints_atomically()
plain_dict_param_groups()
