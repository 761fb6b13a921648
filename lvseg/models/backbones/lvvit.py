"""LV-ViT: the vision transformer of "All Tokens Matter: Token Labeling for Training Better
Vision Transformers" (Jiang et al., NeurIPS 2021, arXiv 2104.10858), as an mmseg backbone.

Three changes to a plain ViT (docs/method.md#lv-vit-backbone): a 4-layer convolutional patch embedding, residual
branches divided by ``skip_lam``, and qkv projections without bias. The parameter names equal those of
the official release (``patch_embed.conv1``, ``blocks.{i}.attn.qkv``, ...) so that its checkpoints load
after only unwrapping (see :mod:`lvseg.checkpoints.lvvit`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmseg.models.backbones.vit import VisionTransformer
from mmseg.registry import MODELS
from timm.layers import DropPath, Mlp

from ...checkpoints.fit import CheckpointMismatchError
from ...checkpoints.lvvit import convert_lvvit_checkpoint
from .attention import MultiHeadAttention, check_kernel
from .input_size import pad_to_multiple
from .pretrained import load_converted, read_checkpoint

# Published presets (docs/method.md#lv-vit-backbone; official `tlt/models/lvvit.py`).
ARCH_SETTINGS: dict[str, dict] = {
    'tiny': dict(embed_dims=240, num_layers=12, num_heads=4, mlp_ratio=3.0, stem_channels=64, skip_lam=1.0),
    'small': dict(embed_dims=384, num_layers=16, num_heads=6, mlp_ratio=3.0, stem_channels=64, skip_lam=2.0),
    'medium': dict(embed_dims=512, num_layers=20, num_heads=8, mlp_ratio=3.0, stem_channels=64, skip_lam=2.0),
    'large': dict(embed_dims=768, num_layers=24, num_heads=12, mlp_ratio=3.0, stem_channels=128, skip_lam=3.0),
}
ARCH_ALIASES = {'t': 'tiny', 's': 'small', 'm': 'medium', 'l': 'large'}
PYRAMID_MODES = ('none', 'side_layers')
PATCH_PADDINGS = ('corner', 'none')
# The batch norms that mmcv's norm configs build (BN, BN1d, BN2d, BN3d, SyncBN): the stem's and the pyramid's.
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


class ConvPatchEmbed(nn.Module):
    """The LV-ViT stem: three convolutions then a patch projection, one token per 16x16 pixels.

    conv 7x7 stride 2 (no bias) + norm + ReLU, two conv 3x3 + norm + ReLU, then a projection conv whose
    kernel and stride are ``patch_size // 2``. Inputs whose sides are not multiples of ``patch_size``
    are zero-padded at the bottom and right (mmseg's 'corner' padding), unless ``padding='none'``.

    Args:
        in_channels: image channels.
        stem_channels: channels of the three stem convolutions (64 for T/S/M, 128 for L).
        embed_dims: token width.
        patch_size: pixels per token side; must be even.
        norm_cfg: mmcv norm config of the stem (BN, or SyncBN on many GPUs).
        channels_last: run the convolutions on channels-last (NHWC) images: faster than the default layout on
            the CPU where lvseg is developed (``bench/train_step.py`` times both; figures in
            docs/performance.md#measured-cpu-only), the
            layout cuDNN's tensor-core kernels prefer, and the tokens come out contiguous without a copy.
            The result is the same up to float rounding. Default: True.
        padding: 'corner' pads the bottom and right to whole tokens; 'none' leaves the input as it is, so the
            strided convolutions round the token grid down (``floor(H / patch_size)`` rows for most H), as the
            official segmentation code does. Default: 'corner'.
    """

    def __init__(self, in_channels: int, stem_channels: int, embed_dims: int, patch_size: int = 16,
                 norm_cfg: dict | None = None, channels_last: bool = True, padding: str = 'corner') -> None:
        super().__init__()
        if patch_size % 2:
            raise ValueError(f'patch_size must be even (the stem halves the image first), got {patch_size}')
        if padding not in PATCH_PADDINGS:
            raise ValueError(f'padding must be one of {PATCH_PADDINGS}, got {padding!r}')
        norm_cfg = norm_cfg or dict(type='BN')
        self.patch_size = patch_size
        self.channels_last = channels_last
        self.padding = padding
        self.conv1 = nn.Conv2d(in_channels, stem_channels, 7, stride=2, padding=3, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, stem_channels)[1]
        self.conv2 = nn.Conv2d(stem_channels, stem_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, stem_channels)[1]
        self.conv3 = nn.Conv2d(stem_channels, stem_channels, 3, stride=1, padding=1, bias=False)
        self.bn3 = build_norm_layer(norm_cfg, stem_channels)[1]
        self.relu = nn.ReLU(inplace=True)
        self.proj = nn.Conv2d(stem_channels, embed_dims, patch_size // 2, stride=patch_size // 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Embed images ``(B, C, H, W)`` into tokens ``(B, h*w, embed_dims)``; also return ``(h, w)``.

        ``h = ceil(H / patch_size)``, ``w = ceil(W / patch_size)`` with 'corner' padding; with 'none', what the
        strided convolutions give (``h = (ceil(H / 2) - patch_size // 2) // (patch_size // 2) + 1``).
        """
        if self.padding == 'corner':
            x = pad_to_multiple(x, self.patch_size)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.relu(self.bn3(self.conv3(x)))
        x = self.proj(x)
        hw_shape = (x.shape[2], x.shape[3])
        return x.flatten(2).transpose(1, 2), hw_shape


class LVViTBlock(nn.Module):
    """Pre-norm transformer block whose residual branches are divided by ``skip_lam``.

    ``x = x + drop_path(attn(norm1(x))) / skip_lam``; the same for the MLP. Shapes: ``(B, N, C)`` in and out.
    Attention is :class:`~lvseg.models.backbones.attention.MultiHeadAttention` (its kernel, fused or explicit, is
    ``attn_kernel``), the MLP timm's ``Mlp`` with GELU.
    """

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float, skip_lam: float,
                 qkv_bias: bool = False, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, norm_cfg: dict | None = None, with_cp: bool = False,
                 attn_kernel: str = 'auto') -> None:
        super().__init__()
        norm_cfg = norm_cfg or dict(type='LN')
        self.skip_lam = skip_lam
        self.with_cp = with_cp
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = MultiHeadAttention(embed_dims, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop_rate,
                                       proj_drop=drop_rate, kernel=attn_kernel)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.mlp = Mlp(embed_dims, hidden_features=int(embed_dims * mlp_ratio), drop=drop_rate)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x))) / self.skip_lam
        return x + self.drop_path(self.mlp(self.norm2(x))) / self.skip_lam

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)


def _side_layer(in_channels: int, out_channels: int, upsample: int, norm_cfg: dict) -> nn.Sequential:
    """One level of the official segmentation pyramid: (deconv x``upsample`` + norm + ReLU +) 1x1 conv + norm
    + ReLU. ``upsample`` is 4, 2 or 1 (no deconv)."""
    layers: list[nn.Module] = []
    if upsample > 1:
        layers += [nn.ConvTranspose2d(in_channels, in_channels, upsample, stride=upsample, bias=False),
                   build_norm_layer(norm_cfg, in_channels)[1], nn.ReLU(inplace=True)]
    layers += [nn.Conv2d(in_channels, out_channels, 1, bias=False),
               build_norm_layer(norm_cfg, out_channels)[1], nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


@MODELS.register_module()
class LVViT(BaseModule):
    """LV-ViT backbone for dense prediction and token-labeling pretraining.

    ``forward`` returns the patch tokens of the blocks in ``out_indices`` as feature maps. With
    ``pyramid='side_layers'`` (the official segmentation code) the four maps go through "side layers"
    to strides 4, 8, 16, 16 with ``embed_dims, embed_dims, embed_dims, pyramid_out_channels`` channels, ready
    for UperNet/FPN; with ``pyramid='none'`` all maps stay at stride 16 with ``embed_dims`` channels, for
    mmseg's ``MultiLevelNeck``. Classification models use :meth:`patch_embed` and :meth:`forward_tokens`.

    Args:
        arch: 'tiny' | 'small' | 'medium' | 'large' (or 't'/'s'/'m'/'l'), or a dict with ``embed_dims,
            num_layers, num_heads, mlp_ratio, stem_channels, skip_lam``. Default: 'small'.
        img_size: pretraining image size (int or (H, W)); sets the grid of ``pos_embed``. Any other input
            size works: the position embedding is resized bicubically on the fly. Default: 224.
        patch_size: pixels per token side. Default: 16.
        in_channels: image channels. Default: 3.
        out_indices: blocks whose outputs ``forward`` returns (-1 = last). Default: -1.
        qkv_bias: bias in the qkv projection (False in LV-ViT). Default: False.
        drop_rate: dropout after position embedding, attention projection and MLP. Default: 0.
        attn_drop_rate: dropout of attention weights. Default: 0.
        drop_path_rate: stochastic depth of the last block, linear from 0 over depth. Default: 0.
        norm_cfg: norm of the transformer blocks (and of ``norm``). Default: LN with eps 1e-5, as the official
            classification models (docs/method.md#lv-vit-backbone); the official segmentation backbone's blocks
            use eps 1e-6 (docs/method.md#released-files): ``dict(type='LN', eps=1e-6)``.
        stem_norm_cfg: norm of the convolutional stem. Default: BN.
        stem_channels_last: run the stem in channels-last layout (see :class:`ConvPatchEmbed`). Default: True.
        patch_padding: 'corner' zero-pads inputs to whole tokens; 'none' lets the stem's strided convolutions
            round the grid down, as the official segmentation code (see :class:`ConvPatchEmbed`). Default:
            'corner'.
        final_norm: build the final LayerNorm ``norm`` and apply it to the last block's output (in ``forward``
            when the last block is in ``out_indices``, and in ``forward_tokens``). Classification needs it; the
            official segmentation code has none, and an unused norm would stall DDP. Default: False.
        pyramid: 'side_layers' or 'none' (see above). Default: 'none', so that the defaults build (one stride-16
            map of the last block); the segmentation configs set 'side_layers' with four ``out_indices``.
        pyramid_out_channels: channels of the last pyramid level (2048 officially). Default: 2048.
        pyramid_norm_cfg: norm in the side layers. Default: BN.
        interpolate_mode: mode for resizing ``pos_embed``. Default: 'bicubic'.
        with_cp: activation checkpointing of each block (saves memory, costs time). Default: False.
        attn_kernel: 'auto' (fused ``scaled_dot_product_attention`` or explicit ``softmax(q k^T) v`` by a fixed
            rule per device and dtype: see :mod:`lvseg.models.backbones.attention`), 'fused' or 'explicit'.
            Default: 'auto'.
        frozen_stages: -1 freezes nothing; 0 freezes the stem, ``cls_token`` and ``pos_embed``; k > 0 also
            the first k blocks. Frozen BN layers stay in eval mode. Default: -1.
        norm_eval: keep every BN layer in eval mode while training. Default: False.
        pretrained: a checkpoint path, short for ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``;
            what mmseg's ``EncoderDecoder(pretrained=...)`` passes on (``--cfg-options model.pretrained=PATH``).
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)`` loads an official LV-ViT checkpoint or an
            lvseg pretraining checkpoint (see :func:`lvseg.checkpoints.lvvit.convert_lvvit_checkpoint`).
    """

    @staticmethod
    def resolve_arch(arch: str | dict) -> dict:
        """Return the hyper-parameters of ``arch``: a preset name of :data:`ARCH_SETTINGS` (or its initial) or a
        dict of all six keys. Raises KeyError, whose one-line message says what is expected; the config checks
        (:mod:`lvseg.engine.config_checks`) call it before anything is built."""
        if isinstance(arch, str):
            name = ARCH_ALIASES.get(arch.lower(), arch.lower())
            if name not in ARCH_SETTINGS:
                raise KeyError(f'unknown LV-ViT arch {arch!r}; expected one of {sorted(ARCH_SETTINGS)} (or '
                               f'{sorted(ARCH_ALIASES)}), or a dict with the keys {sorted(ARCH_SETTINGS["small"])}')
            return dict(ARCH_SETTINGS[name])
        missing = set(ARCH_SETTINGS['small']) - set(arch)
        if missing:
            raise KeyError(f'custom LV-ViT arch lacks the keys {sorted(missing)}')
        return dict(arch)

    def __init__(self, arch: str | dict = 'small', img_size: int | Sequence[int] = 224, patch_size: int = 16,
                 in_channels: int = 3, out_indices: int | Sequence[int] = -1, qkv_bias: bool = False,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 norm_cfg: dict | None = None, stem_norm_cfg: dict | None = None, stem_channels_last: bool = True,
                 final_norm: bool = False, pyramid: str = 'none', pyramid_out_channels: int = 2048,
                 pyramid_norm_cfg: dict | None = None, interpolate_mode: str = 'bicubic', with_cp: bool = False,
                 attn_kernel: str = 'auto', frozen_stages: int = -1, norm_eval: bool = False,
                 pretrained: str | None = None, init_cfg: dict | None = None, patch_padding: str = 'corner') -> None:
        if pretrained is not None and init_cfg is not None:
            raise ValueError('give the checkpoint as pretrained or as init_cfg, not both')
        super().__init__(init_cfg=dict(type='Pretrained', checkpoint=pretrained) if pretrained else init_cfg)
        self.arch_settings = LVViT.resolve_arch(arch)
        embed_dims = self.embed_dims = self.arch_settings['embed_dims']
        self.num_layers = self.arch_settings['num_layers']
        self.img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.patch_size = patch_size
        self.interpolate_mode = interpolate_mode
        self.final_norm = final_norm
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.attn_kernel = check_kernel(attn_kernel)

        out_indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        self.out_indices = [i % self.num_layers for i in out_indices]
        if any(not -self.num_layers <= i < self.num_layers for i in out_indices):
            raise ValueError(f'out_indices {out_indices} out of range for {self.num_layers} blocks')
        if pyramid not in PYRAMID_MODES:
            raise ValueError(f'pyramid must be one of {PYRAMID_MODES}, got {pyramid!r}')
        if pyramid == 'side_layers' and len(self.out_indices) != 4:
            raise ValueError(f"pyramid='side_layers' needs 4 out_indices (e.g. the official (6, 9, 12, 15) for "
                             f"LV-ViT-S), got {out_indices}")

        self.patch_padding = patch_padding
        self.patch_embed = self._build_patch_embed(in_channels, patch_size, stem_norm_cfg, stem_channels_last)
        self.pos_grid = (self.img_size[0] // patch_size, self.img_size[1] // patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.pos_grid[0] * self.pos_grid[1], embed_dims))
        self.pos_drop = nn.Dropout(drop_rate)
        drop_path_rates = torch.linspace(0, drop_path_rate, self.num_layers).tolist()
        self.blocks = nn.ModuleList(
            LVViTBlock(embed_dims, self.arch_settings['num_heads'], self.arch_settings['mlp_ratio'],
                       self.arch_settings['skip_lam'], qkv_bias, drop_rate, attn_drop_rate, dpr, norm_cfg, with_cp,
                       attn_kernel)
            for dpr in drop_path_rates)
        self.norm = build_norm_layer(norm_cfg or dict(type='LN'), embed_dims)[1] if final_norm else nn.Identity()

        self.side_layers = None
        if pyramid == 'side_layers':
            pyramid_norm_cfg = pyramid_norm_cfg or dict(type='BN')
            self.side_layers = nn.ModuleList(
                _side_layer(embed_dims, out_channels, upsample, pyramid_norm_cfg)
                for upsample, out_channels in zip((4, 2, 1, 1), (embed_dims,) * 3 + (pyramid_out_channels,)))
        self._freeze_stages()

    def _build_patch_embed(self, in_channels: int, patch_size: int, norm_cfg: dict | None,
                           channels_last: bool) -> nn.Module:
        """The module that turns images ``(B, C, H, W)`` into tokens ``(B, h*w, embed_dims)`` and their grid
        ``(h, w)``: LV-ViT's conv stem. Subclasses with another tokenizer (T2T-ViT) override this."""
        return ConvPatchEmbed(in_channels, self.arch_settings['stem_channels'], self.embed_dims, patch_size,
                              norm_cfg, channels_last, self.patch_padding)

    # ---------------------------------------------------------------- weights
    def init_weights(self) -> None:
        """Random init as timm's ViT (truncated normal 0.02), or load the checkpoint named by ``init_cfg``."""
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            self.load_pretrained(self.init_cfg['checkpoint'])
            return
        if self.init_cfg is not None:
            super().init_weights()
            return
        trunc_normal_(self.pos_embed, std=0.02)
        trunc_normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.LayerNorm, *BATCH_NORMS)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def load_pretrained(self, checkpoint: str | Mapping, source: str | None = None) -> dict[str, list[str]]:
        """Load an LV-ViT checkpoint (a file, or what ``torch.load`` returned) into this backbone, heads
        dropped and ``pos_embed`` resized.

        Returns (and logs) the ``dropped`` (heads; the final ``norm`` unless ``final_norm``), ``missing`` and
        ``unexpected`` key names. Raises ValueError naming the file (or ``source``) if its embed dim or depth
        differs from this model's.
        """
        checkpoint, source = read_checkpoint(checkpoint, source)
        state_dict, dropped = self._convert_checkpoint(checkpoint)
        return load_converted(self, state_dict, dropped, source, final_norm_prefix='norm.',
                              dense_only=('side_layers.',))

    def _convert_checkpoint(self, checkpoint: Mapping) -> tuple[dict[str, torch.Tensor], list[str]]:
        """This backbone's weights and the dropped key names, from a loaded checkpoint (official or lvseg)."""
        return convert_lvvit_checkpoint(checkpoint, pos_grid=self.pos_grid, interpolate_mode=self.interpolate_mode)

    def check_compatible(self, state_dict: dict[str, torch.Tensor], source: str) -> None:
        """Raise :class:`~lvseg.checkpoints.fit.CheckpointMismatchError` (a ValueError) naming ``source`` if
        converted weights ``state_dict`` come from a model of another depth or embed dim, or hold a tensor of
        another shape than this backbone's."""
        depth = 1 + max((int(k.split('.')[1]) for k in state_dict if k.startswith('blocks.')), default=-1)
        width = state_dict['cls_token'].shape[-1] if 'cls_token' in state_dict else None
        if depth != self.num_layers or width != self.embed_dims:
            raise CheckpointMismatchError(
                f'checkpoint {source} holds a model of depth {depth} and embed dim {width}, but this backbone has '
                f'depth {self.num_layers} and embed dim {self.embed_dims} (arch {self.arch_settings}); pick the '
                'matching arch')
        own = self.state_dict()
        wrong = {k: (tuple(v.shape), tuple(own[k].shape)) for k, v in state_dict.items()
                 if k in own and v.shape != own[k].shape}
        if wrong:
            raise CheckpointMismatchError(f'checkpoint {source}: tensor shapes differ from this backbone '
                                          f'(key: (checkpoint, model)): {wrong}')

    # ---------------------------------------------------------------- forward
    def forward_tokens(self, tokens: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """Run patch tokens ``(B, h*w, C)`` through class token, position embedding, all blocks and the final
        norm (if ``final_norm``); return ``(B, 1 + h*w, C)`` with the class token first."""
        x = self._add_cls_and_pos(tokens, hw_shape)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Images ``(B, 3, H, W)`` -> one ``(B, C_i, H_i, W_i)`` map per entry of ``out_indices``
        (strides and channels as in the class docstring)."""
        tokens, hw_shape = self.patch_embed(x)
        x = self._add_cls_and_pos(tokens, hw_shape)
        outs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.out_indices:
                out = self.norm(x) if i == self.num_layers - 1 else x
                outs.append(out[:, 1:].transpose(1, 2).reshape(x.shape[0], -1, *hw_shape).contiguous())
        if self.side_layers is not None:
            outs = [side(out) for side, out in zip(self.side_layers, outs)]
        return tuple(outs)

    def _add_cls_and_pos(self, tokens: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        pos_embed = self.pos_embed
        if tuple(hw_shape) != self.pos_grid:
            pos_embed = VisionTransformer.resize_pos_embed(pos_embed, hw_shape, self.pos_grid,
                                                           self.interpolate_mode)
        x = torch.cat((self.cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
        return self.pos_drop(x + pos_embed)

    # ---------------------------------------------------------------- training helpers
    def get_layer_depth(self, param_name: str) -> tuple[int, int]:
        """Layer index of a parameter for layer-wise lr decay: 0 for the stem, ``cls_token`` and ``pos_embed``,
        i + 1 for block i, ``num_layers + 1`` for everything after the blocks. Returns (depth, num_depths)."""
        num_depths = self.num_layers + 2
        if param_name.startswith(('patch_embed.', 'cls_token', 'pos_embed')):
            return 0, num_depths
        if param_name.startswith('blocks.'):
            return int(param_name.split('.')[1]) + 1, num_depths
        return num_depths - 1, num_depths

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen: list[nn.Module] = [self.patch_embed, *self.blocks[:self.frozen_stages]]
        self.cls_token.requires_grad = False
        self.pos_embed.requires_grad = False
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> LVViT:
        """Switch mode, keeping frozen stages (and every BN when ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, BATCH_NORMS):
                    module.eval()
        return self
