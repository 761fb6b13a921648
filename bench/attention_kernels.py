"""The two attention kernels at the shapes lvseg runs, fp32 and bf16, training and inference, on the CPU.

    python bench/attention_kernels.py            # 7 timings per case, one thread
    python bench/attention_kernels.py --short    # CI: 2 timings, the smallest shape only

What the rule of ``attn_kernel='auto'`` (:func:`lvseg.models.backbones.attention.choose_kernel`) was written from.
Each timing (:func:`time_kernels`) runs fused ``F.scaled_dot_product_attention`` and the explicit
``softmax((q * scale) k^T) v`` in turn, ``ROUNDS`` calls each after a warm-up call each (forward, plus backward in
training), and keeps each kernel's fastest call (the minimum: other processes on the machine only ever add
time); a case is timed ``--repeats`` times. It prints each kernel's milliseconds (median of the repeats, range),
the fused kernel's speed against the explicit one (explicit time / fused time: > 1, fused is faster) and the
kernel ``'auto'`` takes by the rule, which the models follow without timing anything. Nothing is asserted: if
this machine's figures contradict the rule, the rule's docstring cites the ones it was written from.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import NamedTuple

import torch
from machine import cpu_name, load_average

from lvseg.models.backbones.attention import KERNELS, Kernel, choose_kernel


class Shape(NamedTuple):
    """``(batch, heads, tokens, head width)`` of one attention call, and where lvseg makes it."""

    name: str
    batch: int
    heads: int
    tokens: int
    head_dims: int


SHAPES = (
    Shape('demo LV-ViT, 128 px, batch 32', 32, 4, 65, 32),
    Shape('LV-ViT-S pretraining, 224 px, batch 8', 8, 6, 197, 64),
    Shape('LV-ViT-S UperNet window, 512 px, batch 2', 2, 6, 1025, 64),
)
DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16}
ROUNDS = 5  # calls of each kernel per timing


def time_kernels(shape: Shape, dtype: torch.dtype, grad: bool) -> dict[str, float]:
    """Seconds of each kernel's fastest call (forward, and backward when ``grad``) on random CPU inputs of
    ``shape`` in ``dtype``: ``ROUNDS`` calls each, taken in turn, after one warm-up call each."""
    generator = torch.Generator().manual_seed(0)
    batch = (shape.batch, shape.heads, shape.tokens)
    inputs = [torch.randn(*batch, shape.head_dims, generator=generator).to(dtype).requires_grad_(grad)
              for _ in range(3)]
    out_grad = torch.randn(*batch, shape.head_dims, generator=generator).to(dtype)
    scale = shape.head_dims ** -0.5

    def call(kernel: Kernel) -> None:
        out = kernel(*inputs, scale)
        if grad:
            torch.autograd.grad(out, inputs, out_grad)

    seconds: dict[str, list[float]] = {name: [] for name in KERNELS}
    with torch.set_grad_enabled(grad):
        for kernel in KERNELS.values():
            call(kernel)
        for _ in range(ROUNDS):
            for name, kernel in KERNELS.items():
                start = time.perf_counter()
                call(kernel)
                seconds[name].append(time.perf_counter() - start)
    return {name: min(times) for name, times in seconds.items()}


def measure(shape: Shape, dtype: torch.dtype, grad: bool, repeats: int) -> dict[str, list[float]]:
    """Seconds of each kernel's fastest call, once per repeat: ``{'fused': [...], 'explicit': [...]}``."""
    runs = [time_kernels(shape, dtype, grad) for _ in range(repeats)]
    return {name: [run[name] for run in runs] for name in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=7, help='timings per case')
    parser.add_argument('--threads', type=int, default=1, help='torch threads (default 1: per core)')
    parser.add_argument('--short', action='store_true', help='CI: 2 repeats of the smallest shape')
    args = parser.parse_args()
    shapes = SHAPES[:1] if args.short else SHAPES
    repeats = 2 if args.short else args.repeats
    torch.set_num_threads(args.threads)
    print(f'machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} thread(s), '
          f'{repeats} repeats; load average before: {load_average():.2f}')
    for shape in shapes:
        for dtype_name, dtype in DTYPES.items():
            for grad in (True, False):
                seconds = measure(shape, dtype, grad, repeats)
                medians = {name: statistics.median(times) for name, times in seconds.items()}
                spans = {name: f'{1e3 * medians[name]:.2f} ms ({1e3 * min(times):.2f} - {1e3 * max(times):.2f})'
                         for name, times in seconds.items()}
                ratios = [e / f for e, f in zip(seconds['explicit'], seconds['fused'])]
                print(f'{shape.name} [{dtype_name}, {"training" if grad else "inference"}]: '
                      f'fused {spans["fused"]}, explicit {spans["explicit"]}; fused speed / explicit: median '
                      f'{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}); '
                      f"auto takes {choose_kernel('cpu', dtype, grad, shape.tokens)[0]}", flush=True)
    print(f'load average after: {load_average():.2f}')


if __name__ == '__main__':
    main()
