"""timm ViT / DeiT checkpoints -> the parameter names of mmseg's ``VisionTransformer`` (and lvseg's ``TokenViT``).

timm (and the DeiT release, which uses timm's model) names a block ``blocks.{i}.norm1 / attn.qkv / attn.proj /
norm2 / mlp.fc1 / mlp.fc2``; mmseg builds the same block from mmcv bricks: ``layers.{i}.ln1``, one
``nn.MultiheadAttention`` (``attn.attn.in_proj_*`` = timm's fused qkv, ``attn.attn.out_proj``), ``ln2`` and an
``FFN`` (``ffn.layers.0.0``, ``ffn.layers.1``). The tensors keep their layout: only names change (the mapping of
mmseg's ``tools/model_converters/vit2mmseg.py``, here as a pure function that also refuses what it cannot map).
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from .unwrap import unwrap_state_dict

# timm name -> mmseg name, for the parameters outside the blocks (matched as prefixes).
TRUNK_RENAMES = {'patch_embed.proj.': 'patch_embed.projection.', 'norm_pre.': 'ln_pre.', 'norm.': 'ln1.'}
# Inside block i: timm suffix -> mmseg suffix.
BLOCK_RENAMES = {
    'norm1.': 'ln1.',
    'attn.qkv.weight': 'attn.attn.in_proj_weight',
    'attn.qkv.bias': 'attn.attn.in_proj_bias',
    'attn.proj.': 'attn.attn.out_proj.',
    'norm2.': 'ln2.',
    'mlp.fc1.': 'ffn.layers.0.0.',
    'mlp.fc2.': 'ffn.layers.1.',
}
# Distilled DeiT: a second token (right after the class token) and its head, both meaningless to a backbone.
DISTILLATION_KEYS = ('dist_token', 'head_dist.')
BLOCK_KEY = re.compile(r'blocks\.(\d+)\.(.+)')


def convert_timm_vit_checkpoint(checkpoint: Mapping) -> dict[str, torch.Tensor]:
    """Rename a timm ViT / DeiT state dict to mmseg ``VisionTransformer`` names.

    Args:
        checkpoint: what ``torch.load`` returned from a timm or DeiT file: a state dict, or one wrapped under
            ``state_dict_ema`` / ``state_dict`` / ``model`` (DeiT), possibly with a ``module.`` prefix.

    Returns:
        The state dict with timm's trunk keys renamed (see the module docstring). Keys that are no timm trunk
        key (``cls_token``, ``pos_embed``, the classifier ``head``, keys already in mmseg or lvseg form such as
        ``layers.*`` or ``backbone.*``) pass unchanged, so the function is a no-op on converted checkpoints.
        A distilled DeiT's ``dist_token`` and ``head_dist`` are removed, and with them the distillation
        token's row of ``pos_embed``: ``(1, 2 + N, C)`` -> ``(1, 1 + N, C)``.

    Raises:
        ValueError: for a block parameter with no mmseg counterpart (e.g. timm's layer scale ``ls1.gamma`` or
            ``attn.q_norm``): mmseg's ViT has no place for it.
    """
    state_dict = unwrap_state_dict(checkpoint)
    converted = {}
    for name, tensor in state_dict.items():
        if name.startswith(DISTILLATION_KEYS):
            continue
        converted[_rename(name)] = tensor
    if 'dist_token' in state_dict and 'pos_embed' in converted:
        pos_embed = converted['pos_embed']
        converted['pos_embed'] = torch.cat((pos_embed[:, :1], pos_embed[:, 2:]), dim=1)
    return converted


def _rename(name: str) -> str:
    block = BLOCK_KEY.fullmatch(name)
    if block is None:
        for old, new in TRUNK_RENAMES.items():
            if name.startswith(old):
                return new + name[len(old):]
        return name
    index, suffix = block.groups()
    for old, new in BLOCK_RENAMES.items():
        if suffix.startswith(old):
            return f'layers.{index}.{new}{suffix[len(old):]}'
    raise ValueError(f'timm ViT parameter {name!r} has no counterpart in mmseg\'s VisionTransformer '
                     f'(it maps {sorted(BLOCK_RENAMES)} inside a block)')
