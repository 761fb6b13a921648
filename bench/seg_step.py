"""UperNet + LV-ViT-S: train step and slide inference, images/s, achieved FLOP/s and peak memory, activation
checkpointing off vs on.

    python bench/seg_step.py                              # CPU, fp32: 512x512 crops, batch 2; slide on 512x683
    python bench/seg_step.py --amp none bf16              # fp32 and bf16 autocast, each case in both
    python bench/seg_step.py --device cuda --amp bf16     # a GPU (add --compile for torch.compile)
    python bench/seg_step.py --config configs/upernet_lvvit-l_8xb2-160k_ade20k-512x512.py --device cuda
    python bench/seg_step.py --short                      # CI: 64x64 crops, slide on 64x85, 1 timed step

Flags: ``--device {cpu,cuda}``; ``--amp {none,bf16,fp16} [...]`` (default ``none``); ``--compile``
(``torch.compile`` of the backbone's and both heads' ``forward``); ``--peak-tflops``; ``--config``,
``--batch-size``, ``--crop``, ``--steps``, ``--warmup``, ``--threads``, ``--short``.

The segmentor is built through mmseg's registry from ``configs/upernet_lvvit.py`` (150 classes), with SyncBN
reverted to BN (one process, no process group). Three cases, each in a fresh process so that its peak memory
is its own (CUDA: ``torch.cuda.max_memory_allocated``; CPU: peak RSS from ``resource.getrusage``, which
includes the interpreter, torch and the model, so the RSS before the first step is printed beside it):

- **train**: forward, losses (UperHead + FCN auxiliary head), backward and AdamW with the config's optimizer
  settings, on random images and random label maps; ``with_cp=False`` as in the config;
- **train with_cp**: the same with activation checkpointing of every LV-ViT block (``with_cp=True``);
- **slide**: ``model.predict`` in eval mode without gradients on one image of 512x683 (2 windows of 512,
  stride 341, as the config's ``test_cfg``), including mmseg's resize and argmax.

Each case times its warm-up, then the median of its steps (min-max shown); ``torch.cuda.synchronize`` on GPU.
FLOPs: multiply-adds of one forward counted by mmengine's ``FlopAnalyzer`` (:mod:`lvseg.analysis.flops`) on the CPU
in fp32, for the train crop (backbone, UperHead and the FCN auxiliary head) and for one slide window (no auxiliary
head); a train step counts 3 x forward, slide inference one forward per window, and achieved FLOP/s count a
multiply-add as 2 FLOPs. On CUDA they are also given as fractions of the GPU's dense bf16 datasheet peak and of a
large bf16 matmul timed on it (as ``bench/train_step.py``). Nothing is asserted. The CUDA paths have not run on
a GPU yet.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step import (  # noqa: E402
    AMP_DTYPES,
    AMP_LABELS,
    PeakReference,
    TrainStep,
    adamw_settings,
    add_precision_args,
    build_quietly,
    describe_device,
    fill_defaults,
    spread,
    synchronize,
)

import lvseg  # noqa: E402, F401  (registers LVViT)
from lvseg.analysis.flops import count_flops_and_params  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'configs/upernet_lvvit.py'
SLIDE_WIDTH_PER_HEIGHT = 683 / 512  # the benchmark image: 512x683, ADE20K's typical 3:4 landscape shape


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=str(CONFIG), help='segmentation config (UperNet + LV-ViT)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument('--batch-size', type=int, default=2, help='train images per step (the config: 2 per GPU)')
    parser.add_argument('--crop', type=int, help='train crop and slide window side (default: 512; --short 64)')
    parser.add_argument('--steps', type=int, help='timed steps per case (default: 3 on CPU, 20 on CUDA)')
    parser.add_argument('--warmup', type=int, help='untimed steps per case first (default: 1 CPU, 5 CUDA)')
    add_precision_args(parser, default_amp=('none',))
    parser.add_argument('--threads', type=int, default=2, help='CPU threads for torch (this machine: 2 cores)')
    parser.add_argument('--short', action='store_true', help='64 px crops, 1 timed step after 1 warm-up (CI)')
    return fill_defaults(parser.parse_args(argv), ('crop', 'steps', 'warmup'),
                         short=(64, 1, 1), cuda=(512, 20, 5), cpu=(512, 3, 1))


def slide_stride(cfg: Config, crop: int) -> int:
    """The config's slide stride scaled to windows of ``crop`` pixels (341 for 512)."""
    return round(crop * cfg.model.test_cfg.stride[0] / cfg.model.test_cfg.crop_size[0])


def build_segmentor(cfg: Config, crop: int, with_cp: bool) -> nn.Module:
    """The config's segmentor, SyncBN reverted to BN, sliding ``crop`` windows with the config's overlap, random
    weights (the timing needs none: the config's pretrained file is not loaded)."""
    cfg.model.pretrained = None
    cfg.model.backbone.with_cp = with_cp
    stride = slide_stride(cfg, crop)
    cfg.model.test_cfg.update(crop_size=(crop, crop), stride=(stride, stride))
    init_default_scope(cfg.get('default_scope', 'mmseg'))  # mmseg's SegDataPreProcessor, UPerHead, ...
    return revert_sync_batchnorm(build_quietly(cfg.model))


def segmentation_batch(batch: int, height: int, width: int, num_classes: int,
                       device: torch.device) -> tuple[torch.Tensor, list[SegDataSample]]:
    """Random normalized images ``(B, 3, H, W)`` and data samples with random label maps ``(1, H, W)``."""
    images = torch.randn(batch, 3, height, width, device=device)
    samples = []
    for _ in range(batch):
        sample = SegDataSample(metainfo=dict(img_shape=(height, width), pad_shape=(height, width),
                                             ori_shape=(height, width)))
        sample.gt_sem_seg = PixelData(data=torch.randint(num_classes, (1, height, width), device=device))
        samples.append(sample)
    return images, samples


def rss_bytes() -> int:
    """The resident set size of this process now."""
    return int(Path('/proc/self/statm').read_text().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def slide_windows(height: int, width: int, crop: int, stride: int) -> int:
    """How many windows mmseg's slide inference runs over an image of ``height x width`` pixels."""
    rows, cols = (max(size - crop + stride - 1, 0) // stride + 1 for size in (height, width))
    return rows * cols


def compile_forwards(model: nn.Module) -> None:
    """``torch.compile`` the ``forward`` of the backbone and both heads, so that mmseg's ``loss`` and ``predict``
    (which call them) run compiled while its Python around them (losses, sliding, resizing) stays eager."""
    for module in (model.backbone, model.decode_head, getattr(model, 'auxiliary_head', None)):
        if module is not None:
            module.forward = torch.compile(module.forward)


def segmentor_macs(args: argparse.Namespace) -> dict[str, int]:
    """Forward multiply-adds, counted on the CPU in fp32: ``train`` for one ``crop x crop`` image through the
    backbone, UperHead and the auxiliary head; ``window`` for one slide window (no auxiliary head)."""
    cfg = Config.fromfile(args.config)
    model = build_segmentor(cfg, args.crop, with_cp=False).eval()
    image = torch.zeros(1, 3, args.crop, args.crop)
    window, _ = count_flops_and_params(model, (image,))
    with torch.no_grad():
        features = model.extract_feat(image)
    auxiliary = count_flops_and_params(model.auxiliary_head, (features,))[0] if model.with_auxiliary_head else 0
    return {'train': window + auxiliary, 'window': window}


def run_case(case: str, amp_name: str, args: argparse.Namespace) -> dict:
    """Build the segmentor and time ``case`` ('train', 'train with_cp' or 'slide') under ``amp_name``'s autocast;
    runs in its own process."""
    device = torch.device(args.device)
    if device.type == 'cpu':
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = Config.fromfile(args.config)
    model = build_segmentor(cfg, args.crop, with_cp=case == 'train with_cp').to(device)
    if args.compile:
        compile_forwards(model)
    amp = AMP_DTYPES[amp_name]
    num_classes = model.decode_head.num_classes
    if case == 'slide':
        model.eval()
        images, _ = segmentation_batch(1, args.crop, round(args.crop * SLIDE_WIDTH_PER_HEIGHT), num_classes, device)

        def step() -> None:
            with torch.no_grad(), torch.autocast(device.type, dtype=amp) if amp else nullcontext():
                model.predict(images)
        batch = 1
    else:
        model.train()
        images, samples = segmentation_batch(args.batch_size, args.crop, args.crop, num_classes, device)
        step = TrainStep(model, lambda m: m.parse_losses(m.loss(images, samples))[0], amp, device,
                         adamw_settings(cfg))
        batch = args.batch_size
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    before = rss_bytes()
    seconds = []
    for i in range(args.warmup + args.steps):
        start = time.perf_counter()
        step()
        synchronize(device)
        if i >= args.warmup:
            seconds.append(time.perf_counter() - start)
    if device.type == 'cuda':
        peak = torch.cuda.max_memory_allocated(device)
    else:  # ru_maxrss is in KiB on Linux
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 2**10
    return dict(images_per_s=batch / statistics.median(seconds), seconds=seconds, peak=peak, before=before,
                shape=tuple(images.shape), device=describe_device(device))


def describe_memory(result: dict, device: str) -> str:
    if device == 'cuda':
        return f'peak allocated {result["peak"] / 2**20:.0f} MiB'
    return f'peak RSS {result["peak"] / 2**20:.0f} MiB (RSS before the first step {result["before"] / 2**20:.0f} MiB)'


CASES = ('train', 'train with_cp', 'slide')


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    context = multiprocessing.get_context('spawn')
    results = {}
    for amp in args.amp:
        for case in CASES:
            with context.Pool(1) as pool:
                results[case, amp] = pool.apply(run_case, (case, amp, args))
    if args.device == 'cpu':
        torch.set_num_threads(args.threads)
    macs = segmentor_macs(args)
    peak = PeakReference(torch.device(args.device), args.peak_tflops)
    crop, stride = args.crop, slide_stride(Config.fromfile(args.config), args.crop)
    slide_shape = results['slide', args.amp[0]]['shape'][2:]
    windows = slide_windows(*slide_shape, crop, stride)
    flops_per_image = {'train': 2 * 3 * macs['train'], 'train with_cp': 2 * 3 * macs['train'],
                       'slide': 2 * windows * macs['window']}
    print(f'bench/seg_step.py: {Path(args.config).name}, SyncBN reverted to BN, random inputs and labels')
    print(f'device: {args.device}, {results["train", args.amp[0]]["device"]}; precision '
          f'{", ".join(AMP_LABELS[amp] for amp in args.amp)}; compile {"on" if args.compile else "off"}; '
          f'{args.warmup} warm-up + {args.steps} timed steps per case, each case in its own process')
    print(f'flops: forward {macs["train"] / 1e9:.2f} GMACs per {crop}x{crop} train image (with the auxiliary head), '
          f'{macs["window"] / 1e9:.2f} GMACs per slide window; FLOP/s count a multiply-add as 2 FLOPs, a train '
          f'step as 3 x forward, slide inference as {windows} windows x forward')
    for line in peak.lines:
        print(line)
    for (case, amp), result in results.items():
        what = (f'slide inference, image {tuple(result["shape"][2:])}, window {crop} stride {stride}'
                if case == 'slide' else f'{case}, batch {args.batch_size} x {crop}x{crop}, AdamW')
        flop_per_s = flops_per_image[case] * result['images_per_s']
        print(f'images/s {case} [{AMP_LABELS[amp]}]: {result["images_per_s"]:.3f}  achieved '
              f'{flop_per_s / 1e9:.1f} GFLOP/s  step {spread(result["seconds"])}  '
              f'{describe_memory(result, args.device)}{peak.fractions(flop_per_s)}  [{what}]')
    for amp in args.amp:
        plain, checkpointed = results['train', amp], results['train with_cp', amp]
        growth = {name: r['peak'] - (0 if args.device == 'cuda' else r['before'])
                  for name, r in (('off', plain), ('on', checkpointed))}
        speed = plain['images_per_s'] / checkpointed['images_per_s']
        print(f'with_cp on/off [{AMP_LABELS[amp]}]: step time {speed:.3f}x, peak memory '
              f'{checkpointed["peak"] / plain["peak"]:.3f}x; peak above the pre-step level '
              f'{growth["on"] / 2**20:.0f} vs {growth["off"] / 2**20:.0f} MiB')


if __name__ == '__main__':
    main()
