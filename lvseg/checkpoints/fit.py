"""Whether a state dict fits a model: which tensors are missing, left over or of another shape, by module.

mmengine loads ``load_from`` and ``--resume`` checkpoints with ``strict=False`` and only logs a warning for
the keys that do not match, so testing a segmentor with a pretraining checkpoint runs to the end with its
heads at random initialisation and prints a wrong mIoU. :func:`check_fit` turns that into one error that
says what differs, grouped by module so that a whole missing head reads as one line.
"""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from .safe_load import load_checkpoint_file
from .unwrap import unwrap_state_dict

EXAMPLES = 4  # groups shown per kind of problem


class CheckpointMismatchError(ValueError):
    """A checkpoint whose tensors do not fill the model exactly; ``str(error)`` is one line."""


@dataclass
class StateDictFit:
    """How a loaded state dict lines up with a model's ``state_dict()``.

    Attributes:
        missing: the model's keys that the checkpoint lacks.
        unexpected: the checkpoint's keys that the model has no place for.
        wrong_shape: ``key -> (checkpoint shape, model shape)`` for keys in both with other shapes.
        model_keys: every key of the model (to say "all N" of a module).
    """

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    wrong_shape: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    model_keys: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """Every model tensor is filled by a tensor of its shape, and nothing is left over."""
        return not (self.missing or self.unexpected or self.wrong_shape)

    def summary(self) -> str:
        """One line: how many keys are missing / unexpected / of another shape, the first few by module."""
        parts = []
        if self.missing:
            parts.append(f'{len(self.missing)} of the model\'s {len(self.model_keys)} tensors are missing from it '
                         f'({_by_module(self.missing, self.model_keys)})')
        if self.unexpected:
            parts.append(f'{len(self.unexpected)} tensors in it have no place in the model '
                         f'({_by_module(self.unexpected)})')
        if self.wrong_shape:
            shown = list(self.wrong_shape.items())[:EXAMPLES]
            more = len(self.wrong_shape) - len(shown)
            parts.append(f'{len(self.wrong_shape)} tensors have another shape (' +
                         ', '.join(f'{key}: {list(ckpt)} in the checkpoint, {list(own)} in the model'
                                   for key, (ckpt, own) in shown) + (f', and {more} more' if more else '') + ')')
        return '; '.join(parts)


def _module_of(key: str) -> str:
    """The module a key is reported under: the module that holds the tensor, at most two levels deep
    (``backbone.side_layers``, ``decode_head.conv_seg``, ``head``)."""
    return '.'.join(key.split('.')[:-1][:2]) or key


def _by_module(keys: list[str], model_keys: list[str] | None = None) -> str:
    """``'decode_head (all 56), backbone.side_layers (30 tensors), ...'``: a top-level module every tensor of
    which is in ``keys`` is named once with "all"; the others by :func:`_module_of`."""
    groups: list[str] = []
    if model_keys is not None:
        in_model = Counter(key.split('.')[0] for key in model_keys)
        in_keys = Counter(key.split('.')[0] for key in keys)
        whole = {top for top, count in in_keys.items() if count == in_model[top]}
        groups += [f'{top} (all {in_keys[top]})' for top in in_keys if top in whole]
        keys = [key for key in keys if key.split('.')[0] not in whole]
    by_module: dict[str, list[str]] = {}
    for key in keys:
        by_module.setdefault(_module_of(key), []).append(key)
    groups += [f'{module} ({len(members)} tensors)' if len(members) > 1 else members[0]
               for module, members in by_module.items()]
    shown = groups[:EXAMPLES]
    return ', '.join(shown) + (f', and {len(groups) - len(shown)} more modules' if len(groups) > len(shown) else '')


def state_dict_fit(model_state: Mapping[str, torch.Tensor], loaded: Mapping[str, torch.Tensor]) -> StateDictFit:
    """Compare a checkpoint's ``loaded`` state dict with a model's ``model_state`` (key -> tensor)."""
    return StateDictFit(
        missing=[key for key in model_state if key not in loaded],
        unexpected=[key for key in loaded if key not in model_state],
        wrong_shape={key: (tuple(value.shape), tuple(model_state[key].shape)) for key, value in loaded.items()
                     if key in model_state and hasattr(value, 'shape') and value.shape != model_state[key].shape},
        model_keys=list(model_state))


def load_checkpoint_strictly(model: nn.Module, path: str | os.PathLike) -> dict:
    """Read ``path`` with :func:`~lvseg.checkpoints.safe_load.load_checkpoint_file` (weights only, unless unsafe
    loading is allowed), load its weights (``state_dict``, ``model`` or bare; ``module.`` prefix removed) into
    ``model`` if they fit it exactly, and return the whole checkpoint (for its ``meta``).

    Raises:
        FileNotFoundError, UnsafeCheckpointError, UnreadableCheckpointError: see ``load_checkpoint_file``.
        CheckpointMismatchError: the file holds no state dict, or one that does not fit ``model``; one line
            naming the file and what differs, by module.
    """
    path = os.fspath(path)
    checkpoint = load_checkpoint_file(path, map_location='cpu')
    if not isinstance(checkpoint, Mapping):
        raise CheckpointMismatchError(f'{path}: expected a checkpoint dict, found a {type(checkpoint).__name__}')
    try:
        state_dict = unwrap_state_dict(checkpoint, prefer_ema=False)
    except TypeError as error:
        raise CheckpointMismatchError(f'{path}: {error}') from None
    fit = state_dict_fit(model.state_dict(), state_dict)
    if not fit.exact:
        raise CheckpointMismatchError(f'{path}: this checkpoint does not fit the model: {fit.summary()}')
    model.load_state_dict(state_dict)
    return dict(checkpoint)
