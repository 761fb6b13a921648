"""Official T2T-ViT checkpoints (github.com/yitu-opensource/T2T-ViT) -> :class:`lvseg.models.T2TViT` keys.

The official model names its Tokens-to-Token module ``tokens_to_token`` (``attention1``, ``attention2``,
``project``); lvseg's T2T-ViT is an LV-ViT whose patch embedding is that module, so it lives under
``patch_embed``. Its two layers come in two kinds:

- transformer (``Token_transformer``, the ``T2t_vit_t_*`` models): ``norm1``, ``attn.qkv``, ``attn.proj``,
  ``norm2``, ``mlp.fc1``, ``mlp.fc2``, lvseg's names already;
- Performer (``Token_performer``, the ``T2t_vit_*`` models): ``norm1``, ``kqv``, ``proj``, the random projection
  ``w``, ``norm2`` and ``mlp`` as an ``nn.Sequential`` (``mlp.0``, ``mlp.2``); lvseg keeps the attention under
  ``attn`` (``attn.kqv``, ``attn.proj``, ``attn.w``) and the MLP as ``mlp.fc1`` / ``mlp.fc2``.

Everything else (``cls_token``, ``pos_embed``, ``blocks.{i}.norm1/attn.qkv/attn.proj/norm2/mlp.fc1/mlp.fc2``,
``norm``, ``head``) already has lvseg's names; unwrapping, dropping the head and resizing ``pos_embed`` are
:func:`lvseg.checkpoints.lvvit.convert_lvvit_checkpoint`'s job.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from .unwrap import unwrap_state_dict

OFFICIAL_PREFIX = 'tokens_to_token.'
LVSEG_PREFIX = 'patch_embed.'
# Inside a Performer T2T layer (after ``attention{1,2}.``): official module or parameter -> lvseg's.
PERFORMER_RENAMES = {'kqv': 'attn.kqv', 'proj': 'attn.proj', 'w': 'attn.w', 'mlp.0': 'mlp.fc1', 'mlp.2': 'mlp.fc2'}
_T2T_LAYER_KEY = re.compile(r'(attention\d+)\.(.+)')


def _rename_t2t_key(name: str) -> str:
    """``tokens_to_token.<rest>`` -> ``patch_embed.<rest>``, with a Performer layer's names made lvseg's."""
    rest = name[len(OFFICIAL_PREFIX):]
    layer_key = _T2T_LAYER_KEY.fullmatch(rest)
    if layer_key:
        layer, param = layer_key.groups()
        for official, lvseg in PERFORMER_RENAMES.items():
            if param == official or param.startswith(official + '.'):
                rest = f'{layer}.{lvseg}{param[len(official):]}'
                break
    return LVSEG_PREFIX + rest


def convert_t2t_vit_checkpoint(checkpoint: Mapping) -> dict[str, torch.Tensor]:
    """Rename an official T2T-ViT / T2T-ViT_t state dict's ``tokens_to_token.*`` keys to lvseg's
    ``patch_embed.*`` names (see the module docstring); other keys pass unchanged.

    Args:
        checkpoint: what ``torch.load`` returned: a state dict, or one wrapped under ``state_dict_ema`` /
            ``state_dict`` / ``model``, possibly with a ``module.`` prefix. Keys of lvseg's own checkpoints
            (``backbone.*``, heads) pass unchanged.
    """
    state_dict = unwrap_state_dict(checkpoint)
    return {_rename_t2t_key(k) if k.startswith(OFFICIAL_PREFIX) else k: v for k, v in state_dict.items()}


def t2t_tokens_type(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """'performer' or 'transformer': the kind of T2T layers of a state dict in lvseg's backbone names (after
    :func:`convert_t2t_vit_checkpoint`, ``backbone.`` prefix removed); None if it has no T2T attention."""
    if any(k.startswith(LVSEG_PREFIX) and k.endswith('.attn.w') for k in state_dict):
        return 'performer'
    if any(k.startswith(LVSEG_PREFIX) and '.attn.qkv.' in k for k in state_dict):
        return 'transformer'
    return None
