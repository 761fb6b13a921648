"""The LV-ViT-S token-labeling train step against a tuned peer and a naive baseline, fp32 and bf16, in one process.

    python bench/train_step.py                                # CPU: fp32 and bf16, batch 8, 2 warm-up + 10 steps
    python bench/train_step.py --device cuda --amp bf16       # a GPU (batch 128, 10 warm-up + 30 steps)
    python bench/train_step.py --device cuda --amp none bf16 --compile
    python bench/train_step.py --short                        # CI: batch 2 at 64 px, 1 warm-up + 2 steps

Flags: ``--device {cpu,cuda}``; ``--amp {none,bf16,fp16} [...]``, one or more autocast dtypes timed side by side
(default ``none bf16``: fp32 and bf16); ``--compile`` (``torch.compile`` the models, not the stems);
``--models`` (some of the four: ``lvseg timm-peer timm-peer+stem naive``, all by default); ``--batch-size``,
``--img-size``, ``--steps``, ``--warmup``; ``--threads`` and ``--clock {wall,cpu}`` (CPU); ``--peak-tflops`` (a
GPU's dense bf16 peak, for GPUs missing from :data:`DENSE_BF16_PEAK_TFLOPS`); ``--short``.

One step = forward, loss, backward and ``torch.optim.AdamW`` on synthetic random inputs at 224 pixels
(``--short``: 64, which shows that every line is printed, not what the recipe's images cost). Four models are
built here and timed step by step in turn, every model in every dtype once per round (so that load from other
processes hits all alike):

- **lvseg**: ``TokenLabelingClassifier`` + ``LVViT`` from
  ``configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py``,
  with MixToken and the token-labeling loss on random top-k maps ``(2, 5, 14, 14)`` (crop boxes, flips and
  affines included); its attention kernel is chosen per device and dtype
  (:mod:`lvseg.models.backbones.attention`; the choices made are printed).
- **timm-peer**: timm's ``VisionTransformer`` with LV-ViT-S's body (depth 16, width 384, 6 heads, mlp ratio 3,
  no qkv bias, class token, the same drop path) but a plain 16x16 patch projection instead of the conv stem,
  one head, hard-label cross-entropy: what a well-tuned library does with the same transformer.
- **timm-peer+stem**: the timm peer with a copy of lvseg's conv stem in place of its patch projection: what
  LV-ViT-S would cost in timm. lvseg's step should be as fast: its remaining extra work is the dense
  ``aux_head``, the token-label targets, MixToken and the soft-target loss.
- **naive**: a copy of the lvseg model (same weights) with the official LV-ViT code's attention, explicit
  ``softmax((q * scale) k^T) v`` (``attn_kernel='explicit'``) in every dtype.

FLOPs come from mmengine's ``FlopAnalyzer`` through :func:`lvseg.analysis.flops.count_flops_and_params`, which
counts multiply-adds (MACs; fused attention counted) for one image's forward. **Achieved FLOP/s count a
multiply-add as 2 FLOPs** (the convention of GPU datasheets): a training step is 3 x forward, so
FLOP/s = 2 x 3 x forward MACs x images/s. On CUDA each model's FLOP/s is also given as a fraction of the GPU's
dense bf16 datasheet peak (:data:`DENSE_BF16_PEAK_TFLOPS`, by GPU name) and of a large bf16 matmul timed on the
same GPU (the practical ceiling). The stem's share is the time of ``patch_embed`` forward + backward alone over
the lvseg step; the same stem in the default (NCHW) layout is timed beside it, to show what
``ConvPatchEmbed(channels_last=True)`` (lvseg's default) gains. Figures are medians over the timed steps, with
min-max. The ratios come twice: from the medians, and as the median of the ratios within each round (robust when
the load of other processes drifts during the run). The load average before and after is printed. Nothing is
asserted. The CUDA paths (synchronised timing, the peak table, the matmul ceiling) have not run on a GPU yet.
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
from machine import cpu_name, load_average
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmseg.registry import MODELS
from timm.models.vision_transformer import VisionTransformer
from torch import nn

import lvseg  # noqa: F401  (registers LVViT and the classifier)
from lvseg.analysis.flops import count_flops_and_params
from lvseg.engine.cpu_bf16 import cpu_has_native_bf16
from lvseg.models.backbones.attention import KERNEL_CHOICE, MultiHeadAttention
from lvseg.models.classifiers.data_preprocessor import TokenLabelBatch

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py'
TOP_K, MAP_GRID = 5, (14, 14)  # the published maps: top-5 on a 14x14 grid
AMP_DTYPES = {'none': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}
AMP_LABELS = {'none': 'fp32', 'bf16': 'bf16', 'fp16': 'fp16'}
CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}
# Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's datasheets, TFLOP/s with a multiply-add = 2 FLOPs, by a
# fragment of torch.cuda.get_device_name(); the first fragment found wins, so the more specific come first.
DENSE_BF16_PEAK_TFLOPS = (
    ('H100 PCIe', 756.0), ('H100 NVL', 835.0), ('H200 NVL', 835.0), ('GH200', 989.0), ('H100', 989.0),
    ('H200', 989.0), ('H800', 989.0), ('H20', 148.0), ('A100', 312.0), ('A800', 312.0), ('A30', 165.0),
    ('A10', 125.0), ('L40S', 362.0), ('L40', 181.0), ('L4', 121.0),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument('--batch-size', type=int, help='images per step (default: 8 on CPU, 128 on CUDA)')
    parser.add_argument('--img-size', type=int, help='image side in pixels (default: 224, the recipe; --short 64)')
    parser.add_argument('--steps', type=int, help='timed steps per model (default: 10 on CPU, 30 on CUDA)')
    parser.add_argument('--warmup', type=int, help='untimed steps per model first (default: 2 CPU, 10 CUDA)')
    add_precision_args(parser, default_amp=('none', 'bf16'))
    parser.add_argument('--threads', type=int, default=2, help='CPU threads for torch (this machine: 2 cores)')
    parser.add_argument('--clock', choices=tuple(CLOCKS), default='wall',
                        help='wall: elapsed time; cpu: CPU time of this process (CPU only), which the load of other '
                        'processes on a shared machine inflates far less; use it with --threads 1')
    parser.add_argument('--short', action='store_true', help='batch 2 at 64 px, 2 steps after 1 warm-up (CI)')
    parser.add_argument('--models', nargs='+', choices=tuple(MODEL_LABELS), default=list(MODEL_LABELS),
                        help='the models to time (default: all four; the ratios need lvseg and the reference)')
    return fill_defaults(parser.parse_args(argv), ('batch_size', 'img_size', 'steps', 'warmup'),
                         short=(2, 64, 2, 1), cuda=(128, 224, 30, 10), cpu=(8, 224, 10, 2))


def add_precision_args(parser: argparse.ArgumentParser, default_amp: tuple[str, ...]) -> None:
    """The flags both benchmarks share: ``--amp`` (one or more), ``--compile``, ``--peak-tflops``."""
    parser.add_argument('--amp', nargs='+', choices=tuple(AMP_DTYPES), default=list(default_amp),
                        help=f'autocast dtypes to time side by side, none = fp32 (default: {" ".join(default_amp)})')
    parser.add_argument('--compile', action='store_true', help='torch.compile the models')
    parser.add_argument('--peak-tflops', type=float,
                        help='dense bf16 peak of the GPU in TFLOP/s, for a GPU missing from the datasheet table')


def fill_defaults(args: argparse.Namespace, names: tuple[str, ...], short: tuple, cuda: tuple,
                  cpu: tuple) -> argparse.Namespace:
    """Set each of ``names`` left unset (None) to its default for the run's mode: ``--short``, else the device."""
    defaults = short if args.short else cuda if args.device == 'cuda' else cpu
    for name, default in zip(names, defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    return args


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


def build_timm_peer(backbone: nn.Module, num_classes: int, img_size: int) -> VisionTransformer:
    """timm's ViT with the transformer body of ``backbone`` (an ``LVViT``), a plain patch projection, one head,
    for ``img_size`` pixel squares."""
    arch = backbone.arch_settings
    drop_path = max(float(getattr(block.drop_path, 'drop_prob', 0.0)) for block in backbone.blocks)
    return VisionTransformer(img_size=img_size, patch_size=16, num_classes=num_classes,
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


def use_explicit_attention(model: nn.Module) -> int:
    """Give every lvseg ``MultiHeadAttention`` of ``model`` the official code's explicit kernel; return how many."""
    modules = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    for module in modules:
        module.kernel = 'explicit'
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


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously; the CPU needs nothing)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_in_turn(cases: dict[str, Callable[[], None]], warmup: int, steps: int, device: torch.device,
                 clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Run every case ``warmup`` times, then time ``steps`` rounds of one call per case; seconds of ``clock`` per
    call, each call timed from a synchronised device to a synchronised device."""
    for _ in range(warmup):
        for run in cases.values():
            run()
    synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(steps):
        for name, run in cases.items():
            start = clock()
            run()
            synchronize(device)
            times[name].append(clock() - start)
    return times


def datasheet_peak_tflops(device_name: str) -> tuple[str, float] | None:
    """``(table entry, dense bf16 TFLOP/s)`` of the first :data:`DENSE_BF16_PEAK_TFLOPS` fragment in
    ``device_name``, or None."""
    for fragment, tflops in DENSE_BF16_PEAK_TFLOPS:
        if fragment in device_name:
            return fragment, tflops
    return None


def matmul_ceiling_tflops(device: torch.device, size: int = 8192, repeats: int = 20) -> float:
    """TFLOP/s (a multiply-add = 2 FLOPs) of a ``size x size x size`` bf16 matmul on ``device`` (CUDA), timed with
    CUDA events over ``repeats`` calls after 3 warm-up calls: what this GPU reaches in practice."""
    a, b = (torch.randn(size, size, device=device, dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        a @ b
    end.record()
    end.synchronize()
    seconds = start.elapsed_time(end) / 1e3 / repeats
    return 2 * size ** 3 / seconds / 1e12


class PeakReference:
    """The GPU figures that achieved FLOP/s are compared with: the datasheet's dense bf16 peak (or
    ``--peak-tflops``) and a large bf16 matmul timed here. Nothing on the CPU."""

    def __init__(self, device: torch.device, peak_tflops: float | None) -> None:
        self.lines: list[str] = []
        self.peak = self.ceiling = None
        if device.type != 'cuda':
            return
        name = torch.cuda.get_device_name(device)
        found = datasheet_peak_tflops(name)
        if peak_tflops is not None:
            self.peak, source = peak_tflops, '--peak-tflops'
        elif found is not None:
            self.peak, source = found[1], f'datasheet, table entry {found[0]!r}'
        else:
            source = 'not in the datasheet table: pass --peak-tflops'
        self.ceiling = matmul_ceiling_tflops(device)
        peak = f'{self.peak:.0f} TFLOP/s' if self.peak else 'unknown'
        self.lines = [f'peak: {name}: dense bf16 {peak} ({source}); bf16 matmul 8192^3 timed here '
                      f'{self.ceiling:.1f} TFLOP/s (a multiply-add = 2 FLOPs)']

    def fractions(self, flop_per_s: float) -> str:
        """``flop_per_s`` as fractions of the datasheet peak and of the matmul ceiling ('' on the CPU)."""
        if self.ceiling is None:
            return ''
        of_peak = f'{flop_per_s / (self.peak * 1e12):.3f} of the datasheet peak, ' if self.peak else ''
        return f'  {of_peak}{flop_per_s / (self.ceiling * 1e12):.3f} of the matmul ceiling'


def spread(seconds: list[float]) -> str:
    return f'median {statistics.median(seconds):.3f} s (min {min(seconds):.3f}, max {max(seconds):.3f})'


def ratios_by_round(ours: list[float], theirs: list[float]) -> str:
    """Median (min, max) over rounds of ``theirs / ours`` step times: how many times faster ours ran."""
    paired = [t / o for o, t in zip(ours, theirs)]
    return f'median {statistics.median(paired):.3f} (min {min(paired):.3f}, max {max(paired):.3f})'


def describe_precisions(amps: list[str], device: torch.device) -> str:
    text = ', '.join(AMP_LABELS[amp] for amp in amps)
    if device.type == 'cpu' and 'bf16' in amps:
        text += f' (CPU with native bf16: {"yes" if cpu_has_native_bf16() else "no, emulated"})'
    return text


MODEL_LABELS = {'lvseg': 'lvseg LV-ViT-S, token labeling + MixToken (2 heads, 1000 classes)',
                'timm-peer': 'timm VisionTransformer, LV-ViT-S body, patch projection, CE',
                'timm-peer+stem': "the same with lvseg's conv stem, CE",
                'naive': "lvseg LV-ViT-S with the official code's explicit attention"}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == 'cpu':
        torch.set_num_threads(args.threads)
    load_before = load_average()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)

    cfg = Config.fromfile(str(CONFIG))  # the published LV-ViT-S recipe: 1000 classes, drop path 0.1, MixToken
    cfg.model.backbone.img_size = args.img_size
    lvseg_model = build_quietly(cfg.model)
    adamw = adamw_settings(cfg)
    num_classes = lvseg_model.num_classes
    peer = build_timm_peer(lvseg_model.backbone, num_classes, args.img_size)
    peer_with_stem = with_stem(peer, lvseg_model.backbone.patch_embed)
    naive = copy.deepcopy(lvseg_model)
    explicit = use_explicit_attention(naive)

    built = {'lvseg': lvseg_model, 'timm-peer': peer, 'timm-peer+stem': peer_with_stem, 'naive': naive}
    image = torch.randn(1, 3, args.img_size, args.img_size)
    macs = {name: forward_flops(built[name], image) for name in args.models}

    images = torch.randn(args.batch_size, 3, args.img_size, args.img_size, generator=generator).to(device)
    token_labels = synthetic_token_labels(args.batch_size, num_classes, device, generator)
    models = {name: built[name].to(device).train() for name in MODEL_LABELS if name in args.models}
    stem = lvseg_model.backbone.patch_embed
    stem_nchw = copy.deepcopy(stem)
    stem_nchw.channels_last = False
    runs = {name: torch.compile(model) if args.compile else model for name, model in models.items()}

    def token_labeling_loss(model: nn.Module) -> torch.Tensor:
        return sum(model(images, mode='loss', token_labels=token_labels).values())

    def cross_entropy(model: nn.Module) -> torch.Tensor:
        return F.cross_entropy(model(images), token_labels.labels)

    losses = {'lvseg': token_labeling_loss, 'timm-peer': cross_entropy, 'timm-peer+stem': cross_entropy,
              'naive': token_labeling_loss}
    tags = [AMP_LABELS[amp] for amp in args.amp]
    cases: dict[str, Callable[[], None]] = {}
    for amp, tag in zip(args.amp, tags):
        for name, run in runs.items():
            cases[f'{name} {tag}'] = TrainStep(run, losses[name], AMP_DTYPES[amp], device, adamw)
        if 'lvseg' in models:
            cases[f'stem {tag}'] = stem_step(stem, images, AMP_DTYPES[amp], device)
            cases[f'stem-nchw {tag}'] = stem_step(stem_nchw, images, AMP_DTYPES[amp], device)
    if args.clock == 'cpu' and device.type != 'cpu':
        raise SystemExit('--clock cpu times CPU runs only: a GPU step is wall time')
    times = time_in_turn(cases, args.warmup, args.steps, device, CLOCKS[args.clock])
    median = {key: statistics.median(seconds) for key, seconds in times.items()}
    images_per_s = {key: args.batch_size / median[key] for key in times}
    flop_per_s = {f'{name} {tag}': 2 * 3 * macs[name][0] * images_per_s[f'{name} {tag}']
                  for name in models for tag in tags}
    peak = PeakReference(device, args.peak_tflops)

    print(f'bench/train_step.py: one train step (forward + loss + backward + AdamW) at {args.img_size} px, synthetic '
          'inputs')
    print(f'device: {args.device}, {describe_device(device)}; batch {args.batch_size}; precision '
          f'{describe_precisions(args.amp, device)}; compile {"on" if args.compile else "off"}; {args.warmup} '
          f'warm-up + {args.steps} timed steps per model and precision, taken in turn, {args.clock} clock; load '
          f'average {load_before:.2f} before, {load_average():.2f} after')
    chosen = '; '.join(f'{case.describe()} -> {kernel}' for case, kernel in KERNEL_CHOICE.choices.items())
    naive_kernel = (f"; naive: {explicit} modules explicit softmax((q * scale) k^T) v, the official code's attention"
                    if 'naive' in models else '')
    print(f'attention: lvseg chose {chosen or "nothing (compiled: fused)"}{naive_kernel}')
    print('FLOPs: mmengine FlopAnalyzer via lvseg.analysis.flops.count_flops_and_params counts multiply-adds (MACs), '
          'forward per image; FLOP/s below count a multiply-add as 2 FLOPs; train step = 3 x forward')
    for name in models:
        forward, params = macs[name]
        print(f'flops {name}: forward {forward / 1e9:.3f} GMACs/image, train {6 * forward / 1e9:.3f} '
              f'GFLOPs/image, params {params / 1e6:.2f}M  [{MODEL_LABELS[name]}]')
    for line in peak.lines:
        print(line)
    for tag in tags:
        for name in models:
            key = f'{name} {tag}'
            print(f'images/s {name} [{tag}]: {images_per_s[key]:.2f}  achieved {flop_per_s[key] / 1e9:.1f} GFLOP/s'
                  f'  step {spread(times[key])}{peak.fractions(flop_per_s[key])}')
    references = [ref for ref in ('timm-peer', 'timm-peer+stem', 'naive') if 'lvseg' in models and ref in models]
    for tag in tags:
        for ref in references:
            ours, theirs = f'lvseg {tag}', f'{ref} {tag}'
            print(f'ratio lvseg/{ref} [{tag}]: images/s {images_per_s[ours] / images_per_s[theirs]:.3f}, '
                  f'FLOP/s {flop_per_s[ours] / flop_per_s[theirs]:.3f}; images/s paired by round: '
                  f'{ratios_by_round(times[ours], times[theirs])}')
    for tag in tags[1:]:
        for name in models:
            ours, theirs = f'{name} {tag}', f'{name} {tags[0]}'
            print(f'speed-up {tag}/{tags[0]} {name}: images/s {median[theirs] / median[ours]:.3f}; paired by round: '
                  f'{ratios_by_round(times[ours], times[theirs])}')
    print(f'| images/s | {" | ".join(tags)} |')
    print(f'|---|{"---|" * len(tags)}')
    for name in models:
        row = [f'{images_per_s[f"{name} {tag}"]:.2f}' for tag in tags]
        print(f'| {name} | {" | ".join(row)} |')
    stem_tags = tags if 'lvseg' in models else []  # the stem's lines compare it with the lvseg step
    for tag in stem_tags:
        if 'timm-peer' in models:
            timm_and_stem = median[f'timm-peer {tag}'] + median[f'stem {tag}']
            print(f'timm-peer step + the stem alone [{tag}]: {timm_and_stem:.3f} s, '
                  f'{timm_and_stem / median[f"lvseg {tag}"]:.3f}x the lvseg step (> 1: lvseg is faster)')
        layout = 'channels-last' if stem.channels_last else 'NCHW'
        print(f'stem ({layout}) [{tag}]: patch_embed forward+backward {spread(times[f"stem {tag}"])} = '
              f'{100 * median[f"stem {tag}"] / median[f"lvseg {tag}"]:.1f}% of the lvseg step')
        print(f'stem NCHW [{tag}]: {spread(times[f"stem-nchw {tag}"])}; the lvseg stem runs at '
              f'{median[f"stem-nchw {tag}"] / median[f"stem {tag}"]:.3f}x its speed')


if __name__ == '__main__':
    main()
