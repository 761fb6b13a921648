"""Multi-head self-attention whose kernel is chosen per device, dtype and shape: fused or explicit.

Two kernels compute ``softmax(q k^T * scale) v`` for ``q (..., N, D)``, ``k (..., M, D)``, ``v (..., M, Dv)``:

- ``'fused'``: ``F.scaled_dot_product_attention`` (FlashAttention-style: never materialises the ``N x M`` scores);
- ``'explicit'``: two matmuls and a softmax, as the official LV-ViT code writes it (``(q * scale) @ k^T``).

``'auto'`` (the default) picks one with :data:`KERNEL_CHOICE`, once per :class:`AttentionCase` (device type,
dtype, gradients or not, head width, tokens rounded up to a power of two), and logs the choice once:

- **CUDA and other accelerators: fused**, untimed. FlashAttention / memory-efficient kernels are the point of
  SDPA there (less memory, fewer passes); nothing to measure.
- **CPU in float32 / float64: fused**, untimed. Where lvseg was measured (README, "Attention kernels"), fused was
  much faster at long sequences (UperNet's windows) and for inference, and as fast or a little slower in training
  at short ones; an untimed choice keeps float32 runs the same from one process to the next.
- **CPU in bfloat16 / float16: timed** at the first call of each case (:func:`time_kernels`: both kernels
  interleaved on random inputs of the call's shape, the fastest of ``PROBE_ROUNDS`` calls each after a warm-up:
  the minimum, as other processes on the machine only ever add time), explicit taken only when
  ``EXPLICIT_MARGIN`` times faster. The answer swings with the shape, with training vs inference and with the
  CPU's bf16 instructions (the fused CPU kernel's bf16 backward is slow where it was measured, its inference at
  long sequences fast), so a fixed table would be right for one CPU only; the probe runs once per case and
  process.

Under ``torch.compile`` or JIT tracing (FLOP counting) ``'auto'`` means fused, untimed. ``kernel='fused'`` or
``'explicit'`` skips the choice (the benchmarks' naive baseline is ``'explicit'``).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log

KERNEL_NAMES = ('auto', 'fused', 'explicit')
EXPLICIT_MARGIN = 1.1  # explicit must be this many times faster than fused to be taken (fused needs less memory)
PROBE_ROUNDS = 5
PROBE_MAX_SCORES = 2 ** 26  # probe on at most this many attention scores (B*H*N*M), ~128 MiB of bf16
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


@dataclass(frozen=True)
class AttentionCase:
    """What the kernel choice depends on: device type, compute dtype (autocast's when autocast is on),
    whether gradients flow, head width ``D`` and the token count rounded up to a power of two."""

    device_type: str
    dtype: torch.dtype
    grad: bool
    head_dims: int
    token_class: int

    @classmethod
    def of(cls, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> AttentionCase:
        device_type = q.device.type
        dtype = (torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else q.dtype)
        grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
        tokens = max(q.shape[-2], k.shape[-2])
        return cls(device_type, dtype, grad, q.shape[-1], 2 ** math.ceil(math.log2(max(tokens, 1))))

    def describe(self) -> str:
        return (f'{self.device_type} {str(self.dtype).removeprefix("torch.")} '
                f'{"training" if self.grad else "inference"}, up to {self.token_class} tokens, head dim '
                f'{self.head_dims}')


def time_kernels(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dtype: torch.dtype, grad: bool,
                 rounds: int = PROBE_ROUNDS) -> dict[str, float]:
    """Seconds of each kernel's fastest call (forward, and backward when ``grad``) on random CPU inputs shaped
    like ``q, k, v`` in ``dtype``: ``rounds`` calls each, taken in turn, after one warm-up call each.

    The inputs come from a private generator (the global random state is left alone) and are cut to at most
    ``PROBE_MAX_SCORES`` attention scores along the batch and head dimensions (the kernels' cost is linear in them).
    """
    tokens, keys = q.shape[-2], k.shape[-2]
    rows = max(1, min(math.prod(q.shape[:-2]), PROBE_MAX_SCORES // (tokens * keys)))
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.randn(rows, n, d, generator=generator).to(dtype).requires_grad_(grad)
              for n, d in ((tokens, q.shape[-1]), (keys, k.shape[-1]), (keys, v.shape[-1]))]
    out_grad = torch.randn(rows, tokens, v.shape[-1], generator=generator).to(dtype)
    scale = q.shape[-1] ** -0.5

    def call(kernel: Kernel) -> None:
        out = kernel(*inputs, scale)
        if grad:
            torch.autograd.grad(out, inputs, out_grad)

    seconds: dict[str, list[float]] = {name: [] for name in KERNELS}
    with torch.autocast('cpu', enabled=False), torch.set_grad_enabled(grad):
        for kernel in KERNELS.values():
            call(kernel)
        for _ in range(rounds):
            for name, kernel in KERNELS.items():
                start = time.perf_counter()
                call(kernel)
                seconds[name].append(time.perf_counter() - start)
    return {name: min(times) for name, times in seconds.items()}


class KernelChoice:
    """Picks ``'fused'`` or ``'explicit'`` for a call's :class:`AttentionCase`, once, and logs it (see the module
    docstring for the rule). ``choices`` holds the decisions of this process.

    Args:
        timer: ``(q, k, v, dtype, grad) -> {kernel: seconds}``; :func:`time_kernels` by default.
    """

    def __init__(self, timer: Callable[..., dict[str, float]] = time_kernels) -> None:
        self.timer = timer
        self.choices: dict[AttentionCase, str] = {}

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> str:
        if torch.compiler.is_compiling() or torch.jit.is_tracing():
            return 'fused'
        case = AttentionCase.of(q, k, v)
        if case not in self.choices:
            self.choices[case], reason = self.decide(case, q, k, v)
            print_log(f'attention kernel for {case.describe()}: {self.choices[case]} ({reason})', logger='current')
        return self.choices[case]

    def decide(self, case: AttentionCase, q: torch.Tensor, k: torch.Tensor,
               v: torch.Tensor) -> tuple[str, str]:
        """The kernel for ``case`` and why, timing both on the CPU in reduced precision."""
        if case.device_type != 'cpu':
            return 'fused', f'scaled_dot_product_attention on {case.device_type}, not timed'
        if case.dtype not in (torch.bfloat16, torch.float16):
            return 'fused', f'the rule for {case.dtype} on CPUs, not timed: the same kernel in every process'
        # In a thread of its own: the caller's thread-local contexts (activation checkpointing's saved-tensor hooks,
        # which count the tensors a forward saves, dispatch modes, autocast) must not see the probe's work.
        with ThreadPoolExecutor(max_workers=1) as thread:
            seconds = thread.submit(self.timer, q, k, v, case.dtype, case.grad).result()
        kernel = 'explicit' if seconds['explicit'] * EXPLICIT_MARGIN < seconds['fused'] else 'fused'
        return kernel, (f'timed: explicit softmax(q k^T) v {1e3 * seconds["explicit"]:.2f} ms, fused '
                        f'scaled_dot_product_attention {1e3 * seconds["fused"]:.2f} ms, for {tuple(q.shape)}')


KERNEL_CHOICE = KernelChoice()


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, dropout_p: float = 0.0,
           kernel: str = 'auto') -> torch.Tensor:
    """``softmax(q k^T * scale) v`` by ``kernel`` ('auto': :data:`KERNEL_CHOICE` decides): ``q (..., N, D)``,
    ``k (..., M, D)``, ``v (..., M, Dv)`` -> ``(..., N, Dv)``."""
    if kernel == 'auto':
        kernel = KERNEL_CHOICE(q, k, v)
    return KERNELS[kernel](q, k, v, scale, dropout_p)


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
        batch, tokens, dims = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dims // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, N, C/H) each
        out = attend(q, k, v, self.scale, self.attn_drop if self.training else 0.0, self.kernel)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(batch, tokens, dims)))
