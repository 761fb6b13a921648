"""Images per second per core of the token-labeling train pipeline: lvseg's against timm's, on the same photos.

    python bench/data_pipeline.py                      # 128 photos of 400-500 px, 7 paired rounds
    python bench/data_pipeline.py --long-side 900 1000 # larger photos (where JPEG DCT scaling pays)
    python bench/data_pipeline.py --short              # CI: 16 photos, 2 rounds

Photos: scikit-image's colour sample photos (astronaut, coffee, chelsea, rocket, ...), cut at random places
and aspect ratios (2:3 to 3:2) and resized to a random longer side in ``--long-side`` (ImageNet-like 400-500
px by default), saved as JPEG (quality 90, 4:2:0) in a temporary ImageNet-layout folder, with a random valid
top-5 map ``(2, 5, 14, 14)`` per image written both as the official per-file ``.pt`` and packed into a label
store (``pack_label_maps``). Every pipeline reads the same files; they were just written, so all read from
the page cache (decode and augmentation cost, not disk).

The pipelines are the rows of :data:`PIPELINES`; each names the pipelines its speed is compared to:

- **timm**: ``timm.data.create_transform(224, is_training=True, auto_augment='rand-m9-mstd0.5-inc1',
  interpolation='random')`` on ``PIL.Image.open(path).convert('RGB')`` (random-resized crop, flip,
  RandAugment, to a normalized float tensor), as timm's ``ImageDataset`` loads a training sample.
- **timm+map**: the same plus ``torch.load`` of the image's per-file map, as the official TokenLabeling loader.
- **lvseg** / **lvseg-files** / **lvseg-store**: ``train_dataloader.dataset`` of
  ``configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py`` (``ImageNetTokenLabelDataset`` with the train
  pipeline of
  ``configs/_base_/datasets/imagenet_tokenlabel.py``), wrapped in ``CheckedDataset`` as the tools wrap it,
  indexed with the seeded indices of its ``ResumableSampler``; without maps, with the per-file ``.pt`` maps, or
  with the packed store. Its output is a ``uint8`` image and the label fields (normalization and random
  erasing happen on the training device).

Timing: one process, ``torch.set_num_threads(1)`` and OpenCV without threads (mmengine's data-loader
setting), so a figure is images/s per core. After one untimed warm-up pass, each round runs every pipeline
over all the photos in turn (the order rotates each round), so that the load of other processes hits all
alike; the global generators are seeded per round and pipeline. Each pass is timed twice: by the process's
CPU time (``cpu``: images per CPU-second, what a core costs, little moved by other processes on a shared
machine) and by the clock (``wall``). Printed per pipeline and clock: the median images/s over the rounds and
their range; per comparison, the median and range of the per-round ratios (paired by round) and the ratio of
the medians. timm's RandAugment raises on Pillow 13 when it posterizes to 0 bits (lvseg keeps the black image
older Pillow gave): such a sample is drawn again, and counted. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import PIL
import timm
import torch
from label_store import GRID, NUM_CLASSES, TOP_K, random_maps
from machine import cpu_name, load_average
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS
from PIL import Image
from skimage import data as photos
from timm.data import create_transform

import lvseg  # noqa: F401  (registers the data set and its transforms)
from lvseg.datasets.imagenet import label_map_path, list_image_keys
from lvseg.datasets.label_store_convert import pack_label_maps
from lvseg.datasets.sample_seed import seed_all
from lvseg.engine.bad_samples import guard_datasets
from lvseg.engine.mid_epoch_resume import SeededIndex
from lvseg.engine.step_seed import SAMPLE_STREAM, step_seed

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py'
IMG_SIZE, AUTO_AUGMENT = 224, 'rand-m9-mstd0.5-inc1'  # the recipe's (docs/method.md#pretraining-recipe)
SOURCE_PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket', 'hubble_deep_field', 'immunohistochemistry', 'retina')
WIDTHS_PER_HEIGHT = (4 / 3, 3 / 2, 1.0, 3 / 4, 2 / 3)  # width / height of the written photos
NUM_FOLDERS, JPEG_QUALITY = 8, 90
CLOCKS = ('cpu', 'wall')  # images per second of the process's CPU time, and of the clock
POSTERIZE_ZERO_BITS = 'bits must be between or equal to 1 and 8'  # Pillow 13's refusal, raised inside timm


@dataclass
class BenchData:
    """The written data set: ``root`` in ImageNet layout (``train/<wnid>/<name>.JPEG``), its maps as files
    (``label_maps/train``) and as a store (``label_store/train``); ``keys`` the images, sorted as the data set
    lists them."""

    root: Path
    keys: list[str]
    seed: int

    def image(self, index: int) -> str:
        return str(self.root / 'train' / self.keys[index])

    def label(self, index: int) -> int:
        return int(self.keys[index][1:9])

    def map_file(self, index: int) -> str:
        return str(self.root / 'label_maps' / 'train' / label_map_path(self.keys[index]))


Sample = Callable[[int], object]  # image index (a SeededIndex, as lvseg's sampler gives) -> the training sample


@dataclass(frozen=True)
class Pipeline:
    """One row of the comparison: ``build`` makes the per-sample function from the data; its speed is compared
    with each pipeline named in ``references``."""

    name: str
    build: Callable[[BenchData], Sample]
    references: tuple[str, ...] = ()


REDRAWN = Counter()  # pipeline -> samples drawn again after Pillow 13 refused to posterize to 0 bits


def timm_sample(read_map: bool) -> Callable[[BenchData], Sample]:
    """timm's plain train transform on the image opened with PIL (and ``torch.load`` of its map file)."""

    def build(bench: BenchData) -> Sample:
        transform = create_transform(IMG_SIZE, is_training=True, auto_augment=AUTO_AUGMENT, interpolation='random')

        def sample(index: int) -> object:
            image = Image.open(bench.image(index)).convert('RGB')
            while True:
                try:
                    out = transform(image), bench.label(index)
                    break
                except ValueError as error:
                    if str(error) != POSTERIZE_ZERO_BITS:
                        raise
                    REDRAWN['timm+map' if read_map else 'timm'] += 1
            return (*out, torch.load(bench.map_file(index), map_location='cpu')) if read_map else out

        return sample

    return build


def lvseg_sample(**maps) -> Callable[[BenchData], Sample]:
    """lvseg's train data set of :data:`CONFIG`, with ``maps`` (where the token-label maps are) overriding the
    config, guarded as the tools guard it (``CheckedDataset``)."""

    def build(bench: BenchData) -> Sample:
        cfg = Config.fromfile(CONFIG)
        cfg.train_dataloader.dataset.update(data_root=str(bench.root), **maps)
        guard_datasets(cfg, ['train'])
        init_default_scope('mmseg')
        return DATASETS.build(cfg.train_dataloader.dataset).__getitem__

    return build


# The comparison table: adding a pipeline is adding a row.
PIPELINES = (
    Pipeline('timm', timm_sample(read_map=False)),
    Pipeline('timm+map', timm_sample(read_map=True)),
    Pipeline('lvseg', lvseg_sample(label_map_root=None), references=('timm',)),
    Pipeline('lvseg-files', lvseg_sample(label_map_root='label_maps/train'), references=('timm+map',)),
    Pipeline('lvseg-store', lvseg_sample(label_map_root=None, label_store='label_store/train'),
             references=('timm', 'timm+map')),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, help='photos in the data set (default: 128; --short: 16)')
    parser.add_argument('--rounds', type=int, help='timed rounds (default: 7; --short: 2)')
    parser.add_argument('--long-side', type=int, nargs=2, default=(400, 500), metavar=('MIN', 'MAX'),
                        help="range of the photos' longer side in pixels (default: 400 500)")
    parser.add_argument('--only', nargs='+', choices=[p.name for p in PIPELINES], help='run only these pipelines')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--short', action='store_true', help='16 photos, 2 rounds (CI)')
    args = parser.parse_args(argv)
    defaults = (16, 2) if args.short else (128, 7)
    for name, default in zip(('images', 'rounds'), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    return args


def write_photos(root: Path, count: int, long_side: tuple[int, int], seed: int) -> None:
    """``count`` JPEGs under ``root/train/<wnid>/``, cut from scikit-image's photos (see the module)."""
    rng = np.random.default_rng(seed)
    sources = [Image.fromarray(getattr(photos, name)()).convert('RGB') for name in SOURCE_PHOTOS]
    for i in range(count):
        source = sources[i % len(sources)]
        aspect = WIDTHS_PER_HEIGHT[rng.integers(len(WIDTHS_PER_HEIGHT))]
        longer = int(rng.integers(long_side[0], long_side[1] + 1))
        size = (longer, round(longer / aspect)) if aspect >= 1 else (round(longer * aspect), longer)
        fit = min(source.width / size[0], source.height / size[1])  # the largest cut of this aspect
        cut_w, cut_h = (np.array(size) * fit * rng.uniform(0.6, 1.0)).astype(int)
        left, top = rng.integers(0, source.width - cut_w + 1), rng.integers(0, source.height - cut_h + 1)
        photo = source.resize(size, Image.Resampling.LANCZOS, box=(left, top, left + cut_w, top + cut_h))
        folder = root / 'train' / f'n{i % NUM_FOLDERS:08d}'
        folder.mkdir(parents=True, exist_ok=True)
        photo.save(folder / f'n{i % NUM_FOLDERS:08d}_{i}.JPEG', quality=JPEG_QUALITY, subsampling='4:2:0')


def write_maps(root: Path, keys: list[str], seed: int) -> None:
    """A random valid map per image, as official ``.pt`` files and packed into a store."""
    scores, indices = random_maps(np.random.default_rng(seed), len(keys))
    for row, key in enumerate(keys):
        path = root / 'label_maps' / 'train' / label_map_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(torch.stack([torch.from_numpy(scores[row]), torch.from_numpy(indices[row]).half()]), path)
    pack_label_maps(root / 'label_maps' / 'train', root / 'label_store' / 'train', keys, NUM_CLASSES,
                    annotator='bench: random maps')


def time_pass(sample: Sample, count: int, epoch: int, seed: int) -> dict[str, float]:
    """Images/s of ``sample`` over images ``0 .. count - 1`` in round ``epoch``, by the clock (``wall``) and by
    the process's CPU time (``cpu``), with the global generators seeded by ``(seed, epoch)`` and the indices
    seeded as lvseg's ``ResumableSampler`` seeds them."""
    indices = [SeededIndex(i, step_seed(seed, SAMPLE_STREAM, epoch, i)) for i in range(count)]
    seed_all(step_seed(seed, SAMPLE_STREAM, epoch))
    wall, cpu = time.perf_counter(), time.process_time()
    for index in indices:
        sample(index)
    return {'wall': count / (time.perf_counter() - wall), 'cpu': count / (time.process_time() - cpu)}


def describe_machine() -> str:
    model = cpu_name()
    try:
        commit = subprocess.run(['git', 'describe', '--always', '--dirty'], cwd=REPO, capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = 'unknown'
    return (f'machine: {model}, {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable); one process, torch '
            f'threads {torch.get_num_threads()}; Python {platform.python_version()}, torch {torch.__version__}, '
            f'timm {timm.__version__}, Pillow {PIL.__version__}; commit {commit}')


def spread(values: list[float]) -> str:
    return f'{statistics.median(values):.2f} (range {min(values):.2f}-{max(values):.2f})'


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(0)
    pipelines = [p for p in PIPELINES if args.only is None or p.name in args.only]
    with tempfile.TemporaryDirectory(prefix='lvseg-bench-data-pipeline-') as tmp:
        root = Path(tmp)
        write_photos(root, args.images, tuple(args.long_side), args.seed)
        keys = list_image_keys(root / 'train')
        write_maps(root, keys, args.seed)
        bench = BenchData(root, keys, args.seed)
        sizes = np.array([Image.open(bench.image(i)).size for i in range(len(keys))])
        samples = {p.name: p.build(bench) for p in pipelines}
        load_before = load_average()
        for sample in samples.values():  # warm-up: imports, caches, the store's mapping
            time_pass(sample, min(len(keys), 16), args.rounds, args.seed)
        rates: dict[str, list[dict[str, float]]] = {name: [] for name in samples}
        for epoch in range(args.rounds):
            names = list(samples)
            for name in names[epoch % len(names):] + names[:epoch % len(names)]:
                rates[name].append(time_pass(samples[name], len(keys), epoch, args.seed))
        load_after = load_average()
    print(describe_machine())
    print(f'photos: {len(keys)} JPEGs (quality {JPEG_QUALITY}, 4:2:0) cut from scikit-image {SOURCE_PHOTOS}, '
          f'{sizes[:, 0].mean():.0f}x{sizes[:, 1].mean():.0f} px on average (longer side {args.long_side[0]}-'
          f'{args.long_side[1]}); maps (2, {TOP_K}, {GRID[0]}, {GRID[1]}) per image, per-file .pt and packed store')
    print(f'rounds: {args.rounds} paired rounds of {len(keys)} images per pipeline after a warm-up pass; '
          f'load average {load_before:.2f} before, {load_after:.2f} after')
    for clock in CLOCKS:
        for name, rounds in rates.items():
            values = [r[clock] for r in rounds]
            print(f'images/s {clock} {name}: {spread(values)}  ms/image {1e3 / statistics.median(values):.2f}')
    for clock in CLOCKS:
        for pipeline in pipelines:
            for ref in (r for r in pipeline.references if r in rates):
                ours, theirs = ([r[clock] for r in rates[name]] for name in (pipeline.name, ref))
                paired = [a / b for a, b in zip(ours, theirs, strict=True)]
                medians = statistics.median(ours) / statistics.median(theirs)
                print(f'ratio {clock} {pipeline.name}/{ref}: paired by round {spread(paired)}; of the medians '
                      f'{medians:.2f}')
    print(f'timm samples drawn again after a posterize to 0 bits (Pillow 13 refuses it): {dict(REDRAWN) or 0}')


if __name__ == '__main__':
    main()
