"""The released LV-ViT classifiers -> the keys of lvseg's ``TokenLabelingClassifier`` (backbone and both heads).

The official files (``lvvit_t.pth``, ``lvvit_s-26M-224-83.3.pth.tar``, ... ``lvvit_l-150M-448-86.2.pth.tar``;
docs/method.md#released-files) hold the state dict of the official ``LV_ViT`` (``tlt/models/lvvit.py``), plain or
under ``state_dict`` / ``state_dict_ema`` / ``model``, maybe with a ``module.`` prefix: the trunk
(:data:`lvseg.checkpoints.lvvit.TRUNK_KEY`), the class ``head`` and the dense ``aux_head``. lvseg's classifier
holds the same trunk under ``backbone.`` and the heads under their official names.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from .lvvit import TRUNK_KEY
from .unwrap import unwrap_state_dict

HEAD_KEY = re.compile(r'(head|aux_head)\.(weight|bias)')


def is_official_classifier(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether the flat ``state_dict`` is an official LV-ViT classifier's: the LV-ViT stem and the dense head,
    without lvseg's ``backbone.`` prefix."""
    return 'patch_embed.conv1.weight' in state_dict and 'aux_head.weight' in state_dict


def convert_official_classifier(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Put an official classifier's trunk under ``backbone.``; ``head`` and ``aux_head`` keep their names.

    Raises:
        ValueError: naming every tensor that is neither trunk nor head.
    """
    converted, unplaced = {}, []
    for name, tensor in state_dict.items():
        if TRUNK_KEY.fullmatch(name):
            converted[f'backbone.{name}'] = tensor
        elif HEAD_KEY.fullmatch(name):
            converted[name] = tensor
        else:
            unplaced.append(name)
    if unplaced:
        raise ValueError(f'{len(unplaced)} of the {len(state_dict)} tensors have no place in an LV-ViT classifier '
                         f'(the official trunk, head, aux_head): {", ".join(unplaced)}')
    return converted


def convert_classifier_checkpoint(checkpoint: Mapping) -> Mapping:
    """``{'state_dict': ...}`` in lvseg's classifier keys for an official classifier file (its EMA weights when it
    holds both, see :func:`lvseg.checkpoints.unwrap.unwrap_state_dict`); any other checkpoint as it is."""
    try:
        state_dict = unwrap_state_dict(checkpoint)
    except TypeError:  # weights beside other entries under no known wrapper key: not an official classifier
        return checkpoint
    if not is_official_classifier(state_dict):
        return checkpoint
    return {'state_dict': convert_official_classifier(state_dict)}
