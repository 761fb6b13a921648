"""Official T2T-ViT checkpoints (github.com/yitu-opensource/T2T-ViT) -> :class:`lvseg.models.T2TViT` keys.

The official model names its Tokens-to-Token module ``tokens_to_token`` (``attention1``, ``attention2``,
``project``); lvseg's T2T-ViT is an LV-ViT whose patch embedding is that module, so it lives under
``patch_embed``. Everything else (``cls_token``, ``pos_embed``, ``blocks.{i}.norm1/attn.qkv/attn.proj/norm2/
mlp.fc1/mlp.fc2``, ``norm``, ``head``) already has lvseg's names; unwrapping, dropping the head and resizing
``pos_embed`` are :func:`lvseg.checkpoints.lvvit.convert_lvvit_checkpoint`'s job.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

from .unwrap import unwrap_state_dict

OFFICIAL_PREFIX = 'tokens_to_token.'
LVSEG_PREFIX = 'patch_embed.'


def _is_performer_key(name: str) -> bool:
    """Parameters only the Performer T2T layer (``Token_performer``) has: its fused ``kqv`` projection and its
    random features ``w``; found in the checkpoints of t2t_vit_7/10/12/14/19/24 (the names without ``_t``)."""
    return name.startswith(OFFICIAL_PREFIX) and ('.kqv.' in name or name.endswith('.w'))


def convert_t2t_vit_checkpoint(checkpoint: Mapping) -> dict[str, torch.Tensor]:
    """Rename an official T2T-ViT_t state dict's ``tokens_to_token.*`` keys to ``patch_embed.*``.

    Args:
        checkpoint: what ``torch.load`` returned: a state dict, or one wrapped under ``state_dict_ema`` /
            ``state_dict`` / ``model``, possibly with a ``module.`` prefix. Keys of lvseg's own checkpoints
            (``backbone.*``, heads) pass unchanged.

    Raises:
        ValueError: for a checkpoint of a Performer-T2T model (T2T-ViT-14 and kin, without ``_t``), whose
            T2T layers lvseg does not implement.
    """
    state_dict = unwrap_state_dict(checkpoint)
    performer = [k for k in state_dict if _is_performer_key(k)]
    if performer:
        raise ValueError(f'this is a Performer T2T-ViT checkpoint (keys {performer[:3]}...); lvseg implements the '
                         'transformer T2T module only: use a T2T-ViT_t checkpoint (t2t_vit_t_14/19/24)')
    return {LVSEG_PREFIX + k[len(OFFICIAL_PREFIX):] if k.startswith(OFFICIAL_PREFIX) else k: v
            for k, v in state_dict.items()}
