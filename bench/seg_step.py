"""UperNet + LV-ViT-S: train step and slide inference, with peak memory, activation checkpointing off vs on.

    python bench/seg_step.py                              # CPU: 512x512 crops, batch 2; slide on 512x683
    python bench/seg_step.py --device cuda --amp bf16     # a GPU
    python bench/seg_step.py --config configs/upernet_lvvit-l_8xb2-160k_ade20k-512x512.py --device cuda
    python bench/seg_step.py --short                      # CI: 128x128 crops, slide on 128x171, 1 timed step

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
Nothing is asserted.
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
    TrainStep,
    adamw_settings,
    build_quietly,
    describe_device,
    fill_defaults,
    spread,
)

import lvseg  # noqa: E402, F401  (registers LVViT)

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'configs/upernet_lvvit.py'
SLIDE_WIDTH_PER_HEIGHT = 683 / 512  # the benchmark image: 512x683, ADE20K's typical 3:4 landscape shape


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=str(CONFIG), help='segmentation config (UperNet + LV-ViT)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument('--batch-size', type=int, default=2, help='train images per step (the config: 2 per GPU)')
    parser.add_argument('--crop', type=int, help='train crop and slide window side (default: 512; --short 128)')
    parser.add_argument('--steps', type=int, help='timed steps per case (default: 3 on CPU, 20 on CUDA)')
    parser.add_argument('--warmup', type=int, help='untimed steps per case first (default: 1 CPU, 5 CUDA)')
    parser.add_argument('--amp', choices=tuple(AMP_DTYPES), default='none', help='autocast dtype')
    parser.add_argument('--threads', type=int, default=2, help='CPU threads for torch (this machine: 2 cores)')
    parser.add_argument('--short', action='store_true', help='128 px crops, 1 timed step after 1 warm-up (CI)')
    return fill_defaults(parser.parse_args(argv), ('crop', 'steps', 'warmup'),
                         short=(128, 1, 1), cuda=(512, 20, 5), cpu=(512, 3, 1))


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


def run_case(case: str, args: argparse.Namespace) -> dict:
    """Build the segmentor and time ``case`` ('train', 'train with_cp' or 'slide'); runs in its own process."""
    device = torch.device(args.device)
    if device.type == 'cpu':
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = Config.fromfile(args.config)
    model = build_segmentor(cfg, args.crop, with_cp=case == 'train with_cp').to(device)
    amp = AMP_DTYPES[args.amp]
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
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
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


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    context = multiprocessing.get_context('spawn')
    results = {}
    for case in ('train', 'train with_cp', 'slide'):
        with context.Pool(1) as pool:
            results[case] = pool.apply(run_case, (case, args))
    crop, stride = args.crop, slide_stride(Config.fromfile(args.config), args.crop)
    print(f'bench/seg_step.py: {Path(args.config).name}, SyncBN reverted to BN, random inputs and labels')
    print(f'device: {args.device}, {results["train"]["device"]}; amp {args.amp}; {args.warmup} warm-up + '
          f'{args.steps} timed steps per case, each case in its own process')
    for case, result in results.items():
        what = (f'slide inference, image {tuple(result["shape"][2:])}, window {crop} stride {stride}'
                if case == 'slide' else f'{case}, batch {args.batch_size} x {crop}x{crop}, AdamW')
        print(f'images/s {case}: {result["images_per_s"]:.3f}  step {spread(result["seconds"])}  '
              f'{describe_memory(result, args.device)}  [{what}]')
    plain, checkpointed = results['train'], results['train with_cp']
    growth = {name: r['peak'] - (0 if args.device == 'cuda' else r['before'])
              for name, r in (('off', plain), ('on', checkpointed))}
    print(f'with_cp on/off: step time {plain["images_per_s"] / checkpointed["images_per_s"]:.3f}x, peak memory '
          f'{checkpointed["peak"] / plain["peak"]:.3f}x; peak above the pre-step level '
          f'{growth["on"] / 2**20:.0f} vs {growth["off"] / 2**20:.0f} MiB')


if __name__ == '__main__':
    main()
