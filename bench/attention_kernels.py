"""The two attention kernels at the shapes lvseg runs, fp32 and bf16, training and inference, on the CPU.

    python bench/attention_kernels.py            # 7 repeats of the probe per case, one thread
    python bench/attention_kernels.py --short    # CI: 2 repeats, the smallest shape only

What ``attn_kernel='auto'`` decides from (``lvseg/models/backbones/attention.py``): each case is timed with the
probe the models run at their first call, :func:`lvseg.models.backbones.attention.time_kernels` (fused
``F.scaled_dot_product_attention`` and the explicit ``softmax((q * scale) k^T) v`` in turn, the fastest of
``PROBE_ROUNDS`` calls each; forward, plus backward in training), ``--repeats`` times. It prints each kernel's
milliseconds (median of the repeats, range), the fused kernel's speed against the explicit one (explicit time /
fused time: > 1, fused is faster) and the kernel ``'auto'`` takes from those medians. The figures of one machine
belong in the README; the models re-measure on theirs. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import os
import statistics
from typing import NamedTuple

import torch
from machine import cpu_name, load_average

from lvseg.models.backbones.attention import AttentionCase, KernelChoice, time_kernels


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


def measure(shape: Shape, dtype: torch.dtype, grad: bool, repeats: int) -> dict[str, list[float]]:
    """Seconds of each kernel's fastest call, once per repeat: ``{'fused': [...], 'explicit': [...]}``."""
    q = torch.empty(shape.batch, shape.heads, shape.tokens, shape.head_dims, dtype=dtype)
    runs = [time_kernels(q, q, q, dtype, grad) for _ in range(repeats)]
    return {name: [run[name] for run in runs] for name in runs[0]}


def auto_choice(shape: Shape, dtype: torch.dtype, grad: bool, medians: dict[str, float]) -> str:
    """The kernel ``'auto'`` takes for this case when the probe measures ``medians`` (lvseg's own rule)."""
    q = torch.empty(shape.batch, shape.heads, shape.tokens, shape.head_dims, dtype=dtype, requires_grad=grad)
    with torch.set_grad_enabled(grad):
        case = AttentionCase.of(q, q, q)
    choice = KernelChoice(timer=lambda *args: medians)
    return choice.decide(case, q, q, q)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=7, help='probes per case')
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
                      f"auto takes {auto_choice(shape, dtype, grad, medians)}", flush=True)
    print(f'load average after: {load_average():.2f}')


if __name__ == '__main__':
    main()
