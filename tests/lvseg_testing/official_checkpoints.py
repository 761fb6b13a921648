"""State dicts with the exact key names and shapes of the released models' files (read from the official code),
filled with random tensors, at any size; a reference of the official segmentation backbone; tiny evaluation configs
for them.

- classifiers: ``tlt/models/lvvit.py`` ``LV_ViT`` (github.com/zihangJiang/TokenLabeling);
- ADE20K segmentors: mmseg 0.x ``EncoderDecoder`` with ``seg/mmseg/models/backbones/vit.py`` (``ViT`` with
  ``p_emb='4_2'``, ``use_side_layer=True``), mmseg 0.x ``UPerHead`` and ``FCNHead`` with SyncBN.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BN_STATS = ('weight', 'bias', 'running_mean', 'running_var')


def _batch_norm(shapes: dict, prefix: str, channels: int) -> None:
    for stat in BN_STATS:
        shapes[f'{prefix}.{stat}'] = (channels,)
    shapes[f'{prefix}.num_batches_tracked'] = ()


def _trunk_shapes(embed_dims: int, depth: int, stem: int, grid: int) -> dict[str, tuple[int, ...]]:
    """The LV-ViT trunk without final norm: stem, class token, position embedding, blocks (qkv without bias)."""
    hidden = 3 * embed_dims
    shapes = {'cls_token': (1, 1, embed_dims), 'pos_embed': (1, 1 + grid * grid, embed_dims),
              'patch_embed.conv1.weight': (stem, 3, 7, 7), 'patch_embed.conv2.weight': (stem, stem, 3, 3),
              'patch_embed.conv3.weight': (stem, stem, 3, 3), 'patch_embed.proj.weight': (embed_dims, stem, 8, 8),
              'patch_embed.proj.bias': (embed_dims,)}
    for i in (1, 2, 3):
        _batch_norm(shapes, f'patch_embed.bn{i}', stem)
    for b in range(depth):
        shapes.update({f'blocks.{b}.norm1.weight': (embed_dims,), f'blocks.{b}.norm1.bias': (embed_dims,),
                       f'blocks.{b}.attn.qkv.weight': (3 * embed_dims, embed_dims),
                       f'blocks.{b}.attn.proj.weight': (embed_dims, embed_dims),
                       f'blocks.{b}.attn.proj.bias': (embed_dims,),
                       f'blocks.{b}.norm2.weight': (embed_dims,), f'blocks.{b}.norm2.bias': (embed_dims,),
                       f'blocks.{b}.mlp.fc1.weight': (hidden, embed_dims), f'blocks.{b}.mlp.fc1.bias': (hidden,),
                       f'blocks.{b}.mlp.fc2.weight': (embed_dims, hidden), f'blocks.{b}.mlp.fc2.bias': (embed_dims,)})
    return shapes


def _random(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    """Random tensors of ``shapes``: weights scaled by their fan-in and norm gains near 1, so that deep stacks stay
    finite; BN statistics as a trained BN holds them (positive variances, an int64 count)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in shapes.items():
        noise = torch.randn(shape, generator=gen)
        if name.endswith('num_batches_tracked'):
            state[name] = torch.tensor(7)
        elif name.endswith('running_var'):
            state[name] = noise.abs() + 0.5
        elif name.endswith('.weight') and len(shape) > 1:
            state[name] = noise / math.sqrt(math.prod(shape[1:]))
        elif name.endswith('.weight'):
            state[name] = 1 + 0.1 * noise
        else:
            state[name] = 0.1 * noise
    return state


def official_state_dict(embed_dims: int = 32, depth: int = 2, stem: int = 8, grid: int = 14, num_classes: int = 10,
                        seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with exactly the key names and shapes of the official ``tlt/models/lvvit.py`` ``LV_ViT``: the
    trunk, the final ``norm``, ``head`` and ``aux_head``."""
    shapes = _trunk_shapes(embed_dims, depth, stem, grid)
    shapes.update({'norm.weight': (embed_dims,), 'norm.bias': (embed_dims,),
                   'head.weight': (num_classes, embed_dims), 'head.bias': (num_classes,),
                   'aux_head.weight': (num_classes, embed_dims), 'aux_head.bias': (num_classes,)})
    return _random(shapes, seed)


def official_segmentor_state_dict(embed_dims: int = 32, depth: int = 4, stem: int = 8, grid: int = 8,
                                  pyramid_channels: int = 64, channels: int = 16, aux_channels: int = 16,
                                  num_classes: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of an official ADE20K segmentor (UperNet + LV-ViT, mmseg 0.x), its names and shapes:

    - ``backbone.``: the trunk as the classifier's, no final norm; ``side_layer1`` = [ConvTranspose2d(C, C, 4,
      stride 4, no bias), BN, ReLU, Conv2d(C, C, 1, no bias), BN, ReLU], ``side_layer2`` the same with 2,
      ``side_layer3`` = [Conv2d(C, C, 1), BN, ReLU], ``side_layer4`` = [Conv2d(C, pyramid_channels, 1), BN, ReLU];
    - ``decode_head.`` (``UPerHead``, pool scales 1, 2, 3, 6, in channels [C, C, C, pyramid_channels]):
      ``psp_modules.{i}.1`` (after the pooling), ``bottleneck``, ``lateral_convs.{0,1,2}``, ``fpn_convs.{0,1,2}``,
      ``fpn_bottleneck``, each a ConvModule (``conv`` without bias, ``bn``), and ``conv_seg``;
    - ``auxiliary_head.`` (``FCNHead``, one 3x3 conv on level 3, ``concat_input=False``): ``convs.0``,
      ``conv_seg``.
    """
    c = embed_dims
    shapes = {f'backbone.{k}': v for k, v in _trunk_shapes(c, depth, stem, grid).items()}
    for level, upsample in ((1, 4), (2, 2)):
        shapes[f'backbone.side_layer{level}.0.weight'] = (c, c, upsample, upsample)
        _batch_norm(shapes, f'backbone.side_layer{level}.1', c)
        shapes[f'backbone.side_layer{level}.3.weight'] = (c, c, 1, 1)
        _batch_norm(shapes, f'backbone.side_layer{level}.4', c)
    for level, out in ((3, c), (4, pyramid_channels)):
        shapes[f'backbone.side_layer{level}.0.weight'] = (out, c, 1, 1)
        _batch_norm(shapes, f'backbone.side_layer{level}.1', out)

    def conv_module(prefix: str, out: int, inp: int, kernel: int) -> None:
        shapes[f'{prefix}.conv.weight'] = (out, inp, kernel, kernel)
        _batch_norm(shapes, f'{prefix}.bn', out)

    for i in range(4):
        conv_module(f'decode_head.psp_modules.{i}.1', channels, pyramid_channels, 1)
    conv_module('decode_head.bottleneck', channels, pyramid_channels + 4 * channels, 3)
    for i in range(3):
        conv_module(f'decode_head.lateral_convs.{i}', channels, c, 1)
        conv_module(f'decode_head.fpn_convs.{i}', channels, channels, 3)
    conv_module('decode_head.fpn_bottleneck', channels, 4 * channels, 3)
    shapes.update({'decode_head.conv_seg.weight': (num_classes, channels, 1, 1),
                   'decode_head.conv_seg.bias': (num_classes,)})
    conv_module('auxiliary_head.convs.0', aux_channels, c, 3)
    shapes.update({'auxiliary_head.conv_seg.weight': (num_classes, aux_channels, 1, 1),
                   'auxiliary_head.conv_seg.bias': (num_classes,)})
    return _random(shapes, seed)


class OfficialSegBackboneReference(nn.Module):
    """The forward pass of the official segmentation backbone (``seg/mmseg/models/backbones/vit.py``, eval mode),
    written out plainly, with the official module names so that the ``backbone.`` part of
    :func:`official_segmentor_state_dict` loads into it strictly.

    Stem convolutions without padding of the input, class token, position embedding resized bicubically from its
    square grid to the token grid, pre-norm blocks with LayerNorm eps 1e-6 and residual branches divided by
    ``skip_lam``, the patch tokens of blocks ``out_indices`` through ``side_layer1`` ... ``side_layer4``.
    """

    def __init__(self, embed_dims: int, depth: int, num_heads: int, stem: int, grid: int, skip_lam: float,
                 out_indices: tuple[int, ...], pyramid_channels: int) -> None:
        super().__init__()
        c = embed_dims
        self.num_heads, self.skip_lam, self.grid, self.out_indices = num_heads, skip_lam, grid, out_indices
        self.patch_embed = nn.Module()
        self.patch_embed.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.patch_embed.conv2 = nn.Conv2d(stem, stem, 3, 1, 1, bias=False)
        self.patch_embed.conv3 = nn.Conv2d(stem, stem, 3, 1, 1, bias=False)
        for i in (1, 2, 3):
            setattr(self.patch_embed, f'bn{i}', nn.BatchNorm2d(stem))
        self.patch_embed.proj = nn.Conv2d(stem, c, 8, 8)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, c))
        self.blocks = nn.ModuleList()
        for _ in range(depth):
            block = nn.Module()
            block.norm1, block.norm2 = nn.LayerNorm(c, eps=1e-6), nn.LayerNorm(c, eps=1e-6)
            block.attn = nn.Module()
            block.attn.qkv, block.attn.proj = nn.Linear(c, 3 * c, bias=False), nn.Linear(c, c)
            block.mlp = nn.Module()
            block.mlp.fc1, block.mlp.fc2 = nn.Linear(c, 3 * c), nn.Linear(3 * c, c)
            self.blocks.append(block)

        def up(k: int) -> list[nn.Module]:
            return [nn.ConvTranspose2d(c, c, k, stride=k, bias=False), nn.BatchNorm2d(c), nn.ReLU()]

        def conv(out: int) -> list[nn.Module]:
            return [nn.Conv2d(c, out, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]

        self.side_layer1 = nn.Sequential(*up(4), *conv(c))
        self.side_layer2 = nn.Sequential(*up(2), *conv(c))
        self.side_layer3 = nn.Sequential(*conv(c))
        self.side_layer4 = nn.Sequential(*conv(pyramid_channels))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        stem = self.patch_embed
        x = F.relu(stem.bn1(stem.conv1(images)))
        x = F.relu(stem.bn2(stem.conv2(x)))
        x = F.relu(stem.bn3(stem.conv3(x)))
        x = stem.proj(x)
        batch, c, h, w = x.shape
        pos = self.pos_embed[:, 1:].transpose(1, 2).reshape(1, c, self.grid, self.grid)
        pos = F.interpolate(pos, (h, w), mode='bicubic', align_corners=False).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(batch, -1, -1), x.flatten(2).transpose(1, 2)), 1)
        x = x + torch.cat((self.pos_embed[:, :1], pos), 1)
        outs = []
        for i, block in enumerate(self.blocks):
            x = x + self._attention(block, block.norm1(x)) / self.skip_lam
            x = x + block.mlp.fc2(F.gelu(block.mlp.fc1(block.norm2(x)))) / self.skip_lam
            if i in self.out_indices:
                outs.append(x[:, 1:].transpose(1, 2).reshape(batch, c, h, w))
        sides = (self.side_layer1, self.side_layer2, self.side_layer3, self.side_layer4)
        return tuple(side(out) for side, out in zip(sides, outs))

    def _attention(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        batch, n, c = x.shape
        q, k, v = block.attn.qkv(x).reshape(batch, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5).softmax(-1)
        return block.attn.proj((attn @ v).transpose(1, 2).reshape(batch, n, c))


def tiny_segmentor_config(eval_config: str, num_classes: int = 5, embed_dims: int = 32, depth: int = 4,
                          window: int = 128, data_root: str | None = None) -> str:
    """The text of a config inheriting the released-segmentor evaluation config ``eval_config`` (a path) with the
    sizes of :func:`official_segmentor_state_dict`'s defaults (position grid ``window / 16``: 8 for the default
    128; slide windows of ``window`` pixels with the official stride ratio 341 / 512; BN for the CPU); with
    ``data_root``, its test split is a ``ClassFileSegDataset`` there."""
    stride = window * 341 // 512
    text = f'''_base_ = [{str(eval_config)!r}]
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=({window}, {window})),
    backbone=dict(arch=dict(_delete_=True, embed_dims={embed_dims}, num_layers={depth}, num_heads=2, mlp_ratio=3.0,
                            stem_channels=8, skip_lam=2.0),
                  img_size=({window}, {window}), out_indices=(0, 1, 2, 3), pyramid_out_channels=64,
                  pyramid_norm_cfg=norm_cfg),
    decode_head=dict(in_channels=[{embed_dims}] * 3 + [64], channels=16, num_classes={num_classes},
                     norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels={embed_dims}, channels=16, num_classes={num_classes}, norm_cfg=norm_cfg),
    test_cfg=dict(crop_size=({window}, {window}), stride=({stride}, {stride})))
'''
    if data_root is not None:
        text += f'''test_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(type='ClassFileSegDataset', data_root={str(data_root)!r}, reduce_zero_label=True,
                 data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation')))
'''
    return text
