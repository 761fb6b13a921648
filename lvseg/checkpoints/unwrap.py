"""Find the model weights inside a checkpoint, whatever wrapped them."""
from __future__ import annotations

from collections.abc import Mapping

import torch

# Where trainers put the weights, in order of preference: timm's training script writes `state_dict` and
# `state_dict_ema` (the EMA weights, which the official LV-ViT selection used); DeiT and the official
# T2T-ViT release write `model`; mmengine writes `state_dict` (holding the EMA weights when EMAHook ran).
WRAPPER_KEYS = ('state_dict_ema', 'state_dict', 'model')
DDP_PREFIX = 'module.'


def unwrap_state_dict(checkpoint: Mapping, prefer_ema: bool = True) -> dict[str, torch.Tensor]:
    """Return the flat ``{name: tensor}`` weights of ``checkpoint``.

    ``checkpoint`` is either already a state dict or a dict that holds one under one of ``WRAPPER_KEYS``
    (EMA weights first unless ``prefer_ema`` is False). A DDP ``module.`` prefix is removed.
    """
    keys = WRAPPER_KEYS if prefer_ema else WRAPPER_KEYS[1:] + WRAPPER_KEYS[:1]
    for key in keys:
        if isinstance(checkpoint.get(key), Mapping):
            checkpoint = checkpoint[key]
            break
    state_dict = {}
    for name, value in checkpoint.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f'expected a state dict of tensors, but {name!r} holds a {type(value).__name__}; '
                            f'the weights may sit under a key other than {WRAPPER_KEYS}')
        state_dict[name.removeprefix(DDP_PREFIX)] = value
    return state_dict


def take_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor] | None:
    """The entries whose names start with ``prefix``, prefix removed; None if there are none."""
    taken = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    return taken or None
