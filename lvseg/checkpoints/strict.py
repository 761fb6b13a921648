"""Load a checkpoint's weights into a model strictly: every key of either side accounted for, shapes equal."""
from __future__ import annotations

import os
from collections.abc import Mapping

import torch
from torch import nn

from .io import load_checkpoint_file
from .unwrap import unwrap_state_dict

SHOWN_KEYS = 5  # keys named per kind of difference in the error message


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not fit the model: keys missing, left over, or of another shape."""


def _first(names: list[str]) -> str:
    more = f', ... ({len(names)} in all)' if len(names) > SHOWN_KEYS else ''
    return ', '.join(names[:SHOWN_KEYS]) + more


def load_state_dict_strictly(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """``model.load_state_dict(state_dict)`` after checking that the two hold the same keys and shapes.

    Args:
        model: the model to fill (its persistent parameters and buffers).
        state_dict: ``{name: tensor}`` in ``model``'s names.
        source: what the weights came from (a file name), for the message.

    Raises:
        CheckpointMismatchError: one line naming ``source`` and the first keys that are missing from it, left
            over in it, or of another shape than the model's (torch's own error lists every key of a model).
    """
    expected = model.state_dict()
    missing = [name for name in expected if name not in state_dict]
    unexpected = [name for name in state_dict if name not in expected]
    reshaped = [f'{name} {tuple(state_dict[name].shape)} vs {tuple(value.shape)}'
                for name, value in expected.items() if name in state_dict and state_dict[name].shape != value.shape]
    problems = [f'{what} ({len(names)}): {_first(names)}' for what, names in
                (('missing from the checkpoint', missing), ('not in the model', unexpected),
                 ('other shape, checkpoint vs model', reshaped)) if names]
    if problems:
        raise CheckpointMismatchError(f'{source}: the checkpoint does not fit the model: ' + '; '.join(problems))
    model.load_state_dict(state_dict)


def load_checkpoint_strictly(model: nn.Module, path: str | os.PathLike) -> dict:
    """Read ``path`` with :func:`~lvseg.checkpoints.io.load_checkpoint_file` (weights only, unless unsafe loading
    is allowed), load its weights (``state_dict``, ``model`` or bare; ``module.`` prefix removed) into ``model``
    with :func:`load_state_dict_strictly`, and return the whole checkpoint (for its ``meta``).

    Raises:
        FileNotFoundError, UnsafeCheckpointError, UnreadableCheckpointError: see ``load_checkpoint_file``.
        CheckpointMismatchError: the file holds no state dict, or one that does not fit ``model``.
    """
    path = os.fspath(path)
    checkpoint = load_checkpoint_file(path, map_location='cpu')
    if not isinstance(checkpoint, Mapping):
        raise CheckpointMismatchError(f'{path}: expected a checkpoint dict, found a {type(checkpoint).__name__}')
    try:
        state_dict = unwrap_state_dict(checkpoint, prefer_ema=False)
    except TypeError as error:
        raise CheckpointMismatchError(f'{path}: {error}') from None
    load_state_dict_strictly(model, state_dict, path)
    return dict(checkpoint)
