"""ONNX Runtime against PyTorch eager on the CPU: images/s of segmentors exported by lvseg, in the same run.

    python bench/export.py                         # the demo at 128 px (10 rounds), UperNet + LV-ViT-S at 512 px (5)
    python bench/export.py --models demo --steps 30 --threads 1
    python bench/export.py --short                 # CI: the demo at 64 px, 1 warm-up + 2 timed rounds

Flags: ``--models`` (some of ``demo upernet-lvvit-s``, both by default; ``--short`` takes the demo only),
``--steps`` (timed rounds per model), ``--warmup`` (untimed rounds first, default 2), ``--threads`` (default: torch's
own count), ``--short``.

Two segmentors, built through mmseg's registry with random weights (no checkpoint is loaded), SyncBN reverted to
BN, eval mode, float32, batch 1:

- **demo-128**: ``configs/demo/upernet_lvvit-demo_synthetic-128.py`` (UperNet + a small LV-ViT, 8 classes) at
  128x128;
- **upernet-lvvit-s-512**: ``configs/upernet_lvvit.py`` (UperNet + LV-ViT-S, 150 classes) at 512x512.

Each is exported once by :func:`lvseg.deploy.onnx_export.export_segmentor` (fixed shape, batch 1, opset 18) into a
temporary folder; the export's seconds (torch's exporter, onnx's checker and its comparison with PyTorch) and the
largest logit difference it measured, relative to the largest logit, are printed. Both sides then compute the
same thing on the same random normalised images: the graph's ``logits`` (:class:`SegmentorLogits`), eager under
``torch.inference_mode`` against ``InferenceSession.run`` with the ``CPUExecutionProvider`` (its default graph
optimisations); no preprocessing, resize to the image's size or argmax on either side. Both get the same number of
threads: ``torch.set_num_threads(N)`` and ``SessionOptions.intra_op_num_threads = N``.

The calls are interleaved in rounds, one eager call and one onnxruntime call per round, the one going first
alternating from round to round, so that load from other processes hits both alike; warm-up rounds come first.
Printed per model: images/s of each (batch / seconds of a call), median over the rounds with its range, and
onnxruntime's images/s over eager's as the median of the ratios paired within each round (robust when the load
drifts during the run), with their range. The load average before and after is printed, and ``OMP_WAIT_POLICY``:
unset, torch's OpenMP threads spin at each barrier, and while another process holds one of the cores an eager call
on all of them can take many times its usual time (onnxruntime's own thread pool suffers far less); ``PASSIVE``
avoids that. Nothing is asserted: the last line says, as a finding, whether each model meets the goal (onnxruntime
at least as fast as PyTorch eager on this CPU, a paired ratio >= 1).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnxruntime
import torch
from machine import cpu_name, load_average
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from train_step import build_quietly

import lvseg  # noqa: F401  (registers LVViT)
from lvseg.deploy.onnx_export import INPUT, OUTPUT, SegmentorLogits, export_segmentor, random_images

REPO = Path(__file__).resolve().parents[1]


class Model(NamedTuple):
    """A segmentor to time: its config, the side of its square input and its timed rounds by default."""

    config: Path
    size: int
    steps: int


MODELS = {
    'demo': Model(REPO / 'configs/demo/upernet_lvvit-demo_synthetic-128.py', 128, 10),
    'upernet-lvvit-s': Model(REPO / 'configs/upernet_lvvit.py', 512, 5),
}
SHORT = dict(size=64, warmup=1, steps=2)  # --short: the demo only


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags; ``--short`` sets the models, warm-up and timed rounds to its own."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', nargs='+', choices=tuple(MODELS), default=list(MODELS), help='segmentors to time')
    parser.add_argument('--steps', type=int, help='timed rounds per model (default: 10 for the demo, 5 at 512 px)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed rounds per model first')
    parser.add_argument('--threads', type=int, default=torch.get_num_threads(),
                        help='CPU threads, the same for torch and onnxruntime (default: torch\'s own count)')
    parser.add_argument('--short', action='store_true', help='CI: the demo at 64 px, 1 warm-up + 2 timed rounds')
    args = parser.parse_args(argv)
    if args.short:
        args.models, args.warmup, args.steps = ['demo'], SHORT['warmup'], SHORT['steps']
    return args


def build_segmentor(config: Path) -> torch.nn.Module:
    """The config's segmentor with random weights (its pretrained file is not loaded), SyncBN reverted to BN,
    float32, in eval mode."""
    cfg = Config.fromfile(config)
    cfg.model.pretrained = None
    init_default_scope(cfg.get('default_scope', 'mmseg'))  # mmseg's SegDataPreProcessor, UPerHead, ...
    return revert_sync_batchnorm(build_quietly(cfg.model)).float().eval()


def open_session(path: Path, threads: int) -> onnxruntime.InferenceSession:
    """An onnxruntime session on the CPU for the graph in ``path``, with ``threads`` intra-op threads."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])


def time_interleaved(calls: dict[str, Callable[[], object]], warmup: int, steps: int) -> dict[str, list[float]]:
    """Seconds per call of each of two ``calls``, one call each per round, the one going first alternating by
    round; ``warmup`` rounds untimed, then ``steps`` timed."""
    names = list(calls)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for index in range(warmup + steps):
        for name in names if index % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            calls[name]()
            if index >= warmup:
                seconds[name].append(time.perf_counter() - start)
    return seconds


def significant(value: float) -> str:
    """``value`` with three significant digits, without an exponent (41.2, 0.512, 1234)."""
    return f'{value:.{max(0, 2 - math.floor(math.log10(value)))}f}'


def spread(values: list[float]) -> str:
    """The median of ``values`` and their range."""
    return f'{significant(statistics.median(values))} (range {significant(min(values))}-{significant(max(values))})'


def bench_model(label: str, model: Model, size: int, args: argparse.Namespace, folder: Path) -> float:
    """Export ``model`` at ``size`` pixels, time eager against onnxruntime, print the figures; returns the median
    paired ratio of onnxruntime's images/s over eager's."""
    segmentor = build_segmentor(model.config)
    path = folder / f'{label}.onnx'
    start = time.perf_counter()
    comparisons = export_segmentor(segmentor, path, (size, size), dynamic=False).comparisons
    exported = time.perf_counter() - start
    steps = args.steps or model.steps
    print(f'export {label}: {exported:.1f} s, {path.stat().st_size / 2**20:.0f} MiB; onnxruntime vs PyTorch '
          f'largest logit difference {max(c.relative for c in comparisons):.2e} of the largest logit; timing '
          f'{args.warmup} warm-up + {steps} timed rounds', flush=True)
    session = open_session(path, args.threads)
    images = random_images((1, 3, size, size), seed=1)
    array = images.numpy()
    eager = SegmentorLogits(segmentor).eval()

    def run_eager() -> torch.Tensor:
        with torch.inference_mode():
            return eager(images)

    def run_onnxruntime() -> list[np.ndarray]:
        return session.run([OUTPUT], {INPUT: array})

    seconds = time_interleaved({'eager': run_eager, 'onnxruntime': run_onnxruntime}, args.warmup, steps)
    batch = images.shape[0]
    for name, times in seconds.items():
        print(f'images/s {label} [{name}]: {spread([batch / s for s in times])}')
    ratios = [e / o for e, o in zip(seconds['eager'], seconds['onnxruntime'])]
    print(f'ratio {label} onnxruntime/eager: paired by round {statistics.median(ratios):.2f} '
          f'(range {min(ratios):.2f}-{max(ratios):.2f})', flush=True)
    return statistics.median(ratios)


def main(argv: list[str] | None = None) -> None:
    """Print the header, then each model's export and timing figures, then the goal's line."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print('bench/export.py: onnxruntime (CPUExecutionProvider) vs PyTorch eager, float32, batch 1, random weights '
          'and inputs, calls interleaved by round')
    print(f'machine: {cpu_name()}, {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable); torch '
          f'{torch.__version__}, onnxruntime {onnxruntime.__version__}, {args.threads} thread(s) each, '
          f'OMP_WAIT_POLICY {os.environ.get("OMP_WAIT_POLICY", "unset")}; load average before: {load_average():.2f}',
          flush=True)
    ratios = {}
    with tempfile.TemporaryDirectory(prefix='lvseg-bench-export-') as folder:
        for name in args.models:
            model = MODELS[name]
            size = SHORT['size'] if args.short else model.size
            label = f'{name}-{size}'
            ratios[label] = bench_model(label, model, size, args, Path(folder))
    verdicts = ', '.join(f'{label} {"meets it" if ratio >= 1 else "does not"} ({ratio:.2f})'
                         for label, ratio in ratios.items())
    print(f'goal: onnxruntime at least as fast as PyTorch eager on this CPU (paired ratio >= 1): {verdicts}')
    print(f'load average after: {load_average():.2f}')


if __name__ == '__main__':
    main()
