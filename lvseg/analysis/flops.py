"""FLOP and parameter counts, from one source: mmengine's jit-traced ``FlopAnalyzer``.

One multiply-add counts as one FLOP (mmengine's and fvcore's convention). mmengine 0.10 has no handle for
``aten::scaled_dot_product_attention``, so without :func:`sdpa_flop_jit` every fused attention would count 0.
Element-wise ops, norms and softmax are not counted (as in mmengine and fvcore).
"""
from __future__ import annotations

from math import prod

import torch
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.analysis.jit_handles import get_shape


def sdpa_flop_jit(inputs: list, outputs: list) -> int:
    """Multiply-adds of ``scaled_dot_product_attention(q, k, v)``: ``q @ k^T`` then ``attn @ v``.

    q ``(..., L, E)``, k ``(..., S, E)``, v ``(..., S, Ev)`` -> ``prod(...) * L * S * (E + Ev)``.
    """
    query, key, value = (get_shape(v) for v in inputs[:3])
    return prod(query[:-1]) * key[-2] * (query[-1] + value[-1])


def count_flops_and_params(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[int, int]:
    """``(FLOPs, parameters)`` of one ``model(*inputs)`` call (counted in eval mode, without gradients)."""
    analyzer = FlopAnalyzer(model, inputs).set_op_handle('aten::scaled_dot_product_attention', sdpa_flop_jit)
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with torch.no_grad():
        flops = analyzer.total()
    return flops, parameter_count(model)['']
