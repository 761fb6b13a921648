"""Modules that an exported graph computes for any input size, in place of two of mmseg's that fix sizes at the
traced example.

The exporter traces one example: sizes a module computes in Python, or indices it derives from them, become
constants of the graph, which then pools or resizes wrongly (or fails) at other sizes.

- ``nn.AdaptiveAvgPool2d`` (UperNet's pyramid pooling: bins of 1, 2, 3 and 6) has no ONNX operator, and the
  exporter decomposes it with index tables of the example's size. :class:`BinAveragePool` averages the same bins
  (bin ``i`` of ``n`` over a length ``L`` averages ``[floor(i L / n), ceil((i + 1) L / n))``, as
  ``AdaptiveAvgPool2d``) as two matrix products, ``rows @ x @ cols^T``, whose averaging matrices are built from
  ``arange(L)``: ops that take ``L`` from the input.
- mmseg's ``Upsample`` without a fixed size (FPN's scale heads) computes its output size as
  ``int(size * scale_factor)`` in Python. ``nn.Upsample`` with the same scale factor and
  ``recompute_scale_factor=True`` gives the same size and the same interpolation (from input size over output
  size), computed in the graph.

:func:`make_traceable` replaces both in a model, in place; ``tools/export.py`` does so on a copy.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from mmseg.models.utils import Upsample


def bin_matrix(length: int, bins: int, like: torch.Tensor) -> torch.Tensor:
    """``(bins, length)`` matrix whose row ``i`` averages bin ``i`` of adaptive pooling over ``length`` positions
    (dtype and device of ``like``)."""
    position = torch.arange(length, device=like.device)
    index = torch.arange(bins, device=like.device).unsqueeze(1)
    start, end = (index * length) // bins, ((index + 1) * length + bins - 1) // bins
    inside = ((position >= start) & (position < end)).to(like.dtype)
    return inside / inside.sum(dim=1, keepdim=True)


class BinAveragePool(nn.Module):
    """``nn.AdaptiveAvgPool2d(output_size)`` as averaging matrices: ``(B, C, H, W) -> (B, C, h, w)``."""

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        super().__init__()
        self.output_size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        bins_h, bins_w = (size if bins is None else bins for bins, size in zip(self.output_size, (height, width)))
        return bin_matrix(height, bins_h, x) @ x @ bin_matrix(width, bins_w, x).transpose(0, 1)


def traceable_replacement(module: nn.Module) -> nn.Module | None:
    """The module that stands for ``module`` in an exported graph, or None where it needs none."""
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return BinAveragePool(module.output_size)
    if isinstance(module, Upsample) and not module.size:
        return nn.Upsample(scale_factor=module.scale_factor, mode=module.mode, align_corners=module.align_corners,
                           recompute_scale_factor=True)
    return None


def make_traceable(model: nn.Module) -> dict[str, int]:
    """Replace, in place, every module of ``model`` that fixes sizes at the traced example
    (:func:`traceable_replacement`); return how many of each type were replaced."""
    replaced: dict[str, int] = {}
    for name, module in list(model.named_modules()):
        replacement = traceable_replacement(module)
        if replacement is not None:
            parent, _, attribute = name.rpartition('.')
            setattr(model.get_submodule(parent), attribute, replacement)
            replaced[type(module).__name__] = replaced.get(type(module).__name__, 0) + 1
    return replaced
