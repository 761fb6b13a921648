"""The released ADE20K segmentors of LV-ViT (mmseg 0.x files) -> the keys of lvseg's mmseg 1.x UperNet + LV-ViT.

The official release (github.com/zihangJiang/TokenLabeling, "v1.1-seg": ``upernet_lvvit_s.pth``, ``_m``, ``_l``)
was saved by mmcv 1.x as ``{'meta', 'state_dict', 'optimizer'}``; its model is mmseg 0.x's ``EncoderDecoder``
with the official ``seg/mmseg/models/backbones/vit.py`` backbone, an ``UPerHead`` and an ``FCNHead``
(docs/method.md#released-files). Its names differ from lvseg's in one place, the pyramid: the official backbone
holds its four levels as the attributes ``side_layer1`` ... ``side_layer4``, lvseg as the list ``side_layers.0``
... ``.3``, with the same ``nn.Sequential`` inside (deconv, BN, ReLU, 1x1 conv, BN, ReLU for levels 1 and 2;
1x1 conv, BN, ReLU for levels 3 and 4). The trunk has the official classifiers' names
(:data:`lvseg.checkpoints.lvvit.TRUNK_KEY`), and mmseg 1.x kept the heads' names: ``psp_modules``,
``bottleneck``, ``lateral_convs``, ``fpn_convs``, ``fpn_bottleneck`` (UPerHead), ``convs`` and ``conv_cat``
(FCNHead), ``conv_seg`` (both), each ConvModule holding ``conv`` and ``bn``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from .lvvit import BATCH_NORM_ENTRIES, TRUNK_KEY

OFFICIAL_SIDE_LAYER = re.compile(rf'backbone\.side_layer([1-4])\.(\d+\.{BATCH_NORM_ENTRIES})')
_CONV_MODULE = rf'(conv\.(weight|bias)|bn\.{BATCH_NORM_ENTRIES})'
# The names inside each head of the official segmentors, which are also mmseg 1.x's names.
HEAD_KEYS = {
    'decode_head.': re.compile(r'conv_seg\.(weight|bias)|(psp_modules\.\d+\.1|bottleneck|lateral_convs\.\d+'
                               rf'|fpn_convs\.\d+|fpn_bottleneck)\.{_CONV_MODULE}'),
    'auxiliary_head.': re.compile(rf'conv_seg\.(weight|bias)|(convs\.\d+|conv_cat)\.{_CONV_MODULE}'),
}
# The mmseg 0.x optimizer state refers to the 0.x model's parameter order; it means nothing to an mmseg 1.x run.
DROPPED_ENTRIES = ('optimizer',)


def is_official_segmentor(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether ``state_dict`` (flat, as under a checkpoint's ``'state_dict'``) is an official segmentor's: it
    holds the official pyramid's ``backbone.side_layer1.*`` ... ``backbone.side_layer4.*``."""
    return any(OFFICIAL_SIDE_LAYER.fullmatch(name) for name in state_dict)


def convert_official_segmentor(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an official segmentor's tensors to lvseg's: ``backbone.side_layerK.*`` -> ``backbone.side_layers.
    {K-1}.*``; the trunk (``backbone.patch_embed``, ``cls_token``, ``pos_embed``, ``blocks``, ``norm``),
    ``decode_head.*`` and ``auxiliary_head.*`` keep their names. Tensors are not copied.

    Raises:
        ValueError: naming every tensor that is none of the above (another backbone, head or pyramid).
    """
    converted, unplaced = {}, []
    for name, tensor in state_dict.items():
        new_name = _lvseg_name(name)
        if new_name is None:
            unplaced.append(name)
        else:
            converted[new_name] = tensor
    if unplaced:
        raise ValueError(f'{len(unplaced)} of the {len(state_dict)} tensors have no place in UperNet + LV-ViT (the '
                         'official trunk, side_layer1-4, UPerHead decode_head, FCNHead auxiliary_head): '
                         f'{", ".join(unplaced)}')
    return converted


def _lvseg_name(name: str) -> str | None:
    side_layer = OFFICIAL_SIDE_LAYER.fullmatch(name)
    if side_layer:
        return f'backbone.side_layers.{int(side_layer[1]) - 1}.{side_layer[2]}'
    if name.startswith('backbone.') and TRUNK_KEY.fullmatch(name.removeprefix('backbone.')):
        return name
    for prefix, pattern in HEAD_KEYS.items():
        if name.startswith(prefix) and pattern.fullmatch(name.removeprefix(prefix)):
            return name
    return None


def convert_segmentor_checkpoint(checkpoint: Mapping) -> Mapping:
    """``checkpoint`` (what ``torch.load`` returned) with an official segmentor's ``state_dict`` converted by
    :func:`convert_official_segmentor`, its ``meta`` kept and the mmseg 0.x ``optimizer`` state dropped; any
    other checkpoint (lvseg's, mmseg 1.x's, a classifier) is returned as it is."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state_dict, Mapping) or not is_official_segmentor(state_dict):
        return checkpoint
    converted = convert_official_segmentor(state_dict)
    if state_dict is checkpoint:
        return {'state_dict': converted}
    kept = {key: value for key, value in checkpoint.items() if key not in DROPPED_ENTRIES}
    return dict(kept, state_dict=converted)
