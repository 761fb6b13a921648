"""Reading checkpoint files without unpickling arbitrary objects.

:func:`load_checkpoint` is the one loader of every checkpoint lvseg reads: the runner's ``load_from`` and
``--resume`` (:class:`lvseg.engine.runner.LvsegRunner`), backbones' ``pretrained`` / ``init_cfg`` files, the
classifier's ``Pretrained`` initialisation, the annotator and the converters. Local files are loaded with
``torch.load(weights_only=True)`` while :func:`checkpoint_safe_globals` admits the data-only types that the
checkpoints lvseg meets hold; a file that needs any other Python object is refused with
:class:`UnsafeCheckpointError`, which names the file and the objects, unless unsafe loading is allowed
(``LVSEG_UNSAFE_LOAD=1``, which the tools' ``--unsafe-load`` sets).

Nothing here changes torch's or mmengine's behaviour for code outside lvseg: the allow-list is in force only
inside lvseg's own loads (a context manager), and mmengine's checkpoint schemes are left as they are.
"""
from __future__ import annotations

import argparse
import logging
import os
import pickle
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.logging.history_buffer import HistoryBuffer

from ..utils.compat import history_buffer_statistics

UNSAFE_LOAD_ENV = 'LVSEG_UNSAFE_LOAD'
# How a torch.save file begins: a zip archive (torch >= 1.6), or a pickle of protocol >= 2 (the legacy format).
ZIP_MAGIC, PICKLE_PROTO = b'PK\x03\x04', b'\x80'
_TRUE = ('1', 'true', 'yes', 'y')


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds Python objects other than weights, and unsafe loading is not allowed."""


class UnreadableCheckpointError(RuntimeError):
    """A checkpoint file that ``torch.load`` cannot read (truncated, not a torch file)."""


def unsafe_load_allowed() -> bool:
    """Whether ``LVSEG_UNSAFE_LOAD`` is set to a true value (``1``, ``true``, ``yes``)."""
    return os.environ.get(UNSAFE_LOAD_ENV, '').strip().lower() in _TRUE


def allow_unsafe_load() -> None:
    """Allow unsafe loading in this process and the processes it starts (what ``--unsafe-load`` does)."""
    os.environ[UNSAFE_LOAD_ENV] = '1'


def _numpy_pickle_globals() -> list:
    """The numpy callables and classes that a pickled ndarray, dtype or scalar refers to: the classes, and the
    functions that rebuild an array and a scalar, taken from what an array and a scalar give pickle
    (``__reduce__``), so that no private numpy module is named."""
    dtype_classes = {type(np.dtype(code)) for code in '?bBhHiIlLqQefdgFDGSUV'} | {type(np.dtype('O'))}
    rebuilders = [np.zeros(1).__reduce__()[0], np.float64(0).__reduce__()[0]]
    return [np.ndarray, np.dtype, *rebuilders, *sorted(dtype_classes, key=lambda cls: cls.__name__)]


def _history_buffer_statistic(owner: type, name: str):
    """Stand-in for ``getattr`` while unpickling: resolves only ``HistoryBuffer.<registered statistic>``.

    A ``HistoryBuffer`` pickles its statistics methods as ``getattr(HistoryBuffer, 'mean')``; allowing the real
    ``getattr`` would let a checkpoint reach any attribute of any allowed object.
    """
    statistics = history_buffer_statistics()
    if owner is HistoryBuffer and name in statistics:
        return getattr(owner, name)
    raise pickle.UnpicklingError(f'checkpoint asks for getattr({owner!r}, {name!r}); lvseg allows getattr only '
                                 f'for HistoryBuffer statistics {sorted(statistics)}')


@contextmanager
def checkpoint_safe_globals() -> Iterator[None]:
    """Let ``torch.load(weights_only=True)`` read, inside this block only, the checkpoints lvseg meets.

    mmengine 0.10.7 stores its ``MessageHub`` in every checkpoint: ``HistoryBuffer`` objects holding numpy arrays
    and scalars, and their statistics methods as ``getattr(HistoryBuffer, name)``; under torch >= 2.6 loading
    such a file fails with "Unsupported global: mmengine.logging.history_buffer.HistoryBuffer" (mmengine issue
    1655; fixed on mmengine main, in no release). timm's training script, which made the official LV-ViT
    checkpoints, stores its ``argparse.Namespace``. Rather than unpickle anything (``weights_only=False``), admit
    exactly these data-only types, and a ``getattr`` restricted to the HistoryBuffer statistics.
    """
    with torch.serialization.safe_globals([HistoryBuffer, argparse.Namespace, *_numpy_pickle_globals(),
                                           (_history_buffer_statistic, 'builtins.getattr')]):
        yield


def _unsafe_globals(path: str, error: Exception) -> list[str]:
    """The ``module.name`` globals of checkpoint ``path`` that weights-only loading refuses."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip checkpoint (legacy format): take the one torch named
        names = []
    return names or re.findall(r'GLOBAL (\S+) was not an allowed global', str(error)) or ['(not named by torch)']


def load_checkpoint_file(path: str | os.PathLike, map_location: Any = None) -> Any:
    """``torch.load(path, weights_only=True)`` with :func:`checkpoint_safe_globals`; refuse, or with
    ``LVSEG_UNSAFE_LOAD=1`` load anyway, a file that needs other Python objects.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        UnsafeCheckpointError: the file needs objects outside the allow-list; the message names the file, the
            objects (``module.name``) and how to load it if it is trusted.
        UnreadableCheckpointError: the file is truncated or not a torch file (its first bytes are neither a zip
            archive's nor a pickle's: a text file's would run as pickle opcodes); the message names it.
    """
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint file')
    with open(path, 'rb') as file:
        head = file.read(len(ZIP_MAGIC))
    if not head.startswith((ZIP_MAGIC, PICKLE_PROTO)):  # a text file, say: its bytes would run as pickle opcodes
        found = f'it starts with {head!r}' if head else 'it is empty (0 bytes)'
        raise UnreadableCheckpointError(f'{path}: not a readable checkpoint, not written by torch.save (a zip '
                                        f'archive or a pickle): {found}; give the checkpoint file')
    try:
        with checkpoint_safe_globals():
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        names = _unsafe_globals(path, error)
        if not unsafe_load_allowed():
            raise UnsafeCheckpointError(
                f'{path}: refusing to load this checkpoint: it holds Python objects that are not weights '
                f'({", ".join(names)}), and unpickling them could run arbitrary code. If you trust the file, '
                f'load it with --unsafe-load (or {UNSAFE_LOAD_ENV}=1).') from error
    except (RuntimeError, EOFError, KeyError, IndexError) as error:  # torch names neither the file nor the cause
        raise UnreadableCheckpointError(f'{path}: not a readable checkpoint, truncated or not written by torch.save '
                                        f'({type(error).__name__}: {error}); copy or download it again') from error
    print_log(f'{path}: loading with weights_only=False ({UNSAFE_LOAD_ENV}=1 / --unsafe-load): it holds '
              f'{", ".join(names)}, and unpickling can run arbitrary code', logger='current', level=logging.WARNING)
    return torch.load(path, map_location=map_location, weights_only=False)


def load_checkpoint(filename: str | os.PathLike, map_location: Any = 'cpu') -> Any:
    """A checkpoint from a local path (:func:`load_checkpoint_file`) or a URI that mmengine's
    ``CheckpointLoader`` knows (``s3://``, ``open-mmlab://``, ...; loaded by it under
    :func:`checkpoint_safe_globals`, as torch's weights-only default applies there too)."""
    filename = os.fspath(filename)
    if '://' not in filename:
        return load_checkpoint_file(filename, map_location)
    from mmengine.runner.checkpoint import CheckpointLoader
    with checkpoint_safe_globals():
        return CheckpointLoader.load_checkpoint(filename, map_location=map_location, logger='current')
