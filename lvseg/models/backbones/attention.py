"""Multi-head self-attention with one of two kernels, chosen by a fixed rule per device and dtype: fused or explicit.

Two kernels compute ``softmax(q k^T * scale) v`` for ``q (..., N, D)``, ``k (..., M, D)``, ``v (..., M, Dv)``:

- ``'fused'``: ``F.scaled_dot_product_attention`` (FlashAttention-style: never materialises the ``N x M`` scores);
- ``'explicit'``: two matmuls and a softmax, as the official LV-ViT code writes it (``(q * scale) @ k^T``).

``'auto'`` (the default) takes the kernel that :func:`choose_kernel` gives for the call's device type, compute
dtype, gradients and tokens (a rule written here, measured once, never timed at run time: every process, DDP rank
and resumed run takes the same kernel), and :data:`KERNEL_CHOICE` logs it once per :class:`AttentionCase`:

- **CUDA and other accelerators: fused** (FlashAttention / memory-efficient kernels are the point of SDPA there);
- **CPU in float32 / float64: fused**;
- **CPU in bfloat16 / float16: explicit**, training and inference (the fused CPU kernel's bf16 backward is slow).

Under ``torch.compile`` or JIT tracing (FLOP counting) ``'auto'`` means fused, unlogged. ``kernel='fused'`` or
``'explicit'`` skips the rule (the benchmarks' naive baseline is ``'explicit'``).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log

KERNEL_NAMES = ('auto', 'fused', 'explicit')
MEASURED_TOKENS = (65, 1025)  # the shortest and the longest sequence of bench/attention_kernels.py
Kernel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float, float], torch.Tensor]


def fused_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
                    dropout_p: float = 0.0) -> torch.Tensor:
    """``softmax(q k^T * scale) v`` by ``F.scaled_dot_product_attention``: ``(..., N, D)``, ``(..., M, D)``,
    ``(..., M, Dv)`` -> ``(..., N, Dv)``; dropout on the attention weights with probability ``dropout_p``."""
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, scale=scale)


def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
                       dropout_p: float = 0.0) -> torch.Tensor:
    """The same as :func:`fused_attention` written out: ``softmax((q * scale) @ k^T) @ v``, scaling ``q`` (as the
    official LV-ViT code does) rather than the ``N x M`` scores."""
    attn = ((q * scale) @ k.transpose(-2, -1)).softmax(dim=-1)
    if dropout_p > 0:
        attn = F.dropout(attn, dropout_p)
    return attn @ v


KERNELS: dict[str, Kernel] = {'fused': fused_attention, 'explicit': explicit_attention}


def choose_kernel(device_type: str, dtype: torch.dtype, grad: bool, tokens: int) -> tuple[str, str]:
    """The kernel ``'auto'`` takes, and why: ``('fused' or 'explicit', reason)``. A pure function: every process
    (DDP ranks, a resumed run) takes the same kernel for the same case.

    Args:
        device_type: ``torch.device.type`` of the inputs ('cpu', 'cuda', ...).
        dtype: the compute dtype (autocast's when autocast is on).
        grad: whether gradients flow (training) or not (inference).
        tokens: the longer of the query and key sequences, ``max(N, M)``.

    Accelerators take the fused kernel: its FlashAttention / memory-efficient kernels are the point of SDPA there.
    On the CPU the rule follows ``bench/attention_kernels.py``, 2 runs on an AMD EPYC 2-core on 2026-12-01 at
    commit a21eee1 (one thread; explicit time / fused time, the median of 7 timings: above 1, fused is faster):

    ======================================  =============  ==============  =============  ==============
    case (B x H x N x D)                    fp32 training  fp32 inference  bf16 training  bf16 inference
    ======================================  =============  ==============  =============  ==============
    demo LV-ViT, 128 px (32 x 4 x 65 x 32)  0.85 / 0.87    1.05 / 1.07     0.17 / 0.16    0.47 / 0.58
    LV-ViT-S, 224 px (8 x 6 x 197 x 64)     1.02 / 0.95    1.18 / 1.20     0.36 / 0.37    0.64 / 0.60
    UperNet window, 512 px (2x6x1025x64)    1.83 / 1.94    2.77 / 2.71     0.74 / 0.56    1.17 / 0.62
    ======================================  =============  ==============  =============  ==============

    float32 / float64: fused, at worst 0.85x as fast (training at 65 tokens), up to 2.8x as fast at long
    sequences, and without the ``N x M`` scores in memory. bfloat16 / float16 (float16 not measured, taken as
    bfloat16): explicit, in training (the fused CPU kernel's bf16 backward is slow) and in inference (faster up to
    197 tokens; at 1025 tokens the two runs disagreed, 1.17 and 0.62, so no token threshold is drawn). The kernel
    does not depend on ``tokens``; outside the measured 65 to 1025 tokens the reason says so.
    """
    if device_type != 'cpu':
        return 'fused', f'scaled_dot_product_attention on {device_type}'
    measured = ('' if MEASURED_TOKENS[0] <= tokens <= MEASURED_TOKENS[1]
                else f'; {tokens} tokens, outside the measured {MEASURED_TOKENS[0]} to {MEASURED_TOKENS[1]}')
    if dtype not in (torch.bfloat16, torch.float16):
        speed = 'at worst 0.85x as fast at 65 tokens, 1.9x at 1025' if grad else '1.05x to 2.8x as fast'
        return 'fused', f'the CPU rule for {dtype}: fused {speed} (bench/attention_kernels.py, float32){measured}'
    speed = ('explicit 1.4x to 6x as fast' if grad
             else 'explicit 1.6x to 2.1x as fast up to 197 tokens, unsettled at 1025')
    return 'explicit', f'the CPU rule for {dtype}: {speed} (bench/attention_kernels.py, bfloat16){measured}'


def tokens_of(q: torch.Tensor, k: torch.Tensor) -> int:
    """The longer of the query and key sequences, ``max(N, M)``, of ``q (..., N, D)`` and ``k (..., M, D)``."""
    return max(q.shape[-2], k.shape[-2])


@dataclass(frozen=True)
class AttentionCase:
    """What :func:`choose_kernel` is asked per call: device type, compute dtype (autocast's when autocast is on),
    whether gradients flow, and the token count ``max(N, M)`` rounded up to a power of two (so that inputs of
    varying size log a few lines, not one per size)."""

    device_type: str
    dtype: torch.dtype
    grad: bool
    token_class: int

    @classmethod
    def of(cls, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> AttentionCase:
        device_type = q.device.type
        dtype = (torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else q.dtype)
        grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
        return cls(device_type, dtype, grad, 2 ** math.ceil(math.log2(max(tokens_of(q, k), 1))))

    def describe(self) -> str:
        return (f'{self.device_type} {str(self.dtype).removeprefix("torch.")} '
                f'{"training" if self.grad else "inference"}, up to {self.token_class} tokens')


class KernelChoice:
    """The kernel of :func:`choose_kernel` for a call's :class:`AttentionCase`, logged once per case (the reason
    from the case's first call). ``choices`` holds the cases this process has met and their kernels."""

    def __init__(self) -> None:
        self.choices: dict[AttentionCase, str] = {}

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> str:
        if torch.compiler.is_compiling() or torch.jit.is_tracing():
            return 'fused'
        case = AttentionCase.of(q, k, v)
        if case not in self.choices:
            self.choices[case], reason = choose_kernel(case.device_type, case.dtype, case.grad, tokens_of(q, k))
            print_log(f'attention kernel for {case.describe()}: {self.choices[case]} ({reason})', logger='current')
        return self.choices[case]


KERNEL_CHOICE = KernelChoice()


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, dropout_p: float = 0.0,
           kernel: str = 'auto') -> torch.Tensor:
    """``softmax(q k^T * scale) v`` by ``kernel`` ('auto': :data:`KERNEL_CHOICE` decides): ``q (..., N, D)``,
    ``k (..., M, D)``, ``v (..., M, Dv)`` -> ``(..., N, Dv)``."""
    if kernel == 'auto':
        kernel = KERNEL_CHOICE(q, k, v)
    return KERNELS[kernel](q, k, v, scale, dropout_p)


def attend_heads(qkv: torch.Tensor, num_heads: int, scale: float, dropout_p: float = 0.0,
                 kernel: str = 'auto') -> torch.Tensor:
    """Multi-head self-attention of packed projections by :func:`attend`: ``qkv (B, N, 3C)``, queries, keys and
    values side by side, each split into ``num_heads`` heads of ``C / H`` channels -> ``(B, N, C)``, the heads'
    outputs side by side (timm's ``qkv`` and ``nn.MultiheadAttention``'s ``in_proj`` pack alike)."""
    batch, tokens, dims = qkv.shape[0], qkv.shape[1], qkv.shape[2] // 3
    q, k, v = qkv.reshape(batch, tokens, 3, num_heads, dims // num_heads).permute(2, 0, 3, 1, 4).unbind(0)
    out = attend(q, k, v, scale, dropout_p, kernel)  # (B, H, N, C/H)
    return out.transpose(1, 2).reshape(batch, tokens, dims)


def check_kernel(kernel: str) -> str:
    """Return ``kernel`` if it is one of :data:`KERNEL_NAMES`, else raise a ValueError naming the choices."""
    if kernel not in KERNEL_NAMES:
        raise ValueError(f'attention kernel must be one of {KERNEL_NAMES}, got {kernel!r}')
    return kernel


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention, tokens ``(B, N, C)`` -> ``(B, N, C)``, with the parameter names of the official
    LV-ViT (and timm) ``Attention``: ``qkv`` (C -> 3C) and ``proj`` (C -> C).

    Args:
        embed_dims: token width C.
        num_heads: heads H; each is ``C / H`` wide.
        qkv_bias: bias in ``qkv`` (False in LV-ViT).
        attn_drop: dropout probability of the attention weights (in training).
        proj_drop: dropout probability after ``proj``.
        kernel: 'auto' (chosen per device, dtype and shape; see the module docstring), 'fused' or 'explicit'.
    """

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool = False, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, kernel: str = 'auto') -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} is not a multiple of num_heads {num_heads}')
        self.num_heads = num_heads
        self.scale = (embed_dims // num_heads) ** -0.5
        self.kernel = check_kernel(kernel)
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = attend_heads(self.qkv(x), self.num_heads, self.scale, self.attn_drop if self.training else 0.0,
                           self.kernel)
        return self.proj_drop(self.proj(out))
