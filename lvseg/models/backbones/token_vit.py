"""mmseg's ``VisionTransformer`` (ViT, DeiT) as a token backbone: token labeling and timm/DeiT checkpoints.

lvseg writes no ViT (docs/method.md#lv-vit-backbone). :class:`TokenViT` is mmseg's ``VisionTransformer`` plus what
:class:`~lvseg.models.classifiers.TokenLabelingClassifier` and layer decay ask of a backbone: ``patch_embed``
(mmseg's ``PatchEmbed`` already returns ``(tokens, (h, w))``), :meth:`forward_tokens`, ``embed_dims``,
``final_norm`` and :meth:`get_layer_depth`; and loading of timm / DeiT checkpoints (keys converted by
:func:`lvseg.checkpoints.vit.convert_timm_vit_checkpoint`) and of lvseg's own, at any image size.
Everything else, ``forward`` for dense outputs included, is mmseg's, but for how each layer computes attention:
:class:`ViTAttention`, mmcv's ``MultiheadAttention`` with the same parameters whose attention runs through
:func:`~lvseg.models.backbones.attention.attend` (the fused or the explicit kernel, as in LV-ViT) rather than
``nn.MultiheadAttention``'s forward, which returns the attention weights and so never reaches a fused kernel.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import MultiheadAttention
from mmseg.models.backbones.vit import VisionTransformer
from mmseg.registry import MODELS

from ...checkpoints.fit import CheckpointMismatchError
from ...checkpoints.lvvit import convert_lvvit_checkpoint
from ...checkpoints.vit import convert_timm_vit_checkpoint
from .attention import attend_heads, check_kernel
from .pretrained import load_converted, read_checkpoint

LAYER_KEY = re.compile(r'layers\.(\d+)\.')
FINAL_NORM_PREFIX = 'ln1.'  # mmseg's name of the final norm (``VisionTransformer.norm1``)


class ViTAttention(nn.Module):
    """The attention branch of mmseg's ViT layer, mmcv's ``MultiheadAttention`` (self-attention, batch first),
    computed by :func:`~lvseg.models.backbones.attention.attend_heads`: tokens ``(B, N, C)`` ->
    ``identity + dropout_layer(proj_drop(out_proj(attention(in_proj(x)))))``, ``(B, N, C)``.

    Takes over the modules of the mmcv ``MultiheadAttention`` it replaces: ``attn`` (the ``nn.MultiheadAttention``,
    so the parameters keep mmseg's names ``attn.in_proj_weight``, ``attn.in_proj_bias``, ``attn.out_proj.weight``
    and ``attn.out_proj.bias``, and its ``dropout`` on the attention weights in training), ``proj_drop`` and
    ``dropout_layer``. Only their parameters are used: neither mmcv's forward nor ``nn.MultiheadAttention``'s runs.
    The function is mmcv's (tests/test_models/test_token_vit.py compares); one random draw differs: ``proj_drop``
    lays its mask over ``(B, N, C)``, mmcv over a transposed ``(N, B, C)`` view (another mask for one seed).

    Args:
        mmcv_attn: the ``MultiheadAttention`` that mmseg's ``TransformerEncoderLayer`` built (``batch_first``).
        kernel: 'auto' (chosen per device and dtype; see :mod:`lvseg.models.backbones.attention`), 'fused' or
            'explicit'. Default: 'auto'.
    """

    def __init__(self, mmcv_attn: MultiheadAttention, kernel: str = 'auto') -> None:
        super().__init__()
        if not mmcv_attn.batch_first:
            raise ValueError("ViTAttention takes mmseg's batch-first MultiheadAttention; this one is not batch first")
        self.attn = mmcv_attn.attn
        self.proj_drop = mmcv_attn.proj_drop
        self.dropout_layer = mmcv_attn.dropout_layer
        self.kernel = check_kernel(kernel)

    def forward(self, x: torch.Tensor, identity: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens ``x (B, N, C)`` -> ``identity`` (``x`` if None, as mmcv) plus the attention branch, ``(B, N, C)``."""
        attn = self.attn
        out = attend_heads(F.linear(x, attn.in_proj_weight, attn.in_proj_bias), attn.num_heads,
                           attn.head_dim ** -0.5, attn.dropout if self.training else 0.0, self.kernel)
        return (x if identity is None else identity) + self.dropout_layer(self.proj_drop(attn.out_proj(out)))


@MODELS.register_module()
class TokenViT(VisionTransformer):
    """mmseg's ``VisionTransformer`` that also serves token-labeling classification and loads timm checkpoints.

    Takes mmseg's arguments unchanged (see ``mmseg.models.backbones.VisionTransformer``), and ``attn_kernel``. For
    DeiT-S: ``embed_dims 384, num_layers 12, num_heads 6, mlp_ratio 4, qkv_bias True, patch_bias True, norm_cfg LN
    eps 1e-6``; for classification also ``final_norm=True``. ``init_cfg=dict(type='Pretrained', checkpoint=PATH)``
    (or ``pretrained=PATH``) loads a timm / DeiT file, an mmseg-converted one or an lvseg checkpoint.

    mmseg's encoder layer applies stochastic depth to the MLP branch only (its attention branch has none); that
    is mmseg's ViT, kept as is.

    Args:
        attn_kernel: the attention kernel of every layer (:class:`ViTAttention`): 'auto' (fused
            ``scaled_dot_product_attention`` or explicit ``softmax(q k^T) v`` by a fixed rule per device and dtype:
            see :mod:`lvseg.models.backbones.attention`), 'fused' or 'explicit'. Default: 'auto'.
        *args, **kwargs: mmseg's ``VisionTransformer`` arguments.
    """

    def __init__(self, *args, attn_kernel: str = 'auto', **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.attn_kernel = check_kernel(attn_kernel)
        for layer in self.layers:
            layer.attn = ViTAttention(layer.attn, attn_kernel)

    @property
    def embed_dims(self) -> int:
        """Token width C."""
        return self.cls_token.shape[-1]

    def forward_tokens(self, tokens: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """Patch tokens ``(B, h*w, C)`` (from ``patch_embed``) -> class token, position embedding (resized to
        ``hw_shape``), all layers and the final norm: ``(B, 1 + h*w, C)``, class token first. Needs
        ``final_norm=True``."""
        x = torch.cat((self.cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
        pos_grid = (self.img_size[0] // self.patch_size, self.img_size[1] // self.patch_size)
        pos_embed = self.pos_embed
        if tuple(hw_shape) != pos_grid:
            pos_embed = self.resize_pos_embed(pos_embed, hw_shape, pos_grid, self.interpolate_mode)
        x = self.drop_after_pos(x + pos_embed)
        if self.pre_norm:
            x = self.pre_ln(x)
        for layer in self.layers:
            x = layer(x)
        return self.norm1(x)

    def get_layer_depth(self, param_name: str) -> tuple[int, int]:
        """Layer index of a parameter for layer-wise lr decay: 0 for the patch embedding, ``cls_token``,
        ``pos_embed`` and the pre-norm, i + 1 for layer i, ``num_layers + 1`` for the final norm.
        Returns (depth, num_depths)."""
        num_depths = len(self.layers) + 2
        if param_name.startswith(('patch_embed.', 'cls_token', 'pos_embed', 'ln_pre.')):
            return 0, num_depths
        layer = LAYER_KEY.match(param_name)
        if layer:
            return int(layer.group(1)) + 1, num_depths
        return num_depths - 1, num_depths

    def train(self, mode: bool = True) -> TokenViT:
        """mmseg's ``train`` (LayerNorms stay in eval mode under ``norm_eval``), returning ``self`` as
        ``nn.Module.train`` does (mmseg 1.2.2's returns None, so ``TokenViT(...).eval()`` would be None)."""
        super().train(mode)
        return self

    def init_weights(self) -> None:
        """mmseg's random init, or the checkpoint named by ``init_cfg`` through :meth:`load_pretrained`."""
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            self.load_pretrained(self.init_cfg['checkpoint'])
            return
        super().init_weights()

    def load_pretrained(self, checkpoint: str | Mapping, source: str | None = None) -> dict[str, list[str]]:
        """Load a ViT checkpoint (a file, or what ``torch.load`` returned) into this backbone.

        Accepts timm / DeiT files (wrappers and ``module.`` prefix as :func:`lvseg.checkpoints.unwrap_state_dict`),
        mmseg-converted ones and lvseg checkpoints (``backbone.`` prefix). Heads are dropped, ``pos_embed`` is
        resized to this model's ``img_size``, and the final norm ``ln1`` is dropped unless ``final_norm``.

        Returns (and logs) the ``dropped``, ``missing`` and ``unexpected`` key names. Raises ValueError naming
        the file (or ``source``) if its depth or a tensor's shape differs from this model's.
        """
        checkpoint, source = read_checkpoint(checkpoint, source)
        pos_grid = (self.img_size[0] // self.patch_size, self.img_size[1] // self.patch_size)
        # Unwrapping, the backbone prefix, dropping heads and resizing pos_embed work as for LV-ViT.
        state_dict, dropped = convert_lvvit_checkpoint(convert_timm_vit_checkpoint(checkpoint), pos_grid=pos_grid,
                                                       interpolate_mode=self.interpolate_mode)
        return load_converted(self, state_dict, dropped, source, final_norm_prefix=FINAL_NORM_PREFIX)

    def check_compatible(self, state_dict: dict[str, torch.Tensor], source: str) -> None:
        """Raise :class:`~lvseg.checkpoints.fit.CheckpointMismatchError` (a ValueError) naming ``source`` if
        converted weights ``state_dict`` come from a ViT of another depth, or hold a tensor of another shape than
        this backbone's."""
        depth = 1 + max((int(m.group(1)) for m in map(LAYER_KEY.match, state_dict) if m), default=-1)
        own = self.state_dict()
        wrong = {k: (tuple(v.shape), tuple(own[k].shape)) for k, v in state_dict.items()
                 if k in own and v.shape != own[k].shape}
        if depth != len(self.layers) or wrong:
            raise CheckpointMismatchError(
                f'checkpoint {source} does not fit this ViT ({len(self.layers)} layers, embed dims '
                f'{self.embed_dims}): it has {depth} layers; tensors of other shapes (key: (checkpoint, model)): '
                f'{wrong}')
