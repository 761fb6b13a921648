"""The LV-ViT-S token-labeling train step against a tuned peer and a naive baseline, in one process.

    python bench/train_step.py                                # CPU, batch 8, 10 timed steps after 2 warm-up
    python bench/train_step.py --device cuda --amp bf16       # a GPU (batch 128, 30 steps after 10 warm-up)
    python bench/train_step.py --short                        # CI: batch 2, 2 steps after 1 warm-up

One step = forward, loss, backward and ``torch.optim.AdamW`` on synthetic random inputs at 224 pixels. Four
models are built here and timed step by step in turn (so that load from other processes hits all four alike):

- **lvseg**: ``TokenLabelingClassifier`` + ``LVViT`` from
  ``configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py``,
  with MixToken and the token-labeling loss on random top-k maps ``(2, 5, 14, 14)`` (crop boxes, flips and
  affines included), attention through ``F.scaled_dot_product_attention``.
- **timm-peer**: timm's ``VisionTransformer`` with LV-ViT-S's body (depth 16, width 384, 6 heads, mlp ratio 3,
  no qkv bias, class token, the same drop path) but a plain 16x16 patch projection instead of the conv stem,
  one head, hard-label cross-entropy: what a well-tuned library does with the same transformer.
- **timm-peer+stem**: the timm peer with a copy of lvseg's conv stem in place of its patch projection: what
  LV-ViT-S would cost in timm. lvseg's step should be as fast: its remaining extra work is the dense
  ``aux_head``, the token-label targets, MixToken and the soft-target loss.
- **naive**: a copy of the lvseg model (same weights) with timm's fused attention switched off on every
  ``Attention`` instance (``fused_attn = False``): explicit ``softmax(q k^T / sqrt(d)) v``.

FLOPs come from mmengine's ``FlopAnalyzer`` through :func:`lvseg.analysis.flops.count_flops_and_params` (one
FLOP = one multiply-add; fused attention counted), for one image's forward; a training step counts 3 x forward.
Achieved FLOP/s = 3 x forward FLOPs x images/s. The stem's share is the time of ``patch_embed`` forward +
backward alone over the lvseg step; the same stem in the default (NCHW) layout is timed beside it, to show
what ``ConvPatchEmbed(channels_last=True)`` (lvseg's default) gains. Figures are
medians over the timed steps, with min-max. The ratios come twice: from the medians, and as the median of the
ratios within each round (robust when the load of other processes drifts during the run). The load average
before and after is printed. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import copy
import logging
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmseg.registry import MODELS
from timm.layers import Attention, use_fused_attn
from timm.models.vision_transformer import VisionTransformer
from torch import nn

import lvseg  # noqa: F401  (registers LVViT and the classifier)
from lvseg.analysis.flops import count_flops_and_params
from lvseg.models.classifiers.data_preprocessor import TokenLabelBatch

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py'
IMG_SIZE, TOP_K, MAP_GRID = 224, 5, (14, 14)  # the published maps: top-5 on a 14x14 grid
AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16, 'none': None}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument('--batch-size', type=int, help='images per step (default: 8 on CPU, 128 on CUDA)')
    parser.add_argument('--steps', type=int, help='timed steps per model (default: 10 on CPU, 30 on CUDA)')
    parser.add_argument('--warmup', type=int, help='untimed steps per model first (default: 2 CPU, 10 CUDA)')
    parser.add_argument('--amp', choices=tuple(AMP_DTYPES), default='none', help='autocast dtype')
    parser.add_argument('--compile', action='store_true', help='torch.compile the four models (not the stems)')
    parser.add_argument('--threads', type=int, default=2, help='CPU threads for torch (this machine: 2 cores)')
    parser.add_argument('--short', action='store_true', help='batch 2, 2 steps after 1 warm-up (CI)')
    return fill_defaults(parser.parse_args(argv), ('batch_size', 'steps', 'warmup'),
                         short=(2, 2, 1), cuda=(128, 30, 10), cpu=(8, 10, 2))


def fill_defaults(args: argparse.Namespace, names: tuple[str, ...], short: tuple, cuda: tuple,
                  cpu: tuple) -> argparse.Namespace:
    """Set each of ``names`` left unset (None) to its default for the run's mode: ``--short``, else the device."""
    defaults = short if args.short else cuda if args.device == 'cuda' else cpu
    for name, default in zip(names, defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    return args


def cpu_name() -> str:
    """The CPU's model name as ``lscpu`` prints it."""
    for line in Path('/proc/cpuinfo').read_text().splitlines():
        if line.startswith('model name'):
            return line.split(':', 1)[1].strip()
    return 'unknown CPU'


def describe_device(device: torch.device) -> str:
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return f'{cpu_name()}, torch threads {torch.get_num_threads()}'


def synthetic_token_labels(batch: int, num_classes: int, device: torch.device,
                           generator: torch.Generator) -> TokenLabelBatch:
    """Random labels and top-k maps ``(B, 2, 5, 14, 14)`` (logits decreasing along k), random crop boxes,
    flips and small affines: what the data pipeline hands the classifier."""
    logits = torch.randn(batch, TOP_K, *MAP_GRID, generator=generator).sort(dim=1, descending=True).values
    indices = torch.randint(num_classes, (batch, TOP_K, *MAP_GRID), generator=generator).float()
    corner = 0.5 * torch.rand(batch, 2, generator=generator)
    boxes = torch.cat([corner, corner + 0.5], dim=1)
    affines = torch.eye(2, 3).repeat(batch, 1, 1) + 0.05 * torch.randn(batch, 2, 3, generator=generator)
    fields = TokenLabelBatch(labels=torch.randint(num_classes, (batch,), generator=generator),
                             topk=torch.stack([logits, indices], dim=1).half(), boxes=boxes,
                             flips=torch.rand(batch, generator=generator) < 0.5, affines=affines)
    return TokenLabelBatch(*(field.to(device) for field in fields))


def adamw_settings(cfg: Config) -> dict:
    """``torch.optim.AdamW`` keyword arguments from ``cfg.optim_wrapper.optimizer`` (which must be AdamW)."""
    optimizer = dict(cfg.optim_wrapper.optimizer)
    if optimizer.pop('type') != 'AdamW':
        raise ValueError(f'the benchmark steps AdamW; the config asks for {cfg.optim_wrapper.optimizer}')
    return optimizer


def build_quietly(cfg: dict) -> nn.Module:
    """Build a model through mmseg's registry and initialise it, without mmengine's per-parameter init log."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model = MODELS.build(cfg)
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model


def build_timm_peer(backbone: nn.Module, num_classes: int) -> VisionTransformer:
    """timm's ViT with the transformer body of ``backbone`` (an ``LVViT``), a plain patch projection, one head."""
    arch = backbone.arch_settings
    drop_path = max(float(getattr(block.drop_path, 'drop_prob', 0.0)) for block in backbone.blocks)
    return VisionTransformer(img_size=IMG_SIZE, patch_size=16, num_classes=num_classes,
                             embed_dim=arch['embed_dims'], depth=arch['num_layers'], num_heads=arch['num_heads'],
                             mlp_ratio=arch['mlp_ratio'], qkv_bias=False, class_token=True, global_pool='token',
                             drop_path_rate=drop_path)


class StemPatchEmbed(nn.Module):
    """Adapter that lets a timm ``VisionTransformer`` embed patches with an LV-ViT stem: images ``(B, 3, H, W)``
    -> tokens ``(B, h*w, C)`` (timm's ``patch_embed`` contract without dynamic sizes)."""

    def __init__(self, stem: nn.Module) -> None:
        super().__init__()
        self.stem = stem

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.stem(images)[0]


def with_stem(peer: VisionTransformer, stem: nn.Module) -> VisionTransformer:
    """A copy of ``peer`` whose patch projection is replaced by a copy of ``stem`` (an LV-ViT ``ConvPatchEmbed``
    with the same token grid and width)."""
    peer = copy.deepcopy(peer)
    peer.patch_embed = StemPatchEmbed(copy.deepcopy(stem))
    return peer


def unfuse_attention(model: nn.Module) -> int:
    """Switch timm's fused attention off on every ``Attention`` of ``model``; return how many were switched."""
    modules = [m for m in model.modules() if isinstance(m, Attention)]
    for module in modules:
        module.fused_attn = False
    return len(modules)


def forward_flops(model: nn.Module, image: torch.Tensor) -> tuple[int, int]:
    """Forward FLOPs (multiply-adds) and parameters for one image ``(1, 3, H, W)``, counted in eval mode."""
    model.eval()
    try:
        return count_flops_and_params(model, (image,))
    finally:
        model.train()


class TrainStep:
    """One training step of ``model``: zero grads, ``loss_fn`` under autocast, backward, AdamW.

    Args:
        model: the model, in training mode.
        loss_fn: ``model -> scalar loss`` on the fixed synthetic batch.
        amp: autocast dtype, or None for fp32.
        device: where the model lives.
        adamw: keyword arguments of ``torch.optim.AdamW`` (a config's ``optim_wrapper.optimizer``, less
            ``type``); one parameter group, as the per-parameter decay settings cost no time.
    """

    def __init__(self, model: nn.Module, loss_fn: Callable[[nn.Module], torch.Tensor],
                 amp: torch.dtype | None, device: torch.device, adamw: dict) -> None:
        self.model, self.loss_fn, self.amp, self.device = model, loss_fn, amp, device
        self.optimizer = torch.optim.AdamW(model.parameters(), **adamw)
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp is torch.float16)

    def autocast(self) -> AbstractContextManager:
        if self.amp is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp)

    def __call__(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            loss = self.loss_fn(self.model)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()


def stem_step(stem: nn.Module, images: torch.Tensor, amp: torch.dtype | None,
              device: torch.device) -> Callable[[], None]:
    """Forward + backward of the patch embedding alone (input without grad, as in training)."""
    def run() -> None:
        with torch.autocast(device.type, dtype=amp) if amp else nullcontext():
            tokens, _ = stem(images)
        tokens.backward(torch.ones_like(tokens))
    return run


def time_in_turn(cases: dict[str, Callable[[], None]], warmup: int, steps: int,
                 device: torch.device) -> dict[str, list[float]]:
    """Run every case ``warmup`` times, then time ``steps`` rounds of one call per case; seconds per call."""
    def sync() -> None:
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        for run in cases.values():
            run()
    sync()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(steps):
        for name, run in cases.items():
            start = time.perf_counter()
            run()
            sync()
            times[name].append(time.perf_counter() - start)
    return times


def load_average() -> str:
    """The 1-minute load average of the machine (other processes compete for the same cores)."""
    return Path('/proc/loadavg').read_text().split()[0]


def spread(seconds: list[float]) -> str:
    return f'median {statistics.median(seconds):.3f} s (min {min(seconds):.3f}, max {max(seconds):.3f})'


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == 'cpu':
        torch.set_num_threads(args.threads)
    amp = AMP_DTYPES[args.amp]
    load_before = load_average()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)

    cfg = Config.fromfile(str(CONFIG))  # the published LV-ViT-S recipe: 1000 classes, drop path 0.1, MixToken
    lvseg_model = build_quietly(cfg.model)
    adamw = adamw_settings(cfg)
    num_classes = lvseg_model.num_classes
    peer = build_timm_peer(lvseg_model.backbone, num_classes)
    peer_with_stem = with_stem(peer, lvseg_model.backbone.patch_embed)
    naive = copy.deepcopy(lvseg_model)
    unfused = unfuse_attention(naive)
    fused = sum(bool(m.fused_attn) for m in lvseg_model.modules() if isinstance(m, Attention))

    image = torch.randn(1, 3, IMG_SIZE, IMG_SIZE)
    flops = {'lvseg': forward_flops(lvseg_model, image), 'timm-peer': forward_flops(peer, image),
             'timm-peer+stem': forward_flops(peer_with_stem, image), 'naive': forward_flops(naive, image)}

    images = torch.randn(args.batch_size, 3, IMG_SIZE, IMG_SIZE, generator=generator).to(device)
    token_labels = synthetic_token_labels(args.batch_size, num_classes, device, generator)
    models = {name: model.to(device).train() for name, model in
              (('lvseg', lvseg_model), ('timm-peer', peer), ('timm-peer+stem', peer_with_stem), ('naive', naive))}
    stem = lvseg_model.backbone.patch_embed
    stem_nchw = copy.deepcopy(stem)
    stem_nchw.channels_last = False
    runs = {name: torch.compile(model) if args.compile else model for name, model in models.items()}

    def token_labeling_loss(model: nn.Module) -> torch.Tensor:
        return sum(model(images, mode='loss', token_labels=token_labels).values())

    def cross_entropy(model: nn.Module) -> torch.Tensor:
        return F.cross_entropy(model(images), token_labels.labels)

    cases = {
        'lvseg': TrainStep(runs['lvseg'], token_labeling_loss, amp, device, adamw),
        'timm-peer': TrainStep(runs['timm-peer'], cross_entropy, amp, device, adamw),
        'timm-peer+stem': TrainStep(runs['timm-peer+stem'], cross_entropy, amp, device, adamw),
        'naive': TrainStep(runs['naive'], token_labeling_loss, amp, device, adamw),
        'stem': stem_step(stem, images, amp, device),
        'stem-nchw': stem_step(stem_nchw, images, amp, device),
    }
    times = time_in_turn(cases, args.warmup, args.steps, device)
    median = {name: statistics.median(seconds) for name, seconds in times.items()}
    images_per_s = {name: args.batch_size / median[name] for name in models}
    flop_per_s = {name: 3 * flops[name][0] * images_per_s[name] for name in models}

    print('bench/train_step.py: one train step (forward + loss + backward + AdamW) at 224 px, synthetic inputs')
    print(f'device: {args.device}, {describe_device(device)}; batch {args.batch_size}; amp {args.amp}; '
          f'compile {"on" if args.compile else "off"}; {args.warmup} warm-up + {args.steps} timed steps per '
          f'model, taken in turn; load average {load_before} before, {load_average()} after')
    print(f'attention: timm use_fused_attn() = {use_fused_attn()}; lvseg {fused}/{unfused} Attention modules fused '
          f'(F.scaled_dot_product_attention); naive {unfused} switched to explicit softmax(q k^T) v')
    print('FLOPs: mmengine FlopAnalyzer via lvseg.analysis.flops.count_flops_and_params, 1 FLOP = 1 multiply-add, '
          'forward per image; train step = 3 x forward')
    labels = {'lvseg': 'lvseg LV-ViT-S, token labeling + MixToken (2 heads, 1000 classes)',
              'timm-peer': 'timm VisionTransformer, LV-ViT-S body, patch projection, CE',
              'timm-peer+stem': 'the same with lvseg\'s conv stem, CE',
              'naive': 'lvseg LV-ViT-S, unfused attention'}
    for name in models:
        forward, params = flops[name]
        print(f'flops {name}: forward {forward / 1e9:.3f} GFLOPs/image, train {3 * forward / 1e9:.3f} '
              f'GFLOPs/image, params {params / 1e6:.2f}M  [{labels[name]}]')
    for name in models:
        print(f'images/s {name}: {images_per_s[name]:.2f}  achieved {flop_per_s[name] / 1e9:.1f} GFLOP/s  '
              f'step {spread(times[name])}')
    for ref in ('timm-peer', 'timm-peer+stem', 'naive'):
        paired = [theirs / ours for ours, theirs in zip(times['lvseg'], times[ref])]
        print(f'ratio lvseg/{ref}: images/s {images_per_s["lvseg"] / images_per_s[ref]:.3f}, '
              f'FLOP/s {flop_per_s["lvseg"] / flop_per_s[ref]:.3f}; images/s paired by round: median '
              f'{statistics.median(paired):.3f} (min {min(paired):.3f}, max {max(paired):.3f})')
    timm_and_stem = median['timm-peer'] + median['stem']
    print(f'timm-peer step + the stem alone: {timm_and_stem:.3f} s, {timm_and_stem / median["lvseg"]:.3f}x the lvseg '
          'step (> 1: lvseg is faster)')
    layout = 'channels-last' if stem.channels_last else 'NCHW'
    print(f'stem ({layout}): patch_embed forward+backward {spread(times["stem"])} = '
          f'{100 * median["stem"] / median["lvseg"]:.1f}% of the lvseg step')
    print(f'stem NCHW: {spread(times["stem-nchw"])}; the lvseg stem runs at '
          f'{median["stem-nchw"] / median["stem"]:.3f}x its speed')


if __name__ == '__main__':
    main()
