"""Check a segmentation data set on disk, every image and mask pair, as its config defines it (for
``tools/check_dataset.py``).

The data set is built from its config dict with mmseg's own class (``data_root``, ``data_prefix``, ``ann_file``,
``img_suffix``, ``seg_map_suffix``, ``reduce_zero_label``, ``metainfo``), so the pairs are the ones training
would read. Each pair is then read as mmseg's transforms read it: the image's size as OpenCV decodes it (EXIF
orientation applied, from the file's header here), the mask as ``LoadAnnotations`` does (Pillow, unchanged, 8-bit;
``reduce_zero_label``, then the data set's ``label_map``). Found, each as one :class:`Problem` naming its file:

- an image without its mask; a mask without its image (folder layouts: a mask file in the mask folder that no
  image names; split-file layouts: a listed name with a mask but no image); a listed name with neither;
- a file that cannot be read; a mask that is not one 8-bit channel (RGB, 16-bit);
- a mask whose size differs from its image's;
- label values outside the classes ``0 .. K-1`` and the ignore index (after ``reduce_zero_label``), given as
  the values stored in the file.

Per class it counts pixels and the images that hold the class (:class:`DatasetReport`).
"""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context

import numpy as np
from PIL import Image

from ..utils.compat import subset_indices

LABEL_MODES = ('L', 'P', '1')  # 8-bit single-channel: one class index per pixel
EXIF_ORIENTATION = 274  # the EXIF tag; values 5..8 turn the picture by 90 degrees
_TRANSPOSED = (5, 6, 7, 8)


@dataclass(frozen=True)
class Problem:
    """A fault of the data set: ``path`` (the file, or the folder or split file) and what is wrong with it;
    ``kind`` groups the faults in the summary ('image without mask', 'size mismatch', ...)."""

    path: str
    message: str
    kind: str

    def __str__(self) -> str:
        return f'{self.path}: {self.message}'


@dataclass
class DatasetReport:
    """What :func:`check_dataset` found in one data set.

    ``pixels[k]`` and ``images[k]``: pixels of class ``k`` (after ``reduce_zero_label``) and the number of masks
    that hold it, for the K classes; ``ignored``: pixels at the ignore index; ``pairs``: image and mask pairs
    the data set lists.
    """

    dataset_type: str
    classes: tuple[str, ...]
    ignore_index: int
    reduce_zero_label: bool
    pairs: int = 0
    pixels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    images: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ignored: int = 0
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class MaskLabels:
    """How a data set's stored mask values become training labels (``reduce_zero_label``, then ``label_map``, as
    mmseg's ``LoadAnnotations``), and which labels are valid: ``0 .. num_classes - 1`` and ``ignore_index``."""

    num_classes: int
    ignore_index: int
    reduce_zero_label: bool
    label_map: tuple[tuple[int, int], ...] = ()

    def lookup(self) -> np.ndarray:
        """(256,) uint8: the label of each stored value, as mmseg's ``LoadAnnotations`` computes it."""
        labels = np.arange(256, dtype=np.uint8)
        if self.reduce_zero_label:
            labels[labels == 0] = 255
            labels = labels - 1
            labels[labels == 254] = 255
        if self.label_map:
            mapped = labels.copy()
            for old, new in self.label_map:
                mapped[labels == old] = new
            labels = mapped
        return labels

    def stored_range(self) -> str:
        """The valid stored values, in words."""
        if self.reduce_zero_label:
            return (f'with reduce_zero_label the {self.num_classes} classes are stored as 1..{self.num_classes}, '
                    f'0 and 255 are ignored')
        return f'expected 0..{self.num_classes - 1} ({self.num_classes} classes) or {self.ignore_index} (ignore)'


def image_size(path: str) -> tuple[int, int]:
    """``(height, width)`` of the image at ``path`` as mmseg's ``LoadImageFromFile`` (OpenCV) decodes it: EXIF
    orientation applied. Read from the file's header only."""
    with Image.open(path) as image:
        width, height = image.size
        orientation = image.getexif().get(EXIF_ORIENTATION)
    return (width, height) if orientation in _TRANSPOSED else (height, width)


def _read_mask(path: str) -> np.ndarray | str:
    """The mask at ``path`` as an (H, W) uint8 array, or why it cannot serve as one."""
    try:
        with Image.open(path) as image:
            mode = image.mode
            if mode not in LABEL_MODES:
                bits = '16-bit' if mode.startswith('I') else mode
                return (f'the mask is a {bits} image (mode {mode}); expected one 8-bit channel of class indices '
                        f'(mode L or P): mmseg reads masks as 8-bit, so other values wrap around or channels are '
                        f'read as classes')
            return np.asarray(image, dtype=np.uint8)
    except OSError as error:
        return f'cannot be read as an image ({error})'


def check_pair(img_path: str, seg_map_path: str, labels: MaskLabels) -> tuple[np.ndarray | None, list[Problem]]:
    """Read one pair; return the counts of its stored mask values ((256,) int64; None if the mask is unusable)
    and its problems. Expects both files to exist."""
    problems = []
    try:
        img_shape = image_size(img_path)
    except OSError as error:
        problems.append(Problem(img_path, f'cannot be read as an image ({error})', 'unreadable file'))
        img_shape = None
    mask = _read_mask(seg_map_path)
    if isinstance(mask, str):
        kind = 'unreadable file' if mask.startswith('cannot') else 'mask not 8-bit single-channel'
        return None, [*problems, Problem(seg_map_path, mask, kind)]
    if img_shape is not None and mask.shape != img_shape:
        problems.append(Problem(seg_map_path, f'the mask is {mask.shape[0]}x{mask.shape[1]} but its image {img_path} '
                                              f'is {img_shape[0]}x{img_shape[1]} (height x width)', 'size mismatch'))
    counts = np.bincount(mask.ravel(), minlength=256).astype(np.int64)
    label = labels.lookup()
    valid = (label < labels.num_classes) | (label == labels.ignore_index)
    outside = np.flatnonzero((counts > 0) & ~valid)
    if outside.size:
        values = ', '.join(f'{v} ({counts[v]} pixels)' for v in outside[:10]) + (', ...' if outside.size > 10 else '')
        problems.append(Problem(seg_map_path, f'label values outside the classes and the ignore index: {values}; '
                                              f'{labels.stored_range()}', 'label out of range'))
    return counts, problems


def _check_pair_args(args: tuple[str, str, MaskLabels]) -> tuple[np.ndarray | None, list[Problem]]:
    return check_pair(*args)


def _pairs_and_missing(dataset, subset: bool) -> tuple[list[tuple[str, str]], list[Problem]]:
    """The data set's (image, mask) pairs whose files both exist, and a problem for each pair that lacks one
    and for each mask file that no image names (folder layouts, unless the data set is a subset)."""
    pairs, problems, expected = [], [], set()
    img_suffix = getattr(dataset, 'img_suffix', '')
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        img_path, seg_map_path = info['img_path'], info.get('seg_map_path')
        if seg_map_path is None:
            continue  # a data set without masks (inference): nothing to pair
        expected.add(osp.normpath(seg_map_path))
        has_image, has_mask = osp.isfile(img_path), osp.isfile(seg_map_path)
        if has_image and has_mask:
            pairs.append((img_path, seg_map_path))
        elif has_image:
            problems.append(Problem(img_path, f'image without mask (expected {seg_map_path})', 'image without mask'))
        elif has_mask:
            problems.append(Problem(seg_map_path, f'mask without image (expected {img_path})', 'mask without image'))
        else:
            listed = f', listed in {dataset.ann_file}' if getattr(dataset, 'ann_file', '') else ''
            problems.append(Problem(img_path, f'no such image, and no mask {seg_map_path}{listed}', 'missing pair'))
    mask_dir = (getattr(dataset, 'data_prefix', None) or {}).get('seg_map_path')
    suffix = getattr(dataset, 'seg_map_suffix', None)
    if mask_dir and suffix and not getattr(dataset, 'ann_file', '') and not subset and osp.isdir(mask_dir):
        img_dir = dataset.data_prefix.get('img_path', '')
        for folder, _, names in sorted(os.walk(mask_dir)):
            for name in sorted(names):
                path = osp.normpath(osp.join(folder, name))
                if name.endswith(suffix) and path not in expected:
                    image = osp.join(img_dir, osp.relpath(path, mask_dir)[:-len(suffix)] + img_suffix)
                    problems.append(Problem(path, f'mask without image (expected {image})', 'mask without image'))
    return pairs, problems


def build_dataset(dataset_cfg: Mapping):
    """The data set of ``dataset_cfg`` (a leaf data set's config, not a wrapper's), built with its own class
    from mmseg's registry (the caller sets the default scope) without its pipeline, its data list loaded."""
    from mmseg.registry import DATASETS

    cfg = dict(dataset_cfg)
    cfg.update(pipeline=[], lazy_init=True, serialize_data=False)
    dataset = DATASETS.build(cfg)
    dataset.full_init()
    return dataset


def check_dataset(dataset_cfg: Mapping, workers: int = 1) -> DatasetReport:
    """Check every image and mask pair of the data set of ``dataset_cfg`` (see the module); ``workers``
    processes read the pairs (1: this process)."""
    try:
        dataset = build_dataset(dataset_cfg)
    except (OSError, AssertionError, ValueError) as error:
        root = dataset_cfg.get('data_root') or dataset_cfg.get('data_prefix', {}).get('img_path', '.')
        report = DatasetReport(str(dataset_cfg.get('type')), (), 255, False)
        report.problems.append(Problem(str(root), f'the data set cannot be built: {error}', 'data set not built'))
        return report
    classes = tuple(dataset.metainfo.get('classes') or ())
    labels = MaskLabels(len(classes), int(getattr(dataset, 'ignore_index', 255)),
                     bool(getattr(dataset, 'reduce_zero_label', False)),
                     tuple(sorted((getattr(dataset, 'label_map', None) or {}).items())))
    report = DatasetReport(type(dataset).__name__, classes, labels.ignore_index, labels.reduce_zero_label,
                           pixels=np.zeros(len(classes), dtype=np.int64), images=np.zeros(len(classes), dtype=np.int64))
    pairs, report.problems = _pairs_and_missing(dataset, subset=subset_indices(dataset) is not None)
    report.pairs = len(dataset)
    label = labels.lookup()
    for counts, problems in _map(_check_pair_args, [(img, mask, labels) for img, mask in pairs], workers):
        report.problems += problems
        if counts is None:
            continue
        per_label = np.bincount(label, weights=counts, minlength=256).astype(np.int64)
        report.pixels += per_label[:len(classes)]
        report.images += per_label[:len(classes)] > 0
        report.ignored += int(per_label[labels.ignore_index])
    return report


def _map(function, items: Sequence, workers: int) -> Iterable:
    if workers <= 1 or len(items) < 2:
        return map(function, items)
    pool = get_context('spawn' if os.name == 'nt' else 'fork').Pool(workers)
    try:
        return list(pool.imap(function, items, chunksize=max(1, len(items) // (workers * 8))))
    finally:
        pool.close()
        pool.join()


def class_table(report: DatasetReport) -> list[str]:
    """The report's per-class pixel counts as lines: ``index  name  pixels  share  images`` (share of all the
    pixels read), then the ignored pixels."""
    total = int(report.pixels.sum()) + report.ignored
    width = max([len(name) for name in report.classes] + [len('class')])
    lines = [f'  {"#":>3}  {"class":<{width}}  {"pixels":>12}  {"share":>7}  {"images":>6}']
    for index, name in enumerate(report.classes):
        share = 100 * report.pixels[index] / total if total else 0.0
        lines.append(f'  {index:>3}  {name:<{width}}  {report.pixels[index]:>12}  {share:>6.2f}%  '
                     f'{report.images[index]:>6}')
    share = 100 * report.ignored / total if total else 0.0
    lines.append(f'  {report.ignore_index:>3}  {"(ignored)":<{width}}  {report.ignored:>12}  {share:>6.2f}%')
    return lines


def problem_summary(problems: Sequence[Problem]) -> str:
    """``3 problems (2 image without mask, 1 size mismatch)``."""
    kinds: dict[str, int] = {}
    for problem in problems:
        kinds[problem.kind] = kinds.get(problem.kind, 0) + 1
    parts = ', '.join(f'{count} {kind}' for kind, count in kinds.items())
    return f'{len(problems)} problem{"" if len(problems) == 1 else "s"} ({parts})'
