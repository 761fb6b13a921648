"""A stand-in annotator for the synthetic demo data: token-label maps computed from exact class masks.

Token labeling reads every token's label from a strong classifier's dense score map of the training image
(NFNet-F6 for the published ImageNet maps). The synthetic demo data (:mod:`lvseg.demo.synthetic`) has no
such classifier, but it has exact masks, so this module writes what a perfect annotator would: at each map
cell the logit of a class is proportional to the fraction of the cell's area that class covers, in the
same ``(2, k, h, w)`` float16 top-k format and ``<root>/<wnid>/<stem>.pt`` layout as the published maps. It
is a demo tool, not an annotator for real images.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from ..utils.atomic_write import save_atomically

# Probability a pure cell (one class only) gives its class after the softmax over all classes. A stand-in's
# choice, not a published value: confident, yet short of one-hot.
DEFAULT_CONFIDENCE = 0.9
DEFAULT_TOP_K = 5  # the published maps keep the top 5 (docs/method.md#token-labeling)


def logit_scale(num_classes: int, confidence: float) -> float:
    """The logit ``s`` of a class covering a whole cell, such that ``softmax`` gives it ``confidence``.

    With logit ``s`` for one class and 0 for the other ``K - 1``, ``softmax = e^s / (e^s + K - 1)``, so
    ``s = log(confidence (K - 1) / (1 - confidence))``: about 4.2 for ``K = 8``, 9.1 for ``K = 1000`` at 0.9.
    """
    if num_classes < 2 or not 0 < confidence < 1:
        raise ValueError(f'need num_classes >= 2 and 0 < confidence < 1, got {num_classes} and {confidence}')
    return math.log(confidence * (num_classes - 1) / (1 - confidence))


def topk_map_from_mask(mask: np.ndarray, num_classes: int, grid: tuple[int, int], k: int = DEFAULT_TOP_K,
                       confidence: float = DEFAULT_CONFIDENCE) -> Tensor:
    """The top-k score map of one image from its exact class mask.

    The map's ``h x w`` cells tile the image uniformly (cell ``(i, j)`` covers ``[j / w, (j + 1) / w)`` of
    the width and ``[i / h, (i + 1) / h)`` of the height, as :mod:`lvseg.models.classifiers.token_labels` reads them),
    for any image size: a pixel straddling two cells counts towards each by the area it has in it. The logit
    of class ``c`` in a cell is ``logit_scale(num_classes, confidence) * fraction of the cell's area labelled
    c``, so a pure cell softmaxes to ``confidence`` for its class and a mixed cell ranks its classes by area.
    Pixels labelled 0 (none) count for no class. Ties (e.g. the classes absent
    from a cell, all at logit 0) rank by class index, so the output is deterministic.

    Args:
        mask: ``(H, W)`` integer array, class index + 1 per pixel, 0 for none (as the synthetic masks).
        num_classes: ``K >= 2``; mask values must lie in ``[0, K]``.
        grid: ``(h, w)`` map cells.
        k: Classes kept per cell, ``1 <= k <= K``. Default 5, the published maps'.
        confidence: Softmax probability of a pure cell's class, in ``(0, 1)``. Default
            :data:`DEFAULT_CONFIDENCE`.

    Returns:
        ``(2, k, h, w)`` float16: ``[0]`` the top-k logits of each cell in decreasing order, ``[1]`` their
        class indices (0-based) as floats.
    """
    if mask.ndim != 2 or not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f'mask must be an (H, W) integer array, got {mask.dtype} of shape {mask.shape}')
    if mask.size and (mask.min() < 0 or mask.max() > num_classes):
        raise ValueError(f'mask values must be class index + 1 in [0, {num_classes}], found {mask.min()} to '
                         f'{mask.max()}')
    if not 1 <= k <= num_classes or min(grid) < 1:
        raise ValueError(f'need 1 <= k <= num_classes and a positive grid, got k={k}, num_classes={num_classes}, '
                         f'grid={grid}')
    rows, cols = _cell_overlaps(mask.shape[0], grid[0]), _cell_overlaps(mask.shape[1], grid[1])
    fractions = np.zeros((num_classes, *grid))
    for label in np.unique(mask[mask > 0]):
        fractions[label - 1] = rows @ (mask == label) @ cols.T
    logits = torch.from_numpy(logit_scale(num_classes, confidence) * fractions)
    values, indices = logits.sort(dim=0, descending=True, stable=True)
    return torch.stack([values[:k], indices[:k].to(values.dtype)]).to(torch.float16)


def _cell_overlaps(pixels: int, cells: int) -> np.ndarray:
    """``(cells, pixels)`` float64: the part of cell ``i``'s extent covered by pixel ``p`` (rows sum to 1).

    Cell ``i`` spans ``[i, i + 1) * pixels / cells`` in pixel units, pixel ``p`` spans ``[p, p + 1)``.
    """
    edges = np.arange(cells + 1) * pixels / cells
    starts = np.maximum(edges[:-1, None], np.arange(pixels)[None, :])
    ends = np.minimum(edges[1:, None], np.arange(1, pixels + 1)[None, :])
    return np.clip(ends - starts, 0, None) * cells / pixels


def write_label_maps_from_masks(mask_root: str | os.PathLike, out_root: str | os.PathLike, num_classes: int,
                                grid: tuple[int, int], k: int = DEFAULT_TOP_K,
                                confidence: float = DEFAULT_CONFIDENCE) -> int:
    """Write the map of every mask ``<mask_root>/<wnid>/<stem>.png`` to ``<out_root>/<wnid>/<stem>.pt``.

    Masks are single-channel PNGs as :func:`lvseg.demo.synthetic.write_imagenet_layout` writes them; each
    map (:func:`topk_map_from_mask` with ``num_classes``, ``grid``, ``k``, ``confidence``) is saved atomically,
    so an interrupted run leaves no half-written map under its final name. Returns the number of maps written.
    """
    mask_root, out_root = Path(mask_root), Path(out_root)
    masks = sorted(mask_root.glob('*/*.png'))
    if not masks:
        raise FileNotFoundError(f'{mask_root} holds no mask (expected <wnid>/<stem>.png under it)')
    for mask_path in masks:
        mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
        if mask is None:
            raise OSError(f'{mask_path}: OpenCV cannot read this mask')
        if mask.ndim != 2:
            raise ValueError(f'{mask_path}: expected a single-channel mask, found shape {mask.shape}')
        topk = topk_map_from_mask(mask, num_classes, grid, k, confidence)
        save_atomically(topk, out_root / mask_path.parent.name / f'{mask_path.stem}.pt')
    return len(masks)
