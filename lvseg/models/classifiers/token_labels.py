"""Token labels: the annotator's dense score map, cut to each training crop and laid on the token grid.

Token labeling (Jiang et al., arXiv 2104.10858) gives every patch token a soft label read from an offline
score map of the *whole original image*. Per image the map is stored as its top-k: a ``(2, k, h, w)``
tensor (float16) whose ``[0]`` holds the k largest raw logits at each map cell and ``[1]`` their class
indices (stored as floats, exact up to 2048). The cells tile the original image uniformly: cell ``(i, j)``
of an ``h x w`` map covers ``[j / w, (j + 1) / w)`` of the image width and ``[i / h, (i + 1) / h)`` of
its height.

The data pipeline (:mod:`lvseg.datasets.token_label_transforms`) never touches the map; it records where
the training image came from: a crop box in fractions of the original image, a horizontal flip applied
after the crop, and an affine (RandAugment's rotations, shears and translations) applied after the flip.
:func:`dense_token_targets` replays that geometry on the map, batched, on whatever device the map is on.

Geometry of the RoIAlign (torchvision's ``roi_align``, ``aligned=True``, ``spatial_scale=1``):
torchvision samples the feature map bilinearly with the value of cell ``j`` placed at continuous
coordinate ``j``, and with ``aligned=True`` it subtracts 0.5 from the box coordinates before sampling.
Give the box in *cell-corner units*, ``x = fraction * w`` (cell ``j`` spans ``[j, j + 1)``, its centre is
``j + 0.5``): after the shift the point at fraction ``f`` of the image width lands at ``f * w - 0.5``,
i.e. cell ``j``'s centre ``(j + 0.5) / w`` lands exactly on ``j``. Each output bin then averages
bilinear samples of its own sub-rectangle of the box, so token ``(r, c)`` of an ``S_h x S_w`` grid reads
the part of the map under ``[x1 + c (x2 - x1) / S_w, x1 + (c + 1) (x2 - x1) / S_w)`` (and likewise in
height), exactly where the token's pixels came from. ``aligned=False`` (the official code's choice, with
the box scaled by the map size minus 0.5) is off by up to half a cell, and the official code also passes
the box transposed as ``(top, left, bottom, right)``, which mirrors the labels across the diagonal.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import roi_align

from ...utils.precision import float32_region


def dense_token_targets(topk: Tensor, boxes: Tensor, flips: Tensor, affines: Tensor, grid: tuple[int, int],
                        num_classes: int) -> tuple[Tensor, Tensor]:
    """Soft labels of every token and of the whole crop, from the top-k score maps of the original images.

    Steps: scatter the top-k logits into a dense ``(B, K, h, w)`` map (0 for the other classes); RoIAlign
    each crop box to the token grid (exact geometry, see the module docstring); resample that grid through
    the flip and ``affines`` with nearest sampling (tokens that fall outside the crop get all-zero logits,
    i.e. a uniform label); softmax over the classes. The crop-level label is the RoIAlign of the same box
    to 1x1, softmaxed: flips and affines do not change what the crop holds.

    Args:
        topk: ``(B, 2, k, h, w)``: ``[:, 0]`` the top-k raw logits at each map cell, ``[:, 1]`` their class
            indices (as floats). Any float dtype; the work is done in float32, whatever autocast is active
            (:func:`~lvseg.utils.precision.float32_region`: ``F.affine_grid`` would follow autocast's dtype and
            move tokens across the sampling grid).
        boxes: ``(B, 4)`` crop boxes ``(x1, y1, x2, y2)`` in fractions ``[0, 1]`` of the original image's
            width and height.
        flips: ``(B,)`` bool, True where the crop was flipped horizontally after cropping.
        affines: ``(B, 2, 3)`` ``F.affine_grid`` thetas (``align_corners=False``) mapping normalized
            coordinates of the final image to those of the cropped and flipped image; identity for none.
        grid: ``(S_h, S_w)`` token grid of the final image, e.g. ``(14, 14)`` for 224 pixels, patch 16.
        num_classes: ``K``, the number of classes of the annotator.

    Returns:
        ``token_targets``: ``(B, S_h * S_w, K)`` probabilities, tokens in row-major order (as a patch
        embedding flattens them). ``crop_targets``: ``(B, K)`` probabilities.
    """
    with float32_region(topk.device):
        batch, _, _, height, width = topk.shape
        scores = _scatter_topk(topk, num_classes)
        cell_units = torch.tensor([width, height, width, height], dtype=scores.dtype, device=scores.device)
        batch_index = torch.arange(batch, dtype=scores.dtype, device=scores.device)[:, None]
        rois = torch.cat([batch_index, boxes.to(scores) * cell_units], dim=1)  # (B, 5) in cell-corner units

        tokens = roi_align(scores, rois, output_size=grid, spatial_scale=1.0, sampling_ratio=-1, aligned=True)
        # The flip is the affine x -> -x applied before ``affines``: negating the theta's x row folds it in, so
        # one nearest resampling does both (token centres mirror onto token centres exactly).
        mirror = torch.where(flips.to(tokens.device, torch.bool), -1.0, 1.0).to(tokens)
        theta = affines.to(tokens) * torch.stack([mirror, torch.ones_like(mirror)], dim=1)[:, :, None]
        sampling_grid = F.affine_grid(theta, list(tokens.shape), align_corners=False)
        tokens = F.grid_sample(tokens, sampling_grid, mode='nearest', padding_mode='zeros', align_corners=False)
        token_targets = tokens.flatten(2).transpose(1, 2).softmax(dim=-1)

        crop = roi_align(scores, rois, output_size=(1, 1), spatial_scale=1.0, sampling_ratio=-1, aligned=True)
        crop_targets = crop.flatten(1).softmax(dim=-1)
        return token_targets, crop_targets


def _scatter_topk(topk: Tensor, num_classes: int) -> Tensor:
    """Dense float32 logits ``(B, K, h, w)`` from top-k maps ``(B, 2, k, h, w)``; 0 outside the top-k."""
    logits, indices = topk[:, 0].float(), topk[:, 1].round().long()
    batch, _, height, width = logits.shape
    scores = logits.new_zeros(batch, num_classes, height, width)
    return scores.scatter_(1, indices, logits)


def one_hot_labels(labels: Tensor, num_classes: int) -> Tensor:
    """One-hot float32 targets ``(B, K)`` of class indices ``(B,)``, without reading the labels back.

    ``F.one_hot`` checks the label range with two ``.item()`` calls on the CPU (not on CUDA); this scatter
    never leaves the device. Out-of-range labels still fail: scatter raises on the CPU and asserts on the GPU.
    """
    labels = labels.long()
    return torch.zeros(*labels.shape, num_classes, device=labels.device).scatter_(-1, labels[..., None], 1.0)


def broadcast_image_label(labels: Tensor, grid: tuple[int, int], num_classes: int) -> Tensor:
    """Token targets for data without score maps: the image label, one-hot, at every token.

    What the official code does when no maps are given. Args: ``labels`` ``(B,)`` int64 class indices;
    ``grid`` ``(S_h, S_w)`` tokens; ``num_classes`` ``K``. Returns ``(B, S_h * S_w, K)`` float32
    probabilities, a broadcast view of ``(B, 1, K)`` (no copy: ``.contiguous()`` before editing in place).
    """
    return one_hot_labels(labels, num_classes)[:, None, :].expand(-1, grid[0] * grid[1], -1)
