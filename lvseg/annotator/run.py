"""Annotating an image folder: the dense annotator over ImageNet-layout images, into a packed label store.

Every image is resized whole to the annotator's input size, its aspect ratio squashed, so that the map's
cells tile the whole original image, as :func:`lvseg.models.classifiers.token_labels.dense_token_targets` assumes
when it cuts a training crop out of the map. The official annotator instead saw a centre crop of each
non-square image while its crop boxes were fractions of the whole image, a defect lvseg does not copy
(docs/method.md#official-code-defects).

The run is sharded and resumable through :class:`~lvseg.datasets.label_store.LabelStoreWriter`: under
``torchrun`` rank ``r`` of ``W`` annotates the rows of its contiguous block (:func:`row_blocks`) that are not
done yet; rank 0 creates (or reopens) the store, the others attach after a barrier, and rank 0 marks it
complete after a final barrier once every row is written. A killed run loses at most its rows in flight;
running it again continues.

Contiguous blocks rather than interleaved rows (``r, r + W, ...``), so that no two ranks write into one page
of the memory-mapped row arrays: across nodes on a network file system each node writes back whole pages and
the last copy of a page written wins, which would lose rows that another node wrote into that page while
their ``done`` flags say written. The blocks are a balanced split of all ``N`` rows (the first ``N % W``
ranks take one row more), each inner boundary moved up to the next row that begins a 4 KiB page in both
``scores.npy`` and ``indices.npy`` (:func:`page_start_rows`: at most 511 rows further for the published
5 x 18 x 18 maps). The blocks depend on the store (``N``, its row size) and ``W`` only, never on which rows
are done: a rerun with the same ``W`` gives every rank its block again, and one with another ``W`` still
writes each row left exactly once, the blocks of any ``W`` partitioning the rows. A rank skips the done rows
of its block, so a resumed run with the same ``W`` stays balanced, every rank having got about as far.

Shared pages remain in two places. Where no row begins a page (rows a multiple of 256 bytes, after the
128-byte ``.npy`` header), each boundary page is written by two neighbouring ranks. And the ``done`` flags,
one byte per row, share a page across each boundary, as they cannot in general be page-aligned along with
the maps; a lost flag costs only work: its row looks undone, the store stays incomplete, and the next run
writes the row again.

An image that cannot be decoded (a corrupt or empty file, or not an image) is a bad image; the images are
decoded in the data loader's workers, which report it instead of raising, and the policy ``bad_samples``
decides in this process, as training's ``bad_samples`` does (:mod:`lvseg.datasets.bad_sample`): ``'error'``
(default) writes the batch's good images, then stops with :class:`BadImageError` naming the file; ``'skip'``
logs each bad image once, goes on, and stops once more than ``max_skipped`` were skipped (in this process).
A skipped image's row stays unwritten, so the store stays incomplete and its readers (pretraining's included)
refuse it: no row ever holds a map that the annotator did not compute. Running again reads only the rows left,
so replacing the bad files and running the same command completes the store; removing them changes the keys,
so the annotation then goes into a new store.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dist import barrier, get_dist_info
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ..datasets.bad_sample import POLICIES
from ..datasets.imagenet import ImageNetTokenLabelDataset, image_key, list_image_keys
from ..datasets.label_store import INDICES_FILE, SCORES_FILE, LabelStore, LabelStoreWriter
from ..evaluation.topk_accuracy import TopKAccuracy
from ..utils.user_errors import UserError
from .dense import DenseAnnotator, topk_maps

# Input normalizations, (mean, std) per RGB channel in 0-255 pixel units.
NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    'imagenet': (tuple(255 * m for m in IMAGENET_DEFAULT_MEAN), tuple(255 * s for s in IMAGENET_DEFAULT_STD)),
    # TensorFlow's EfficientNet-Lite (tensorflow/tpu, efficientnet/lite/efficientnet_lite_builder.py):
    # MEAN_RGB = [127.0] * 3, STDDEV_RGB = [128.0] * 3, i.e. (x - 127) / 128.
    'tf-lite': ((127.0,) * 3, (128.0,) * 3),
}
_PRINT_EVERY = 10.0  # seconds between progress lines without tqdm
# The unit the rank blocks align to: 4 KiB, the page size of x86-64 and of most arm64 kernels. A fixed number,
# not mmap.PAGESIZE, so that every rank of a run over mixed machines computes the same blocks.
PAGE_BYTES = 4096


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the annotator's input: the whole image, squashed to ``size``, then normalized.

    Attributes:
        size: ``(H, W)`` input pixels.
        mean: per-channel RGB mean, 0-255 pixel units.
        std: per-channel RGB standard deviation, 0-255 pixel units.
    """

    size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __call__(self, image: np.ndarray) -> Tensor:
        """RGB ``(h, w, 3)`` uint8 -> ``(3, H, W)`` float32: bicubic with antialiasing (as PIL, which timm's
        evaluation uses), clamped to 0-255, normalized."""
        pixels = torch.from_numpy(image).permute(2, 0, 1)[None].float()
        pixels = F.interpolate(pixels, size=self.size, mode='bicubic', antialias=True, align_corners=False)
        mean, std = (torch.tensor(v, dtype=torch.float32)[:, None, None] for v in (self.mean, self.std))
        return (pixels[0].clamp_(0, 255) - mean) / std

    def describe(self) -> str:
        """A short text naming the size and normalization (for the store's ``annotator`` field)."""
        return (f'whole image resized to {self.size[0]}x{self.size[1]} (bicubic), mean {list(self.mean)}, '
                f'std {list(self.std)}')


class BadImageError(UserError):
    """An image that cannot be decoded, with policy ``'error'``, or more of them than ``max_skipped``; the message
    names the file."""


class FolderImages(Dataset):
    """Images of a label store's rows: item ``i`` is ``(row, image, problem)``, with ``image`` ``(3, H, W)``
    float32 and ``problem`` None, or, for an image that cannot be decoded, ``image`` None and ``problem`` what
    is wrong (the data loader's workers report it; :func:`annotate` applies the policy).

    Args:
        image_root: the folder the keys are relative to.
        keys: every row's image path, relative to ``image_root``.
        rows: the rows to load, in order.
        preprocessing: what makes an annotator input of a decoded RGB image.
    """

    def __init__(self, image_root: str | os.PathLike, keys: Sequence[str], rows: Sequence[int],
                 preprocessing: Preprocessing) -> None:
        self.image_root = Path(image_root)
        self.keys = keys
        self.rows = [int(row) for row in rows]
        self.preprocessing = preprocessing

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[int, Tensor | None, str | None]:
        row = self.rows[index]
        path = self.image_root / self.keys[row]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # grey and 4-channel files become 3 channels
        if image is None:
            return row, None, _decode_problem(path)
        return row, self.preprocessing(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)), None


def _decode_problem(path: Path) -> str:
    """Why OpenCV read no image from ``path``."""
    if not path.is_file():
        return 'the file does not exist'
    if path.stat().st_size == 0:
        return 'the file is empty (0 bytes)'
    return 'OpenCV cannot read it: corrupt, or not an image'


def collate_images(items: Sequence[tuple[int, Tensor | None, str | None]]
                   ) -> tuple[Tensor, Tensor | None, list[tuple[int, str]]]:
    """A batch of :class:`FolderImages` items: the good images' rows ``(B,)`` int64 and images ``(B, 3, H, W)``
    (None when there is none), and ``(row, problem)`` of each image that cannot be decoded."""
    good = [(row, image) for row, image, _ in items if image is not None]
    rows = torch.tensor([row for row, _ in good], dtype=torch.int64)
    images = torch.stack([image for _, image in good]) if good else None
    return rows, images, [(row, problem) for row, image, problem in items if image is None]


def folder_labels(image_root: str | os.PathLike, keys: Sequence[str],
                  class_index_file: str | os.PathLike) -> list[int]:
    """The annotator class of each image ``keys[i]``, from its class folder's line in ``class_index_file``.

    ``class_index_file`` holds one wnid per line, line ``i`` (0-based) = the annotator's class ``i`` (e.g.
    timm's ``imagenet_synsets.txt`` or ImageNet's ``LOC_synset_mapping.txt``), read as
    :class:`~lvseg.datasets.imagenet.ImageNetTokenLabelDataset` reads its ``classes_file``: every class folder
    of ``image_root`` must be listed. ``keys`` are image paths relative to ``image_root``
    (:func:`~lvseg.datasets.imagenet.list_image_keys`).
    """
    image_root = Path(image_root)
    dataset = ImageNetTokenLabelDataset(data_prefix=dict(img_path=str(image_root)), serialize_data=False,
                                        classes_file=str(class_index_file))
    labels = {image_key(Path(info['img_path']), image_root): info['gt_label'] for info in dataset.data_list}
    return [labels[key] for key in keys]


def pooled_scores(topk: Tensor, num_classes: int) -> Tensor:
    """The mean over map cells of a top-k map ``(2, k, h, w)``, scattered to dense logits: ``(K,)`` float32.

    Classes outside a cell's top k count as logit 0 there, as in
    :func:`~lvseg.models.classifiers.token_labels.dense_token_targets`; so this ranks classes as the class-token label
    of an uncropped image does (a RoIAlign of the whole map to 1x1).
    """
    logits, indices = topk[0].float().flatten(), topk[1].round().long().flatten()
    pooled = torch.zeros(num_classes).scatter_add_(0, indices, logits)
    return pooled / (topk.shape[2] * topk.shape[3])


def pooled_accuracy(store: LabelStore, labels: Sequence[int], topk: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Top-k accuracy (percent) of each row's :func:`pooled_scores` against ``labels`` (one per row)."""
    metric = TopKAccuracy(topk=topk)
    for row, label in enumerate(labels):
        metric.process(None, [{'pred_score': pooled_scores(store.get(row), store.header.num_classes),
                               'gt_label': label}])
    return metric.compute_metrics(metric.results)


@dataclass(frozen=True)
class AnnotationResult:
    """What :func:`annotate` did in this process.

    Attributes:
        rows: this process's block of rows (:func:`row_blocks`).
        annotated: rows this process wrote in this run.
        skipped: rows of this process's block that earlier runs had written.
        left: rows of the whole store still to write after this run (0 once complete).
        accuracy: ``{'top1': ..., 'top5': ...}`` percent of the pooled maps (:func:`pooled_accuracy`), on
            rank 0 of a run that completed the store with labels given; else None.
        bad_images: the images this process skipped as they cannot be decoded (policy ``'skip'``), in row
            order; their rows stay unwritten (counted in ``left``).
    """

    rows: range
    annotated: int
    skipped: int
    left: int
    accuracy: dict[str, float] | None = None
    bad_images: tuple[Path, ...] = ()


def annotate(annotator: DenseAnnotator, image_root: str | os.PathLike, store_root: str | os.PathLike,
             preprocessing: Preprocessing, description: str, k: int = 5, batch_size: int = 32, workers: int = 4,
             device: str | torch.device = 'cpu', amp_dtype: torch.dtype | None = None,
             labels: Sequence[int] | None = None, max_images: int | None = None,
             log_progress: bool = True, bad_samples: str = 'error', max_skipped: int = 100) -> AnnotationResult:
    """Fill (or continue) the label store ``store_root`` with the top-k dense maps of ``image_root``'s images.

    Runs on every rank of a distributed run (mmengine's ``get_dist_info``/``barrier``), see the module
    docstring. The store's grid and classes are the annotator's output at ``preprocessing.size``.

    Args:
        annotator: the dense annotator, on any device (moved to ``device``).
        image_root: an ImageNet-layout folder; its images are the rows, keyed by
            :func:`~lvseg.datasets.imagenet.list_image_keys`.
        store_root: the label store's folder: created if missing, resumed if it holds an unfinished store of
            the same images, ``k``, grid, classes and ``description``.
        preprocessing: input size and normalization.
        description: the store's ``annotator`` text (model, weights, preprocessing); must be the same to resume.
        k: classes kept per map cell. Default 5 (the published maps).
        batch_size: images per forward pass.
        workers: data-loader processes decoding images (0: in this process).
        device: where the annotator runs.
        amp_dtype: ``torch.bfloat16`` or ``torch.float16`` for autocast on CUDA; None for float32.
        labels: each row's annotator class, for the sanity figure (:func:`pooled_accuracy`); None: none.
        max_images: stop after this many images in this process (the store stays resumable); None: all.
        log_progress: print progress on rank 0 (tqdm when installed).
        bad_samples: ``'error'`` (default) or ``'skip'``, what an image that cannot be decoded does (see the
            module); a skipped image is printed on every rank.
        max_skipped: with ``'skip'``, how many bad images this process skips before it stops. Default 100, as
            training's ``bad_samples``.

    Raises:
        BadImageError: an image cannot be decoded (``'error'``), or more than ``max_skipped`` (``'skip'``).
    """
    if bad_samples not in POLICIES:
        raise ValueError(f'bad_samples must be one of {POLICIES}, got {bad_samples!r}')
    rank, world_size = get_dist_info()
    keys = list_image_keys(image_root)
    annotator = annotator.to(device).eval()
    autocast = torch.autocast('cuda', dtype=amp_dtype) if amp_dtype is not None else nullcontext()
    with torch.inference_mode(), autocast:
        num_classes, height, width = annotator(torch.zeros(1, 3, *preprocessing.size, device=device)).shape[1:]
    if rank == 0:
        writer = LabelStoreWriter(store_root, keys, k, (height, width), num_classes, description)
    barrier()
    if rank != 0:
        writer = LabelStoreWriter.open_existing(store_root)
    block = row_blocks(len(keys), world_size, page_start_rows(store_root))[rank]
    todo = writer.rows_to_do(block)
    skipped = len(block) - len(todo)
    todo = todo[:max_images] if max_images is not None else todo
    loader = DataLoader(FolderImages(image_root, keys, todo, preprocessing), batch_size=batch_size,
                        num_workers=workers, pin_memory=torch.device(device).type == 'cuda',
                        collate_fn=collate_images)
    annotated, bad_images = 0, []
    with _progress(len(todo), enabled=log_progress and rank == 0) as progress:
        for rows, images, problems in loader:
            if images is not None:
                with torch.inference_mode(), autocast:
                    maps = topk_maps(annotator(images.to(device, non_blocking=True)), k).cpu()
                writer.write(rows, maps[:, 0], maps[:, 1].to(torch.int16))
                annotated += len(rows)
            for row, problem in problems:
                path = Path(image_root) / keys[row]
                if bad_samples == 'error':
                    raise BadImageError(f'{path}: cannot be decoded ({problem}); remove or replace it, or run with '
                                        '--bad-samples skip')
                bad_images.append(path)
                print(f'annotate: skipped {path}: cannot be decoded ({problem}); its row stays unwritten', flush=True)
                if len(bad_images) > max_skipped:
                    raise BadImageError(f'{len(bad_images)} images cannot be decoded, more than --max-skipped '
                                        f'{max_skipped}; the last: {path} ({problem})')
            progress(len(rows) + len(problems))
    barrier()
    left = len(writer.rows_to_do())
    accuracy = None
    if rank == 0 and not left:
        writer.finish()
        if labels is not None:
            accuracy = pooled_accuracy(LabelStore(store_root), labels)
    return AnnotationResult(rows=block, annotated=annotated, skipped=skipped, left=left, accuracy=accuracy,
                            bad_images=tuple(bad_images))


def row_blocks(num_rows: int, world_size: int, page_starts: tuple[int, int] = (1, 0)) -> list[range]:
    """The contiguous block of rows of each of ``world_size`` ranks, in rank order; together they are
    ``range(num_rows)``.

    A balanced split: boundary ``i`` lies at ``i * (N // W) + min(i, N % W)``, so the first ``N % W`` ranks take
    ``N // W + 1`` rows and the others ``N // W``. Each inner boundary ``0 < i < W`` then moves up to the next
    row ``b`` with ``b % period == phase`` (``page_starts = (period, phase)``, as :func:`page_start_rows`
    gives), or to ``N`` if there is none: by fewer than ``period`` rows, so a store of fewer than about
    ``W * period`` rows leaves the last ranks short or empty. ``(1, 0)``, every row, keeps the balanced split.
    """
    period, phase = page_starts
    boundaries = [0]
    for i in range(1, world_size):
        balanced = i * (num_rows // world_size) + min(i, num_rows % world_size)
        boundaries.append(min(balanced + (phase - balanced) % period, num_rows))
    boundaries.append(num_rows)
    return [range(start, stop) for start, stop in zip(boundaries, boundaries[1:])]


def page_start_rows(store_root: str | os.PathLike) -> tuple[int, int]:
    """The rows of the store ``store_root`` that begin a :data:`PAGE_BYTES` page in both ``scores.npy`` and
    ``indices.npy``, as ``(period, phase)``: row ``b`` does when ``b % period == phase``.

    Row ``b`` of an array starts at byte ``offset + b * row_bytes`` of its file (``offset``: the ``.npy`` header,
    128 bytes for a store's arrays). That is a multiple of the page size for one row in every
    ``PAGE_BYTES / gcd(row_bytes, PAGE_BYTES)`` rows, if ``gcd(row_bytes, PAGE_BYTES)`` divides ``offset``;
    e.g. 5 x 18 x 18 float16 maps (3240 bytes) begin a page every 512 rows. Where no row begins a page
    (rows a multiple of 256 bytes after a 128-byte header), ``(1, 0)``: every row.
    """
    layouts = []
    for name in (SCORES_FILE, INDICES_FILE):
        array = np.load(Path(store_root) / name, mmap_mode='r')
        layouts.append((array.offset, array.strides[0]))
    period = math.lcm(*(PAGE_BYTES // math.gcd(row_bytes, PAGE_BYTES) for _, row_bytes in layouts))
    phase = next((b for b in range(period)
                  if all((offset + b * row_bytes) % PAGE_BYTES == 0 for offset, row_bytes in layouts)), None)
    return (1, 0) if phase is None else (period, phase)


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yield ``update(images)``: a tqdm bar in images/s when tqdm is installed, else a line every 10 s."""
    if not enabled:
        yield lambda images: None
        return
    try:
        from tqdm import tqdm
    except ImportError:
        yield _printer(total)
        return
    with tqdm(total=total, unit='img', desc='annotate', smoothing=0.1) as bar:
        yield bar.update


def _printer(total: int) -> Callable[[int], None]:
    """``update(images)`` printing ``done/total images, rate images/s`` every 10 s and at the end."""
    start = last = time.perf_counter()
    done = 0

    def update(images: int) -> None:
        nonlocal done, last
        done += images
        now = time.perf_counter()
        if now - last >= _PRINT_EVERY or done == total:
            print(f'annotate: {done}/{total} images, {done / (now - start):.1f} images/s', flush=True)
            last = now
    return update
