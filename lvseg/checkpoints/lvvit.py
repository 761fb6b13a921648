"""Official LV-ViT (and lvseg pretraining / segmentation) checkpoints -> :class:`lvseg.models.LVViT` keys.

The official release (github.com/zihangJiang/TokenLabeling) uses the same parameter names as lvseg's
backbone (``patch_embed.conv1``, ``blocks.{i}.attn.qkv``, ``norm``, ...), plus the classifier heads ``head``
and ``aux_head``. lvseg's own pretraining and segmentation checkpoints hold the backbone under ``backbone.``.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch
from mmseg.models.backbones.vit import VisionTransformer

from .unwrap import take_prefix, unwrap_state_dict

HEAD_PREFIXES = ('head.', 'aux_head.')
# The parameters and buffers of a batch norm.
BATCH_NORM_ENTRIES = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
# Every parameter and buffer name of the LV-ViT trunk, official (classifier and segmentation backbone) and lvseg's
# alike: the stem, class token, position embedding, blocks and the final norm.
TRUNK_KEY = re.compile(r'cls_token|pos_embed'
                       rf'|patch_embed\.(conv[123]\.weight|proj\.(weight|bias)|bn[123]\.{BATCH_NORM_ENTRIES})'
                       r'|blocks\.\d+\.(norm[12]|attn\.qkv|attn\.proj|mlp\.fc[12])\.(weight|bias)'
                       r'|norm\.(weight|bias)')


def convert_lvvit_checkpoint(checkpoint: Mapping, pos_grid: tuple[int, int] | None = None,
                             interpolate_mode: str = 'bicubic',
                             prefer_ema: bool = True) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Turn a loaded checkpoint into backbone weights.

    Args:
        checkpoint: what ``torch.load`` returned: a state dict, or one wrapped under ``state_dict_ema`` /
            ``state_dict`` / ``model``, possibly with a ``module.`` prefix.
        pos_grid: the target token grid ``(h, w)``; ``pos_embed`` ``(1, 1 + h0*w0, C)`` of a square grid is
            resized to ``(1, 1 + h*w, C)``. None keeps it.
        interpolate_mode: resize mode of ``pos_embed``.
        prefer_ema: take the EMA weights when the checkpoint holds both.

    Returns:
        ``(state_dict, dropped)``: the backbone's tensors and the names of the dropped entries (classifier
        heads, and in lvseg checkpoints everything outside ``backbone.``).
    """
    state_dict = unwrap_state_dict(checkpoint, prefer_ema=prefer_ema)
    backbone = take_prefix(state_dict, 'backbone.')
    dropped = [k for k in state_dict if not k.startswith('backbone.')] if backbone else []
    state_dict = backbone or state_dict
    dropped += [k for k in state_dict if k.startswith(HEAD_PREFIXES)]
    state_dict = {k: v for k, v in state_dict.items() if not k.startswith(HEAD_PREFIXES)}
    if pos_grid is not None and 'pos_embed' in state_dict:
        state_dict['pos_embed'] = resize_square_pos_embed(state_dict['pos_embed'], pos_grid, interpolate_mode)
    return state_dict, dropped


def resize_square_pos_embed(pos_embed: torch.Tensor, pos_grid: tuple[int, int],
                            interpolate_mode: str = 'bicubic') -> torch.Tensor:
    """Resize a class-token-first position embedding ``(1, 1 + s*s, C)`` to ``(1, 1 + h*w, C)``."""
    num_patches = pos_embed.shape[1] - 1
    side = math.isqrt(num_patches)
    if side * side != num_patches:
        raise ValueError(f'pos_embed has {num_patches} patch positions, not a square grid; '
                         'cannot infer its layout')
    if (side, side) == tuple(pos_grid):
        return pos_embed
    return VisionTransformer.resize_pos_embed(pos_embed.float(), tuple(pos_grid), (side, side),
                                              interpolate_mode).to(pos_embed.dtype)
