"""Device-side augmentation (``augment_on='device'``): its CPU cost per image, against timm's and lvseg's pipelines.

    python bench/device_pipeline.py                 # 128 photos, 5 paired rounds
    python bench/device_pipeline.py --short         # CI: 16 photos, 2 rounds
    python bench/device_pipeline.py --device cuda   # also: decode + augment, ms per batch of 128 on the GPU

The measurement is :func:`train_sample`, a builder ``bench -> sample(index)`` in the form of the rows of
``bench/data_pipeline.py`` (``Pipeline(name, build)``; ``bench.root`` an ImageNet-layout folder with
``label_maps/train`` and ``label_store/train``), so that benchmark can list the device path beside lvseg's CPU
path and timm's:

- **device-workers**: what a data-loader worker does with ``augment_on='device'``: ``__getitem__`` of the train
  data set of ``configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py`` (in ``CheckedDataset``, as the tools
  run it) with the pipeline the switch gives: the file bytes and header, the map (from the packed store), packed;
- **device-whole**: the same, plus the model's data preprocessor on the CPU every ``batch_size`` samples
  (decode, crop, flip, RandAugment, normalize, random erasing): all the device path costs when the CPU is the
  device;
- **cpu-whole**: lvseg's CPU path (the config's train pipeline, store maps) plus the data preprocessor
  (normalize, random erasing): the PIL path, whole.

Standalone, this script writes its own photos (scikit-image's colour samples, cut and resized to 500x375 or
375x500, JPEG quality 90) and random top-5 maps ``(2, 5, 14, 14)``, adds timm's train transform as the
reference (``timm``: ``create_transform(224, is_training=True, auto_augment='rand-m9-mstd0.5-inc1',
interpolation='random')`` on ``PIL.Image.open(path).convert('RGB')``; ``timm+map``: and ``torch.load`` of the
map; timm's posterize to 0 bits, which Pillow 13 refuses, gives black as in lvseg), and times all of them in
one process with torch threads 1 (per core): a warm-up pass, then paired rounds in rotating order. It prints
images/s (median, range) and the ratios the goals name (median and range of the per-round ratios). With
``--device cuda`` it also times decode (nvjpeg) + augment + normalize of a batch of 128 on the GPU. Nothing is
asserted.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from machine import load_average
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, MODELS
from PIL import Image

import lvseg  # noqa: F401  (registers the data set, transforms and model)
from lvseg.datasets.imagenet import label_map_path, list_image_keys
from lvseg.datasets.label_store import LabelStoreWriter
from lvseg.datasets.token_label_loading import read_token_label_map
from lvseg.engine.augment_on import apply_augment_on
from lvseg.engine.bad_samples import guard_datasets

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py'
STORE = dict(label_map_root=None, label_store='label_store/train')  # maps from the packed store
SIZES = ((375, 500), (500, 375))  # (height, width) of the written photos: ImageNet's typical shapes
PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket', 'hubble_deep_field', 'immunohistochemistry', 'retina')
NUM_CLASSES, TOP_K, MAP_GRID, QUALITY, FOLDERS = 1000, 5, (14, 14), 90, 8

Sample = Callable[[int], object]  # image index -> what the pipeline gives for it


def train_sample(augment_on: str, preprocess: bool, batch_size: int = 16, **maps) -> Callable[[object], Sample]:
    """A builder ``bench -> sample(index)`` of lvseg's train data set with ``augment_on`` and ``maps`` (config
    overrides saying where the maps are), guarded as the tools guard it; with ``preprocess``, every
    ``batch_size``-th call also runs the data preprocessor (on the CPU, in training mode) on the batch so far."""

    def build(bench: object) -> Sample:
        cfg = Config.fromfile(CONFIG)
        cfg.augment_on = augment_on
        cfg.train_dataloader.dataset.update(data_root=str(bench.root), **maps)
        apply_augment_on(cfg)
        guard_datasets(cfg, ['train'])
        init_default_scope('mmseg')
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
        if not preprocess:
            return dataset.__getitem__
        preprocessor = MODELS.build(cfg.model.data_preprocessor)
        pending: list[dict] = []

        def sample(index: int) -> object:
            pending.append(dataset[index])
            if len(pending) < batch_size:
                return None
            batch = {'inputs': [s['inputs'] for s in pending], 'data_samples': [s['data_samples'] for s in pending]}
            pending.clear()
            return preprocessor(batch, training=True)

        return sample

    return build


PIPELINES = {  # name -> (builder, the pipelines it is compared with)
    'device-workers': (train_sample('device', preprocess=False, **STORE), ('timm', 'timm+map')),
    'device-whole': (train_sample('device', preprocess=True, **STORE), ('cpu-whole', 'timm')),
    'cpu-whole': (train_sample('cpu', preprocess=True, **STORE), ('timm',)),
}


def timm_sample(read_map: bool) -> Callable[[object], Sample]:
    """timm's train transform on the image opened with PIL (and ``torch.load`` of its map file)."""
    from timm.data import create_transform
    from timm.data.auto_augment import RandAugment

    def build(bench: object) -> Sample:
        transform = create_transform(224, is_training=True, auto_augment='rand-m9-mstd0.5-inc1',
                                     interpolation='random')
        for op in (op for step in transform.transforms if isinstance(step, RandAugment) for op in step.ops):
            if op.name.startswith('Posterize'):
                op.aug_fn = _black_at_zero_bits(op.aug_fn)

        def sample(index: int) -> object:
            image = transform(Image.open(bench.root / 'train' / bench.keys[index]).convert('RGB'))
            if read_map:
                return image, read_token_label_map(str(bench.root / 'label_maps/train' /
                                                       label_map_path(bench.keys[index])))
            return image

        return sample

    return build


def _black_at_zero_bits(posterize: Callable) -> Callable:
    return lambda image, bits, **kwargs: (Image.new(image.mode, image.size) if bits <= 0
                                          else posterize(image, bits, **kwargs))


def write_data(root: Path, count: int, seed: int = 0) -> list[str]:
    """``count`` photos in ``root/train/<wnid>/`` and a random valid map per photo in ``root/label_maps/train``
    and the store ``root/label_store/train``; returns the keys, as the data set lists them."""
    from skimage import data

    rng = np.random.default_rng(seed)
    sources = [getattr(data, name)()[..., :3] for name in PHOTOS]
    for index in range(count):
        source, (height, width) = sources[index % len(sources)], SIZES[index % len(SIZES)]
        cut_h = int(min(source.shape[0], source.shape[1] * height / width) * rng.uniform(0.6, 1.0))
        cut_w = int(cut_h * width / height)
        top, left = rng.integers(0, source.shape[0] - cut_h + 1), rng.integers(0, source.shape[1] - cut_w + 1)
        path = root / 'train' / f'n{index % FOLDERS:08d}' / f'n{index % FOLDERS:08d}_{index}.JPEG'
        path.parent.mkdir(parents=True, exist_ok=True)
        photo = Image.fromarray(np.ascontiguousarray(source[top:top + cut_h, left:left + cut_w]))
        photo.resize((width, height), Image.Resampling.LANCZOS).save(path, quality=QUALITY)
    keys = list_image_keys(root / 'train')
    scores = -np.sort(-rng.normal(0, 3, (count, TOP_K, *MAP_GRID)), axis=1).astype(np.float16)
    indices = (rng.integers(0, NUM_CLASSES, (count, 1, *MAP_GRID)) + 7 * np.arange(TOP_K)[:, None, None]) % NUM_CLASSES
    for row, key in enumerate(keys):
        path = root / 'label_maps/train' / label_map_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(torch.stack([torch.from_numpy(scores[row]), torch.from_numpy(indices[row]).half()]), path)
    writer = LabelStoreWriter(root / 'label_store/train', keys, TOP_K, MAP_GRID, NUM_CLASSES, annotator='bench')
    writer.write(np.arange(count), scores, indices)
    writer.finish()
    return keys


def rates_in_turn(samples: dict[str, Sample], count: int, rounds: int) -> dict[str, list[float]]:
    """Images/s of each pipeline over images ``0 .. count - 1``, per round, after a warm-up pass; the order of
    the pipelines rotates each round."""
    names = list(samples)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds + 1):
        for name in names[round_index % len(names):] + names[:round_index % len(names)]:
            start = time.perf_counter()
            for index in range(count):
                samples[name](index)
            if round_index:
                rates[name].append(count / (time.perf_counter() - start))
    return rates


def cuda_ms_per_batch(bench: object, batch_size: int, repeats: int) -> tuple[list[float], list[float]]:
    """Milliseconds to decode (nvjpeg) a batch of ``batch_size``, and to decode + augment + normalize it, on
    CUDA. Written without a GPU at hand: unverified."""
    from lvseg.datasets.device_decode import decode_images

    cfg = Config.fromfile(CONFIG)
    cfg.augment_on = 'device'
    cfg.train_dataloader.dataset.update(data_root=str(bench.root), **STORE)
    apply_augment_on(cfg)
    init_default_scope('mmseg')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    preprocessor = MODELS.build(cfg.model.data_preprocessor).to('cuda')
    samples = [dataset[index % len(dataset)] for index in range(batch_size)]
    inputs = [s['inputs'] for s in samples]
    timings: tuple[list[float], list[float]] = ([], [])
    for repeat in range(repeats + 2):  # two warm-up repeats
        for times, run in zip(timings, (
                lambda: decode_images(inputs, 'cuda'),
                lambda: preprocessor({'inputs': inputs, 'data_samples': [s['data_samples'] for s in samples]},
                                     training=True))):
            torch.cuda.synchronize()
            start = time.perf_counter()
            run()
            torch.cuda.synchronize()
            if repeat >= 2:
                times.append(1e3 * (time.perf_counter() - start))
    return timings


def _spread(values: Sequence[float], digits: int = 1) -> str:
    return f'{statistics.median(values):.{digits}f} (range {min(values):.{digits}f}-{max(values):.{digits}f})'


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--short', action='store_true', help='16 photos, 2 rounds (CI)')
    parser.add_argument('--images', type=int, help='photos (default 128; 16 with --short); a multiple of 16')
    parser.add_argument('--rounds', type=int, help='timed rounds (default 5; 2 with --short)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu',
                        help='cuda: also time decode + augment of a batch of 128 on the GPU')
    args = parser.parse_args(argv)
    count, rounds = args.images or (16 if args.short else 128), args.rounds or (2 if args.short else 5)
    torch.set_num_threads(1)
    pipelines = {'timm': (timm_sample(read_map=False), ()), 'timm+map': (timm_sample(read_map=True), ()),
                 **PIPELINES}
    with tempfile.TemporaryDirectory(prefix='lvseg-bench-device-') as tmp:
        bench = SimpleNamespace(root=Path(tmp), keys=write_data(Path(tmp), count))
        load_before = load_average()
        rates = rates_in_turn({name: build(bench) for name, (build, _) in pipelines.items()}, count, rounds)
        load_after = load_average()
        cuda = cuda_ms_per_batch(bench, 128, repeats=10) if args.device == 'cuda' else None
    print(f'machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {load_before:.2f} before, '
          f'{load_after:.2f} after; one process, torch threads 1; Python {platform.python_version()}, '
          f'torch {torch.__version__}')
    print(f'data: {count} JPEGs of 500x375 / 375x500 (scikit-image photos, quality {QUALITY}), maps (2, {TOP_K}, '
          f'{MAP_GRID[0]}, {MAP_GRID[1]}); {rounds} paired rounds after a warm-up; preprocessor batches of 16')
    for name, values in rates.items():
        print(f'images/s {name}: {_spread(values)}  ms/image {1e3 / statistics.median(values):.2f}')
    for name, (_, references) in pipelines.items():
        for reference in references:
            paired = [a / b for a, b in zip(rates[name], rates[reference])]
            print(f'ratio {name}/{reference}: paired by round {_spread(paired, 2)}')
    print('goals: device-workers/timm >= 5 (CPU cost per image 5x lower); device-whole/cpu-whole >= 1')
    if cuda is not None:
        print(f'CUDA, batch of 128: decode (nvjpeg) {_spread(cuda[0])} ms; decode + augment + normalize '
              f'{_spread(cuda[1])} ms (unverified; the LV-ViT-S step: bench/train_step.py --device cuda --amp bf16)')


if __name__ == '__main__':
    main()
