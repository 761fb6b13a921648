"""T2T-ViT: "Tokens-to-Token ViT: Training Vision Transformers from Scratch on ImageNet" (Yuan et al., ICCV 2021,
arXiv 2101.11986), as an mmseg backbone.

A Tokens-to-Token (T2T) module replaces ViT's patch projection: the image is softly split into overlapping
patches (``nn.Unfold``, kernel 7 stride 4, then 3/2 twice), and between splits a small single-head layer
re-structures the tokens, whose output is folded back into a map for the next split. A deep-narrow ViT with a
class token and a fixed sinusoid position table follows (docs/method.md#t2t-vit).

The T2T layer is either a transformer layer (softmax attention: the official ``T2t_vit_t_*`` models, presets
``t-14/19/24``) or a Performer layer (linear attention with positive random features: the official ``T2t_vit_*``
models, presets ``14/19/24``); both keep the value as the skip connection and change the token width.

The deep-narrow trunk is LV-ViT's with ``skip_lam = 1`` (plain pre-norm blocks, qkv without bias, as the
official ``Block``), so :class:`T2TViT` is an :class:`~lvseg.models.backbones.lvvit.LVViT` whose patch embedding
is the T2T module: blocks, final norm, ``out_indices``, the side-layer pyramid, position-embedding resizing,
freezing, layer depths and checkpoint loading are LV-ViT's.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmseg.registry import MODELS
from timm.layers import Mlp

from ...checkpoints.fit import CheckpointMismatchError
from ...checkpoints.t2t_vit import convert_t2t_vit_checkpoint, t2t_tokens_type
from .attention import attend, check_kernel
from .input_size import pad_to_multiple
from .lvvit import LVViT

# The official presets (``models/t2t_vit.py``): T2T-ViT-14/19/24 with Performer T2T layers (``t2t_vit_14/19/24``)
# and T2T-ViT_t-14/19/24 with transformer T2T layers (``t2t_vit_t_14/19/24``); the trunks are the same.
ARCH_SETTINGS: dict[str, dict] = {
    '14': dict(embed_dims=384, num_layers=14, num_heads=6, mlp_ratio=3.0, token_dims=64, tokens_type='performer'),
    '19': dict(embed_dims=448, num_layers=19, num_heads=7, mlp_ratio=3.0, token_dims=64, tokens_type='performer'),
    '24': dict(embed_dims=512, num_layers=24, num_heads=8, mlp_ratio=3.0, token_dims=64, tokens_type='performer'),
    't-14': dict(embed_dims=384, num_layers=14, num_heads=6, mlp_ratio=3.0, token_dims=64, tokens_type='transformer'),
    't-19': dict(embed_dims=448, num_layers=19, num_heads=7, mlp_ratio=3.0, token_dims=64, tokens_type='transformer'),
    't-24': dict(embed_dims=512, num_layers=24, num_heads=8, mlp_ratio=3.0, token_dims=64, tokens_type='transformer'),
}
# Dropout after the T2T layers' attention projection and MLP in the official code: ``Token_performer`` has
# dp1 = dp2 = 0.1, ``Token_transformer`` is built without dropout (docs/method.md#t2t-vit).
OFFICIAL_T2T_DROP_RATES = {'performer': 0.1, 'transformer': 0.0}
TOKENS_TYPES = tuple(OFFICIAL_T2T_DROP_RATES)
# (kernel, stride, padding) of the three soft splits; their strides multiply to the token stride, 16 pixels.
SOFT_SPLITS = ((7, 4, 2), (3, 2, 1), (3, 2, 1))
TOKEN_STRIDE = 16


def sinusoid_position_table(num_positions: int, dims: int) -> torch.Tensor:
    """The fixed position embedding of T2T-ViT (the Transformer's): ``(1, num_positions, dims)`` with
    ``sin(p / 10000^(2i/dims))`` in column 2i and ``cos`` of the same angle in column 2i + 1."""
    positions = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)
    frequencies = 10000.0 ** (-2.0 * (torch.arange(dims, dtype=torch.float64) // 2) / dims)
    angles = positions * frequencies
    table = torch.where(torch.arange(dims) % 2 == 0, angles.sin(), angles.cos())
    return table.float().unsqueeze(0)


class TokenAttention(nn.Module):
    """Single-head attention from ``in_dims`` to ``token_dims`` whose residual is the value itself.

    Tokens ``(B, N, in_dims)`` -> ``(B, N, token_dims)``: ``v + proj(softmax(q k^T * in_dims^-0.5) v)``. Input
    and output widths differ, so the values stand in for the skip connection; the scale uses the input width
    (the official ``token_transformer.Attention`` takes ``dim ** -0.5`` with ``dim`` the input width).
    ``drop_rate`` is the dropout after ``proj``; ``kernel``: as
    :class:`~lvseg.models.backbones.attention.MultiHeadAttention`.
    """

    def __init__(self, in_dims: int, token_dims: int, drop_rate: float = 0.0, kernel: str = 'auto') -> None:
        super().__init__()
        self.scale = in_dims ** -0.5
        self.kernel = check_kernel(kernel)
        self.qkv = nn.Linear(in_dims, 3 * token_dims, bias=False)
        self.proj = nn.Linear(token_dims, token_dims)
        self.proj_drop = nn.Dropout(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).unsqueeze(1).chunk(3, dim=-1)  # (B, 1, N, token_dims) each
        out = attend(q, k, v, self.scale, kernel=self.kernel)
        return (v + self.proj_drop(self.proj(out))).squeeze(1)


def orthogonal_random_projection(num_features: int, dims: int) -> torch.Tensor:
    """The Performer layer's random projection as the official ``Token_performer`` draws it: a ``(num_features,
    dims)`` matrix with orthonormal rows (``num_features <= dims``), scaled by ``sqrt(num_features)``. Uses the
    global torch generator."""
    return nn.init.orthogonal_(torch.empty(num_features, dims)) * math.sqrt(num_features)


class TokenPerformerAttention(nn.Module):
    """Single-head linear attention with positive random features (Performer's FAVOR+, Choromanski et al.,
    ICLR 2021), from ``in_dims`` to ``token_dims``, whose residual is the value itself (as :class:`TokenAttention`).

    Tokens ``(B, N, in_dims)`` -> ``(B, N, token_dims)``. With ``k, q, v`` the three thirds of ``kqv(x)`` (in that
    order, as the official ``Token_performer``) and the feature map ``phi(x) = exp(w x - |x|^2 / 2) / sqrt(m)``
    (``(B, N, m)``; ``w`` the fixed ``(m, token_dims)`` projection, ``m = int(kernel_ratio * token_dims)``):
    ``y_i = sum_j (phi(q_i) . phi(k_j)) v_j / (sum_j phi(q_i) . phi(k_j) + eps)``, computed as
    ``phi(q) (phi(k)^T v)`` in O(N m token_dims), and the output is ``v + proj(y)``. q and k are not scaled; with
    Gaussian rows in ``w`` the kernel would estimate ``exp(q . k)`` without bias, the official ``w`` has orthogonal
    rows of norm ``sqrt(m)`` (the released weights were trained with it). The features are computed in float32
    even under autocast (their ``exp`` overflows float16).

    ``w`` is a parameter with ``requires_grad=False`` (not trained, but saved in and loaded from checkpoints, as
    the official model does); random init draws it with :func:`orthogonal_random_projection`.

    Args:
        in_dims: input token width.
        token_dims: output token width (the width of q, k and v).
        kernel_ratio: random features per value dimension (0.5 officially).
        drop_rate: dropout after ``proj``.
        eps: added to the normaliser ``sum_j phi(q_i) . phi(k_j)`` (1e-8 officially).
    """

    def __init__(self, in_dims: int, token_dims: int, kernel_ratio: float = 0.5, drop_rate: float = 0.0,
                 eps: float = 1e-8) -> None:
        super().__init__()
        self.num_features = int(token_dims * kernel_ratio)
        self.eps = eps
        self.kqv = nn.Linear(in_dims, 3 * token_dims)
        self.proj = nn.Linear(token_dims, token_dims)
        self.proj_drop = nn.Dropout(drop_rate)
        self.w = nn.Parameter(orthogonal_random_projection(self.num_features, token_dims), requires_grad=False)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """``phi``: ``(B, N, token_dims)`` -> positive random features ``(B, N, m)``, float32."""
        x = x.float()
        projected = x @ self.w.float().t()
        return torch.exp(projected - x.square().sum(dim=-1, keepdim=True) / 2) / math.sqrt(self.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, q, v = self.kqv(x).chunk(3, dim=-1)  # (B, N, token_dims) each
        with torch.autocast(x.device.type, enabled=False):
            k_features, q_features = self.feature_map(k), self.feature_map(q)  # (B, N, m)
            normaliser = q_features @ k_features.sum(dim=1).unsqueeze(-1)  # (B, N, 1)
            out = q_features @ (k_features.transpose(1, 2) @ v.float()) / (normaliser + self.eps)
        return v + self.proj_drop(self.proj(out.to(v.dtype)))


class TokenTransformerLayer(nn.Module):
    """The T2T module's layer: ``x = attn(norm1(x)); x = x + mlp(norm2(x))``, ``(B, N, in_dims)`` ->
    ``(B, N, token_dims)``; the MLP keeps the width (MLP ratio 1 in the official ``Token_transformer`` and
    ``Token_performer``).

    Args:
        in_dims, token_dims: input and output token widths.
        norm_cfg: norm config. Default: LN.
        tokens_type: 'performer' (:class:`TokenPerformerAttention`) or 'transformer' (:class:`TokenAttention`).
        drop_rate: dropout after the attention projection and after the MLP's second linear layer.
        attn_kernel: the attention kernel of a transformer T2T layer ('auto', 'fused' or 'explicit').
    """

    def __init__(self, in_dims: int, token_dims: int, norm_cfg: dict | None = None,
                 tokens_type: str = 'performer', drop_rate: float = 0.0, attn_kernel: str = 'auto') -> None:
        super().__init__()
        norm_cfg = norm_cfg or dict(type='LN')
        if tokens_type not in TOKENS_TYPES:
            raise ValueError(f'tokens_type must be one of {sorted(TOKENS_TYPES)}, got {tokens_type!r}')
        self.norm1 = build_norm_layer(norm_cfg, in_dims)[1]
        if tokens_type == 'transformer':
            self.attn = TokenAttention(in_dims, token_dims, drop_rate=drop_rate, kernel=attn_kernel)
        else:
            self.attn = TokenPerformerAttention(in_dims, token_dims, drop_rate=drop_rate)
        self.norm2 = build_norm_layer(norm_cfg, token_dims)[1]
        self.mlp = Mlp(token_dims, drop=(0.0, drop_rate))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TokensToToken(nn.Module):
    """The Tokens-to-Token module: soft split, T2T layer, soft split, T2T layer, soft split, linear projection.

    Images ``(B, C, H, W)`` -> tokens ``(B, h*w, embed_dims)`` and ``(h, w) = (ceil(H/16), ceil(W/16))``: inputs
    are zero-padded at the bottom and right to multiples of 16 pixels (mmseg's 'corner' padding), where the
    three splits (strides 4, 2, 2) give exactly H/16 x W/16 tokens. Token widths: ``C*7*7`` after the first
    split, ``token_dims`` after each T2T layer, ``token_dims*3*3`` after the later splits.

    Args:
        in_channels: image channels.
        embed_dims: width of the output tokens.
        token_dims: width of the T2T layers (64 officially).
        norm_cfg: norm of the T2T layers. Default: LN.
        tokens_type: 'performer' or 'transformer' T2T layers (see :class:`TokenTransformerLayer`). Default:
            'performer' (the official ``T2T_module``'s).
        drop_rate: dropout inside the T2T layers; None takes the official value of ``tokens_type`` (0.1 for
            Performer layers, 0 for transformer layers). Default: None.
        attn_kernel: the transformer T2T layers' attention kernel ('auto', 'fused' or 'explicit'). Default: 'auto'.
    """

    def __init__(self, in_channels: int, embed_dims: int, token_dims: int = 64, norm_cfg: dict | None = None,
                 tokens_type: str = 'performer', drop_rate: float | None = None, attn_kernel: str = 'auto') -> None:
        super().__init__()
        if drop_rate is None:
            drop_rate = OFFICIAL_T2T_DROP_RATES.get(tokens_type, 0.0)
        self.soft_splits = nn.ModuleList(nn.Unfold(kernel, stride=stride, padding=padding)
                                         for kernel, stride, padding in SOFT_SPLITS)
        first_kernel, later_kernel = SOFT_SPLITS[0][0], SOFT_SPLITS[1][0]
        self.attention1 = TokenTransformerLayer(in_channels * first_kernel ** 2, token_dims, norm_cfg, tokens_type,
                                                drop_rate, attn_kernel)
        self.attention2 = TokenTransformerLayer(token_dims * later_kernel ** 2, token_dims, norm_cfg, tokens_type,
                                                drop_rate, attn_kernel)
        self.project = nn.Linear(token_dims * later_kernel ** 2, embed_dims)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        tokens, hw_shape = self._soft_split(pad_to_multiple(x, TOKEN_STRIDE), 0)
        tokens, hw_shape = self._soft_split(self._to_map(self.attention1(tokens), hw_shape), 1)
        tokens, hw_shape = self._soft_split(self._to_map(self.attention2(tokens), hw_shape), 2)
        return self.project(tokens), hw_shape

    def _soft_split(self, x: torch.Tensor, index: int) -> tuple[torch.Tensor, tuple[int, int]]:
        """Map ``(B, C, H, W)`` -> overlapping patches ``(B, h*w, C*k*k)`` and their grid ``(h, w)``."""
        kernel, stride, padding = SOFT_SPLITS[index]
        hw_shape = tuple((size + 2 * padding - kernel) // stride + 1 for size in x.shape[-2:])
        return self.soft_splits[index](x).transpose(1, 2), hw_shape

    @staticmethod
    def _to_map(tokens: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, *hw_shape)


@MODELS.register_module()
class T2TViT(LVViT):
    """T2T-ViT backbone for dense prediction and token-labeling pretraining.

    Outputs, pyramid, classification interface (:meth:`patch_embed` / :meth:`forward_tokens`), freezing and layer
    depths are those of :class:`~lvseg.models.backbones.lvvit.LVViT` (see there); the stride is 16 pixels.

    Args:
        arch: '14' | '19' | '24' (the official T2T-ViT-14/19/24, Performer T2T layers) or 't-14' | 't-19' |
            't-24' (T2T-ViT_t-14/19/24, transformer T2T layers): embed dims 384/448/512, 14/19/24 blocks, 6/7/8
            heads, MLP ratio 3, T2T width 64; or a dict with ``embed_dims, num_layers, num_heads, mlp_ratio,
            token_dims, tokens_type`` ('performer' | 'transformer'). Default: 't-14'.
        img_size: pretraining image size (int or (H, W)); sets the length of the sinusoid position table
            (``1 + (H/16)*(W/16)`` positions). Other input sizes resize it bicubically, as the official
            transfer code does. Default: 224.
        in_channels: image channels. Default: 3.
        out_indices: blocks whose outputs ``forward`` returns (-1 = last). Default: -1.
        drop_rate, attn_drop_rate, drop_path_rate: as LV-ViT (the official recipe: drop path 0.1).
        t2t_drop_rate: dropout inside the T2T layers; None takes the official value (0.1 for Performer layers,
            0 for transformer layers). Default: None.
        norm_cfg: norm of the T2T layers and the blocks. Default: LN (eps 1e-5, as the official models).
        final_norm: build and apply the final norm ``norm`` (see LV-ViT); classification needs it. Default: False.
        pyramid, pyramid_out_channels, pyramid_norm_cfg: the dense outputs, as LV-ViT. Default: 'none' (one
            stride-16 map per out index); the segmentation configs set 'side_layers' with four out indices.
        interpolate_mode: mode for resizing ``pos_embed``. Default: 'bicubic'.
        with_cp, frozen_stages, norm_eval: as LV-ViT; stage 0 is the T2T module with ``cls_token``.
        attn_kernel: attention kernel of the blocks and the T2T layers, as LV-ViT. Default: 'auto'.
        pretrained: a checkpoint path (short for ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``).
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)`` loads an official T2T-ViT or T2T-ViT_t checkpoint
            or an lvseg checkpoint of this backbone (see :func:`lvseg.checkpoints.t2t_vit.convert_t2t_vit_checkpoint`);
            one whose T2T layers, depth or width differ from ``arch`` is refused with a ValueError.
    """

    @staticmethod
    def resolve_arch(arch: str | dict) -> dict:
        """Return the hyper-parameters of ``arch``: a preset name of :data:`ARCH_SETTINGS` ('14', '19', '24',
        't-14', 't-19', 't-24') or a dict of all six keys (``embed_dims, num_layers, num_heads, mlp_ratio,
        token_dims, tokens_type``). Raises KeyError (an unknown preset, a missing key) or ValueError (an unknown
        ``tokens_type``), each with a one-line message saying what is expected; the config checks
        (:mod:`lvseg.engine.config_checks`) call it before anything is built."""
        if isinstance(arch, str):
            if arch.lower() not in ARCH_SETTINGS:
                raise KeyError(f'unknown T2T-ViT arch {arch!r}; expected one of {sorted(ARCH_SETTINGS)}, or a dict '
                               f'with the keys {sorted(ARCH_SETTINGS["14"])}')
            return dict(ARCH_SETTINGS[arch.lower()])
        missing = set(ARCH_SETTINGS['14']) - set(arch)
        if missing:
            raise KeyError(f'custom T2T-ViT arch lacks the keys {sorted(missing)}')
        if arch['tokens_type'] not in OFFICIAL_T2T_DROP_RATES:
            raise ValueError(f"T2T-ViT arch: tokens_type must be one of {sorted(OFFICIAL_T2T_DROP_RATES)}, got "
                             f"{arch['tokens_type']!r}")
        return dict(arch)

    def __init__(self, arch: str | dict = 't-14', img_size: int | Sequence[int] = 224, in_channels: int = 3,
                 out_indices: int | Sequence[int] = -1, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, t2t_drop_rate: float | None = None, norm_cfg: dict | None = None,
                 final_norm: bool = False, pyramid: str = 'none', pyramid_out_channels: int = 2048,
                 pyramid_norm_cfg: dict | None = None, interpolate_mode: str = 'bicubic', with_cp: bool = False,
                 attn_kernel: str = 'auto', frozen_stages: int = -1, norm_eval: bool = False,
                 pretrained: str | None = None, init_cfg: dict | None = None) -> None:
        settings = T2TViT.resolve_arch(arch)
        # LV-ViT's trunk without residual re-scaling; the T2T module (see _build_patch_embed) uses the blocks' norm
        # and reads its settings (token_dims, tokens_type, t2t_drop_rate) from this dict.
        super().__init__(dict(settings, stem_channels=None, skip_lam=1.0, t2t_drop_rate=t2t_drop_rate), img_size,
                         TOKEN_STRIDE, in_channels, out_indices, qkv_bias=False, drop_rate=drop_rate,
                         attn_drop_rate=attn_drop_rate, drop_path_rate=drop_path_rate, norm_cfg=norm_cfg,
                         stem_norm_cfg=norm_cfg, final_norm=final_norm, pyramid=pyramid,
                         pyramid_out_channels=pyramid_out_channels, pyramid_norm_cfg=pyramid_norm_cfg,
                         interpolate_mode=interpolate_mode, with_cp=with_cp, attn_kernel=attn_kernel,
                         frozen_stages=frozen_stages,
                         norm_eval=norm_eval, pretrained=pretrained, init_cfg=init_cfg)
        self.arch_settings = settings
        self.pos_embed.requires_grad_(False)  # fixed, as the official ``get_sinusoid_encoding`` table
        self._reset_pos_embed()

    def _build_patch_embed(self, in_channels: int, patch_size: int, norm_cfg: dict | None,
                           channels_last: bool) -> nn.Module:
        """The Tokens-to-Token module in place of LV-ViT's conv stem (stride 16, ``norm_cfg`` in its layers)."""
        settings = self.arch_settings
        return TokensToToken(in_channels, self.embed_dims, settings['token_dims'], norm_cfg, settings['tokens_type'],
                             settings['t2t_drop_rate'], self.attn_kernel)

    def init_weights(self) -> None:
        """As LV-ViT: random (truncated normal 0.02), or the checkpoint named by ``init_cfg``; without a
        checkpoint the position embedding stays the sinusoid table."""
        super().init_weights()
        if not (isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained'):
            self._reset_pos_embed()

    def _convert_checkpoint(self, checkpoint: Mapping) -> tuple[dict[str, torch.Tensor], list[str]]:
        """An official T2T-ViT(_t) checkpoint's (or an lvseg one's) weights in LV-ViT's names, then as LV-ViT's:
        heads dropped, ``pos_embed`` resized."""
        return super()._convert_checkpoint(convert_t2t_vit_checkpoint(checkpoint))

    def check_compatible(self, state_dict: dict[str, torch.Tensor], source: str) -> None:
        """LV-ViT's depth, width and shape checks, after checking that the checkpoint's T2T layers are of this
        backbone's ``tokens_type`` (their parameters have other names: the fit check would only list them)."""
        found, expected = t2t_tokens_type(state_dict), self.arch_settings['tokens_type']
        if found is not None and found != expected:
            presets = sorted(name for name, arch in ARCH_SETTINGS.items() if arch['tokens_type'] == found)
            raise CheckpointMismatchError(
                f'checkpoint {source} holds a T2T-ViT with {found} T2T layers, but this backbone has {expected} T2T '
                f'layers (arch {self.arch_settings}); pick a {found} arch {presets}')
        super().check_compatible(state_dict, source)

    def _reset_pos_embed(self) -> None:
        with torch.no_grad():
            self.pos_embed.copy_(sinusoid_position_table(self.pos_embed.shape[1], self.embed_dims))
