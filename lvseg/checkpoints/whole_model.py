"""Loading a checkpoint into a whole model, and what a file needs to be resumed from.

Every entry point that loads a whole model (``tools/test.py``, ``tools/infer.py``, ``load_from``, ``--resume``)
reads a file the same way: :func:`lvseg.checkpoints.released.adapt_released_checkpoint` converts the files the
LV-ViT authors released, then :func:`lvseg.checkpoints.fit.whole_model_misfit` compares the weights with the
model. Its message says what the file holds (a segmentor, a classifier, backbone weights) and, where that kind
serves another purpose, the option that uses it for that purpose: backbone or classifier weights for a segmentor
config go to ``model.pretrained`` (the backbone's initialisation, which takes every kind, see
:func:`lvseg.models.backbones.pretrained.read_checkpoint`). ``LvsegRunner`` (``load_from``, ``--resume``) makes the
same calls; :func:`load_checkpoint_strictly` is the routine for callers without a runner.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from torch import nn

from .fit import CheckpointMismatchError, whole_model_misfit
from .released import adapt_released_checkpoint
from .safe_load import load_checkpoint_file
from .unwrap import unwrap_state_dict

TRAINING_STATE = ('meta.epoch', 'meta.iter', 'message_hub')  # what mmengine's Runner.resume reads


def missing_training_state(checkpoint: Mapping) -> list[str]:
    """The entries of :data:`TRAINING_STATE` that ``checkpoint`` lacks (a released file, a converted file or
    plain weights hold none: they can start a run through ``load_from`` but not resume one)."""
    meta = checkpoint.get('meta')
    present = {f'meta.{key}' for key in meta} if isinstance(meta, Mapping) else set()
    present |= set(checkpoint)
    return [entry for entry in TRAINING_STATE if entry not in present]


def load_checkpoint_strictly(model: nn.Module, path: str | os.PathLike) -> dict:
    """Read ``path`` with :func:`~lvseg.checkpoints.safe_load.load_checkpoint_file` (weights only, unless unsafe
    loading is allowed), convert a released file (:func:`~lvseg.checkpoints.released.adapt_released_checkpoint`),
    load its weights (``state_dict``, ``model`` or bare; ``module.`` prefix removed) into ``model`` if they fit it
    exactly, and return the whole checkpoint (for its ``meta``). What the runner does for ``load_from``, for
    callers without a runner (``tools/infer.py``).

    Raises:
        FileNotFoundError, UnsafeCheckpointError, UnreadableCheckpointError: see ``load_checkpoint_file``.
        CheckpointMismatchError: the file holds no state dict, or one that does not fit ``model``
            (:func:`whole_model_misfit`).
    """
    path = os.fspath(path)
    checkpoint = load_checkpoint_file(path, map_location='cpu')
    if not isinstance(checkpoint, Mapping):
        raise CheckpointMismatchError(f'{path}: expected a checkpoint dict, found a {type(checkpoint).__name__}')
    checkpoint = adapt_released_checkpoint(checkpoint, model, path)
    try:
        state_dict = unwrap_state_dict(checkpoint, prefer_ema=False)
    except TypeError as error:
        raise CheckpointMismatchError(f'{path}: {error}') from None
    misfit = whole_model_misfit(state_dict, model.state_dict(), path)
    if misfit:
        raise CheckpointMismatchError(misfit)
    model.load_state_dict(state_dict)
    return dict(checkpoint)
