"""Pictures of token labels: each map cell's top class painted over the image, its probability as opacity.

A map ``(2, k, h, w)`` (docs/method.md#label-map-geometry) tiles its whole image uniformly (cell ``(i, j)`` covers
``[j / w, (j + 1) / w)`` of the width and ``[i / h, (i + 1) / h)`` of the height, as
:mod:`lvseg.models.classifiers.token_labels` reads it). A cell is painted in the colour of its top class, blended
over the image with opacity = that class's softmax probability over all ``K`` classes, the classes outside
the top k at logit 0 (as :func:`~lvseg.models.classifiers.token_labels.dense_token_targets` makes token labels). A
legend below the image names the most frequent top classes. Class ``c`` always has the colour of class ``c``
(:mod:`.palette`: hues spaced by the golden ratio), in which lvseg's synthetic data paints class ``c`` too, so the
demo's pictures show each class in its own colour.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from ..datasets.label_store import LabelStore
from ..utils.user_errors import UserError
from .palette import palette

PICTURE_WIDTH = 448  # pixels; every picture's image is resized to this width, its aspect ratio kept
LEGEND_ENTRIES = 4  # most frequent top classes listed below a picture
_LEGEND_ROW = 20  # pixels per legend line
_FONT, _FONT_SCALE = cv2.FONT_HERSHEY_SIMPLEX, 0.45
_BORDER_DARKENING = 0.3  # cell borders are drawn at 70 % brightness
_GRID_GAP = 8  # pixels between pictures in a grid view
_BACKGROUND = 255  # grey level of legends and gaps


def top_class_probabilities(topk: Tensor, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's top class ``(h, w)`` int64 and its softmax probability ``(h, w)`` float32 in ``(0, 1]``.

    ``topk`` ``(2, k, h, w)``: ``[0]`` logits in decreasing order, ``[1]`` class indices. The softmax runs
    over all ``num_classes`` classes, those outside the top k at logit 0.
    """
    logits, indices = topk[0].float(), topk[1].round().long()
    rest = num_classes - logits.shape[0]  # classes at logit 0
    normalizer = torch.logsumexp(logits, dim=0)
    if rest:
        normalizer = torch.logaddexp(normalizer, torch.tensor(math.log(rest)))
    return indices[0].numpy(), (logits[0] - normalizer).exp().numpy()


def overlay_token_labels(image: np.ndarray, topk: Tensor, num_classes: int) -> np.ndarray:
    """``image`` ``(H, W, 3)`` uint8 BGR with each map cell blended with its top class's colour.

    Pixel ``(y, x)`` lies in cell ``(y * h // H, x * w // W)``; its colour becomes
    ``(1 - p) * pixel + p * colour`` with ``p`` the cell's top-class probability
    (:func:`top_class_probabilities`); the first pixel row and column of each cell (but the image's first)
    are then darkened by 30 % to show the cell borders. Returns a new ``(H, W, 3)`` uint8 array.
    """
    classes, probabilities = top_class_probabilities(topk, num_classes)
    height, width = image.shape[:2]
    rows = np.arange(height) * classes.shape[0] // height
    cols = np.arange(width) * classes.shape[1] // width
    colours = palette(num_classes)[classes][rows][:, cols].astype(np.float32)
    opacity = probabilities[rows][:, cols][..., None]
    blended = (1 - opacity) * image + opacity * colours
    row_starts, col_starts = (np.r_[False, cells[1:] != cells[:-1]] for cells in (rows, cols))
    blended[row_starts[:, None] | col_starts[None, :]] *= 1 - _BORDER_DARKENING
    return np.rint(blended).astype(np.uint8)


def token_label_picture(image: np.ndarray, topk: Tensor, num_classes: int,
                        class_names: Sequence[str] | None = None, width: int = PICTURE_WIDTH) -> np.ndarray:
    """The picture of one image: resized to ``width`` (aspect kept), overlaid, and a legend below.

    The legend lists the :data:`LEGEND_ENTRIES` top classes covering the most cells: a swatch of the class
    colour, the class index, its name when ``class_names`` (one per class) is given, and its cell count.

    Returns:
        ``(round(H * width / W) + LEGEND_ENTRIES * 20, width, 3)`` uint8 BGR.
    """
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    legend = np.full((LEGEND_ENTRIES * _LEGEND_ROW, width, 3), _BACKGROUND, np.uint8)
    classes, _ = top_class_probabilities(topk, num_classes)
    found, counts = np.unique(classes, return_counts=True)
    colours = palette(num_classes)
    for line, order in enumerate(np.argsort(-counts, kind='stable')[:LEGEND_ENTRIES]):
        top = line * _LEGEND_ROW
        class_index = int(found[order])
        cv2.rectangle(legend, (4, top + 4), (4 + _LEGEND_ROW - 8, top + _LEGEND_ROW - 4),
                      tuple(int(c) for c in colours[class_index]), thickness=-1)
        name = f' {class_names[class_index]}' if class_names is not None else ''
        cells = f'{counts[order]} cell' + ('s' if counts[order] > 1 else '')
        cv2.putText(legend, f'{class_index}{name} ({cells})', (_LEGEND_ROW + 2, top + 14), _FONT,
                    _FONT_SCALE, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([overlay_token_labels(resized, topk, num_classes), legend])


def picture_grid(pictures: Sequence[np.ndarray], cols: int) -> np.ndarray:
    """Pictures ``(H_i, W_i, 3)`` tiled row by row, ``cols`` per row, 8-pixel white gaps, top-left aligned."""
    rows = [pictures[start:start + cols] for start in range(0, len(pictures), cols)]
    cell_h, cell_w = max(p.shape[0] for p in pictures), max(p.shape[1] for p in pictures)
    grid = np.full((len(rows) * (cell_h + _GRID_GAP) - _GRID_GAP, min(cols, len(pictures)) * (cell_w + _GRID_GAP)
                    - _GRID_GAP, 3), _BACKGROUND, np.uint8)
    for r, row in enumerate(rows):
        for c, picture in enumerate(row):
            top, left = r * (cell_h + _GRID_GAP), c * (cell_w + _GRID_GAP)
            grid[top:top + picture.shape[0], left:left + picture.shape[1]] = picture
    return grid


def write_token_label_pictures(image_root: str | os.PathLike, store: LabelStore, out_dir: str | os.PathLike,
                               num: int = 8, class_names: Sequence[str] | None = None,
                               grid_cols: int = 4) -> list[Path]:
    """Write the pictures of ``num`` images of ``store``, evenly spread over its rows, and their grid view.

    Files: ``<out_dir>/<key with '/' -> '__', extension -> .png>`` per image (:func:`token_label_picture`)
    and ``<out_dir>/grid.png`` (:func:`picture_grid` with ``grid_cols`` columns). The store's keys are
    image paths relative to ``image_root``. Returns the paths written, the grid last.
    """
    image_root, out_dir = Path(image_root), Path(out_dir)
    if class_names is not None and len(class_names) < store.header.num_classes:
        raise UserError(f'{len(class_names)} class names for the {store.header.num_classes} classes of the store '
                        f'{store.root}; give one name per class')
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = np.unique(np.linspace(0, len(store) - 1, min(num, len(store))).round().astype(int))
    pictures, paths = [], []
    for row in rows:
        key = store.keys[row]
        image = cv2.imread(str(image_root / key), cv2.IMREAD_COLOR)
        if image is None:
            raise UserError(f'{image_root / key}: OpenCV cannot read this image; give the image folder the store '
                            'was annotated from')
        pictures.append(token_label_picture(image, store.get(int(row)), store.header.num_classes, class_names))
        paths.append(_write_png(out_dir / (str(Path(key).with_suffix('')).replace(os.sep, '__') + '.png'),
                                pictures[-1]))
    paths.append(_write_png(out_dir / 'grid.png', picture_grid(pictures, grid_cols)))
    return paths


def _write_png(path: Path, picture: np.ndarray) -> Path:
    if not cv2.imwrite(str(path), picture):
        raise UserError(f'{path}: OpenCV could not write this file; check that its folder is writable')
    return path
