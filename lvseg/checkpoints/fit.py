"""Whether a state dict fits a model: which tensors are missing, left over or of another shape, by module.

mmengine loads ``load_from`` and ``--resume`` checkpoints with ``strict=False`` and only logs a warning for
the keys that do not match, so testing a segmentor with a pretraining checkpoint runs to the end with its
heads at random initialisation and prints a wrong mIoU. :func:`state_dict_fit` says what differs, grouped by
module so that a whole missing head reads as one line (:mod:`.whole_model` makes it an error).
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

EXAMPLES = 4  # groups shown per kind of problem
SEGMENTOR_HEADS = ('decode_head', 'auxiliary_head')
CLASSIFIER_HEADS = ('head', 'aux_head')
BLOCK_KEY = re.compile(r'backbone\.blocks\.(\d+)\.')


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


def top_level_modules(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """The first name part of each key, in order of first appearance (``backbone``, ``decode_head``, ...)."""
    return list(dict.fromkeys(key.split('.')[0] for key in state_dict))


def describe_weights(state_dict: Mapping[str, torch.Tensor]) -> str:
    """What a flat state dict (lvseg's keys) holds, in a few words: ``'a segmentor (backbone, decode_head,
    auxiliary_head)'``, ``'a classifier (backbone, head, aux_head)'`` or ``'backbone weights (...)'``."""
    modules = top_level_modules(state_dict)
    if any(head in modules for head in SEGMENTOR_HEADS):
        kind = 'a segmentor'
    elif any(head in modules for head in CLASSIFIER_HEADS):
        kind = 'a classifier'
    else:
        kind = 'backbone weights'
    shown = ', '.join(modules[:4]) + (', ...' if len(modules) > 4 else '')
    return f'{kind} ({shown})'


def whole_model_misfit(state_dict: Mapping[str, torch.Tensor], model_state: Mapping[str, torch.Tensor], source: str,
                       advice: str = "Give the checkpoint of this config's model") -> str | None:
    """One line on why ``state_dict`` (a file's weights in lvseg's keys) cannot fill a model whose ``state_dict()``
    is ``model_state``, naming ``source``, what the file holds and what to do; None if it fits exactly.

    The same routine for every entry point that loads a whole model. A file of another kind than the model says
    which option takes it (classifier or backbone weights for a segmentor: ``model.pretrained``); an LV-ViT of
    another depth or width says so; otherwise what is missing, left over or of another shape, and ``advice``.
    """
    fit = state_dict_fit(model_state, state_dict)
    if fit.exact:
        return None
    file_modules, model_modules = set(top_level_modules(state_dict)), set(top_level_modules(model_state))
    kinds = (f'{source}: this checkpoint does not fit the model: it holds {describe_weights(state_dict)}, the model '
             f'is {describe_weights(model_state)} ({fit.summary()}).')
    if 'decode_head' in model_modules and 'decode_head' not in file_modules:
        return (f'{kinds} To fine-tune a segmentor from it, give it to tools/train.py as --cfg-options '
                f'model.pretrained={source}')
    if 'decode_head' in file_modules and 'decode_head' not in model_modules:
        return f'{kinds} It is a segmentor: give it with a segmentor config'
    depth, model_depth = _depth(state_dict), _depth(model_state)
    width, model_width = _width(state_dict), _width(model_state)
    if (depth, width) != (model_depth, model_width) and width is not None:
        differs = (f'it holds an LV-ViT of depth {depth} and embed dim {width}, the model has depth {model_depth} '
                   f'and embed dim {model_width}')
    else:
        differs = fit.summary()
    return f'{source}: this checkpoint does not fit the model: {differs}. {advice}'


def _depth(state: Mapping[str, torch.Tensor]) -> int:
    return 1 + max((int(match[1]) for name in state if (match := BLOCK_KEY.match(name))), default=-1)


def _width(state: Mapping[str, torch.Tensor]) -> int | None:
    cls_token = state.get('backbone.cls_token')
    return None if cls_token is None else cls_token.shape[-1]
