"""Shims for what the pinned OpenMMLab releases get wrong on torch >= 2.6 and numpy 2, applied on import.

Each shim is small, says which release it works around, and has a test that fails without it
(tests/test_compat.py). Remove a shim when the pinned release carries the fix.
"""
from __future__ import annotations

import argparse
import pickle

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


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


allow_checkpoint_types()
