"""Random-access reads of token-label maps: a packed label store vs one ``.pt`` file per image.

    python bench/label_store.py            # 10,000 maps of (2, 5, 14, 14), 10,000 reads x 5 repeats
    python bench/label_store.py --short    # 2,000 maps, 2,000 reads x 3 repeats (CI)

Writes random valid maps (top-5 logits in decreasing order, class indices in [0, 1000)) in a temporary
folder in both layouts, then times, in this one process, reads of randomly chosen images through the code
the data pipeline runs: :meth:`lvseg.datasets.label_store.LabelStore.get` for the store,
:func:`lvseg.datasets.token_label_loading.read_token_label_map` for the files. Each layout gets a warm-up,
then the median of the repeats is printed as reads per second, with their ratio. The files were just
written, so both layouts read from the page cache: this measures the per-sample CPU cost (file open and
unpickling vs two row copies); on a cold cache or a network file system the per-file layout pays a disk or
network round trip per map on top. No figure is asserted.
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

import numpy as np
import torch

from lvseg.datasets.imagenet import label_map_path
from lvseg.datasets.label_store import LabelStore, LabelStoreWriter
from lvseg.datasets.token_label_loading import read_token_label_map

NUM_CLASSES, TOP_K, GRID = 1000, 5, (14, 14)  # the published maps' classes and k; a 224 px token grid
NUM_FOLDERS = 100  # class folders the images are spread over


def random_maps(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` valid maps: ``(count, k, h, w)`` float16 logits, decreasing along k, and int64 indices.

    The k indices of a cell are distinct: a random class, then the next ones 7 classes apart (mod 1000).
    """
    scores = -np.sort(-rng.normal(0.0, 3.0, size=(count, TOP_K, *GRID)), axis=1).astype(np.float16)
    first = rng.integers(0, NUM_CLASSES, size=(count, 1, *GRID))
    indices = (first + 7 * np.arange(TOP_K).reshape(1, TOP_K, 1, 1)) % NUM_CLASSES
    return scores, indices


def write_both_layouts(root: Path, count: int, seed: int) -> tuple[list[str], Path, Path]:
    """Write ``count`` maps as official files under ``root/maps`` and as a store ``root/store``."""
    rng = np.random.default_rng(seed)
    keys = [f'n{i % NUM_FOLDERS:08d}/n{i % NUM_FOLDERS:08d}_{i}.JPEG' for i in range(count)]
    scores, indices = random_maps(rng, count)
    map_root, store_root = root / 'maps', root / 'store'
    for row, key in enumerate(keys):
        path = map_root / label_map_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        topk = torch.stack([torch.from_numpy(scores[row]), torch.from_numpy(indices[row]).to(torch.float16)])
        torch.save(topk, path)
    writer = LabelStoreWriter(store_root, keys, TOP_K, GRID, NUM_CLASSES, annotator='bench: random maps')
    writer.write(np.arange(count), scores, indices)
    writer.finish()
    return keys, map_root, store_root


def reads_per_second(read: Callable[[object], object], items: Sequence[object], warmup: int, repeats: int) -> float:
    """Median over ``repeats`` of ``len(items) / seconds`` to ``read`` every item, after ``warmup`` reads."""
    for item in items[:warmup]:
        read(item)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            read(item)
        rates.append(len(items) / (time.perf_counter() - start))
    return statistics.median(rates)


def folder_bytes(root: Path) -> tuple[int, int]:
    """(file count, bytes of file contents) under ``root``."""
    sizes = [path.stat().st_size for path in root.rglob('*') if path.is_file()]
    return len(sizes), sum(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--short', action='store_true', help='2,000 maps, 2,000 reads x 3 repeats (for CI)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    count, reads, repeats = (2_000, 2_000, 3) if args.short else (10_000, 10_000, 5)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix='lvseg-bench-label-store-') as tmp:
        start = time.perf_counter()
        keys, map_root, store_root = write_both_layouts(Path(tmp), count, args.seed)
        written = time.perf_counter() - start
        picks = np.random.default_rng(args.seed + 1).integers(0, count, size=reads)
        store = LabelStore(store_root)
        store_keys = [keys[i] for i in picks]
        paths = [str(map_root / label_map_path(keys[i])) for i in picks]  # precomputed, as the data set does
        if not torch.equal(store.get(store_keys[0]), read_token_label_map(paths[0])):
            raise RuntimeError('the two layouts disagree: the benchmark would compare different data')
        warmup = min(500, reads)
        store_rate = reads_per_second(store.get, store_keys, warmup, repeats)
        file_rate = reads_per_second(read_token_label_map, paths, warmup, repeats)
        files, file_bytes = folder_bytes(map_root)
        _, store_bytes = folder_bytes(store_root)
    print(f'machine: {platform.machine()}, {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), '
          f'one process, torch threads 1; Python {platform.python_version()}, torch {torch.__version__}')
    print(f'data: {count} maps of (2, {TOP_K}, {GRID[0]}, {GRID[1]}) float16, written in {written:.1f} s; '
          f'per-file {files} files, {file_bytes / 2**20:.1f} MiB; store {store_bytes / 2**20:.1f} MiB')
    print(f'random reads: {reads} per repeat, {warmup} warm-up, median of {repeats}')
    print(f'  packed store (LabelStore.get):         {store_rate:12,.0f} reads/s  ({1e6 / store_rate:7.1f} us/read)')
    print(f'  per-file .pt (read_token_label_map):   {file_rate:12,.0f} reads/s  ({1e6 / file_rate:7.1f} us/read)')
    print(f'  ratio store / per-file: {store_rate / file_rate:.1f}x')


if __name__ == '__main__':
    main()
