"""RandAugment's image operations on a batch of uint8 images, one parameter per image, computed as PIL computes them.

Each function takes ``images`` ``(N, C, H, W)`` uint8 (RGB for the colour ops, on any device) and per-image
parameters ``(N,)`` and returns a new ``(N, C, H, W)`` uint8 batch. They reproduce the arithmetic of the Pillow
functions that timm's RandAugment calls (``timm.data.auto_augment``), so the device path augments like the CPU
path:

- lookup-table ops (``ImageOps.autocontrast``, ``equalize``, ``invert``, ``posterize``, ``solarize`` and timm's
  ``solarize_add``): the same table per image and channel, in exact (integer or float64) arithmetic: identical
  to Pillow;
- ``ImageEnhance`` (colour, contrast, brightness, sharpness): Pillow's ``Image.blend`` of the image with a
  degenerate image, in float32 and truncated as Pillow's C code does: identical;
- affine warps (``Image.transform`` / ``Image.rotate``, see :func:`warp`): one ``grid_sample`` for the batch.
  Bilinear equals Pillow's up to float rounding (1 level, rarely); Pillow's bicubic for transforms is the cubic
  with ``a = -1`` and torch's ``a = -0.75``, so bicubic warps differ by a few levels at sharp edges.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

_LEVELS = 256
# Pillow's RGB -> L: (R 19595 + G 38470 + B 7471 + 0x8000) >> 16 (ITU-R 601-2 luma, 16-bit fixed point).
_LUMA_WEIGHTS = (19595, 38470, 7471)
_LUMA_ROUNDING, _LUMA_SHIFT = 0x8000, 16
# ``ImageFilter.SMOOTH``: 3x3 kernel of ones with 5 at the centre, divided by 13; Pillow rounds half up.
_SMOOTH_CENTRE, _SMOOTH_DIVISOR = 5.0, 13.0
# Pillow truncates a bilinear or bicubic sample to uint8. Its weights sum to 1 in float64; torch's float32
# weights may not, so a sample that is exactly an integer (a flat region) could truncate one level down: this
# nudge keeps it (far below one level, far above float32's error at 255).
_TRUNCATION_NUDGE = 2.0 ** -10


def _per_image(values: Tensor, images: Tensor) -> Tensor:
    """``(N,)`` parameters as ``(N, 1, 1, 1)`` on the images' device."""
    return torch.as_tensor(values, device=images.device).view(-1, 1, 1, 1)


def _apply_lut(images: Tensor, lut: Tensor) -> Tensor:
    """``images`` ``(N, C, H, W)`` uint8 through per-image, per-channel tables ``lut`` ``(N, C, 256)``."""
    flat = images.flatten(2).long()
    return lut.to(images.device, torch.uint8).gather(2, flat).view_as(images)


def invert(images: Tensor) -> Tensor:
    """``ImageOps.invert``: ``255 - v``."""
    return 255 - images


def posterize(images: Tensor, bits: Tensor) -> Tensor:
    """``ImageOps.posterize``: keep the ``bits`` ``(N,)`` high bits of every value; 0 bits gives black (what
    older Pillow gave and lvseg's CPU path gives), 8 or more leaves the image unchanged."""
    bits = torch.as_tensor(bits, device=images.device).long().clamp(0, 8)
    masks = (_LEVELS - 2 ** (8 - bits)).to(torch.uint8)
    return images & masks.view(-1, 1, 1, 1)


def solarize(images: Tensor, thresholds: Tensor) -> Tensor:
    """``ImageOps.solarize``: ``v`` below the threshold ``(N,)`` (0 to 256) stays, from it up becomes ``255 - v``."""
    below = images.to(torch.int16) < _per_image(thresholds, images)
    return torch.where(below, images, 255 - images)


def solarize_add(images: Tensor, additions: Tensor, threshold: int = 128) -> Tensor:
    """timm's ``solarize_add``: ``min(255, v + addition)`` for ``v`` below ``threshold``, others unchanged."""
    added = (images.to(torch.int16) + _per_image(additions, images)).clamp(0, 255).to(torch.uint8)
    return torch.where(images < threshold, added, images)


def autocontrast(images: Tensor) -> Tensor:
    """``ImageOps.autocontrast`` (no cutoff): per channel, ``int(v * scale + offset)`` mapping the darkest value
    to 0 and the brightest to 255; a channel of one value stays. The table is computed in float64, as Python."""
    flat = images.flatten(2)
    low, high = flat.amin(2).double(), flat.amax(2).double()  # (N, C)
    spread = (high - low).clamp(min=1.0)
    scale = 255.0 / spread
    offset = -low * scale
    values = torch.arange(_LEVELS, dtype=torch.float64, device=images.device)
    lut = (values * scale[..., None] + offset[..., None]).trunc().clamp(0, 255)
    lut = torch.where((high > low)[..., None], lut, values)
    return _apply_lut(images, lut)


def equalize(images: Tensor) -> Tensor:
    """``ImageOps.equalize``: per channel, the table ``(step // 2 + count of lower values) // step`` with
    ``step = (pixels - count of the highest value present) // 255``; a channel of one value, or with step 0,
    stays. Integer arithmetic, as Python."""
    batch, channels = images.shape[:2]
    flat = images.flatten(2).long()
    hist = torch.zeros(batch, channels, _LEVELS, dtype=torch.int64, device=images.device)
    hist.scatter_add_(2, flat, torch.ones_like(flat))
    present = hist > 0
    highest = (_LEVELS - 1) - present.flip(2).int().argmax(2, keepdim=True)
    step = (hist.sum(2, keepdim=True) - hist.gather(2, highest)) // 255
    below = hist.cumsum(2) - hist
    lut = ((step // 2 + below) // step.clamp(min=1)).clamp(max=255)
    keep = (present.sum(2, keepdim=True) <= 1) | (step == 0)
    lut = torch.where(keep, torch.arange(_LEVELS, device=images.device), lut)
    return _apply_lut(images, lut)


def blend(degenerate: Tensor, images: Tensor, factors: Tensor) -> Tensor:
    """``Image.blend(degenerate, images, factor)`` as Pillow's C code: ``degenerate + factor * (image -
    degenerate)`` in float32, clipped to [0, 255], truncated. ``degenerate`` broadcasts against ``images``."""
    alpha = _per_image(factors, images).float()
    base = degenerate.float()
    return (base + alpha * (images.float() - base)).clamp(0, 255).to(torch.uint8)


def luma(images: Tensor) -> Tensor:
    """Pillow's ``convert('L')`` of RGB ``(N, 3, H, W)`` uint8: ``(N, 1, H, W)`` int32."""
    weights = torch.tensor(_LUMA_WEIGHTS, dtype=torch.int32, device=images.device).view(1, 3, 1, 1)
    return ((images.int() * weights).sum(1, keepdim=True) + _LUMA_ROUNDING) >> _LUMA_SHIFT


def color(images: Tensor, factors: Tensor) -> Tensor:
    """``ImageEnhance.Color``: blend with the grey (luma) image; factor 0 is grey, 1 the image."""
    return blend(luma(images), images, factors)


def contrast(images: Tensor, factors: Tensor) -> Tensor:
    """``ImageEnhance.Contrast``: blend with a flat image of the mean luma, ``int(mean + 0.5)``."""
    grey = luma(images)
    mean = grey.flatten(1).sum(1).double() / grey[0].numel()
    level = (mean + 0.5).trunc().view(-1, 1, 1, 1)
    return blend(level, images, factors)


def brightness(images: Tensor, factors: Tensor) -> Tensor:
    """``ImageEnhance.Brightness``: blend with black."""
    return blend(torch.zeros((), device=images.device), images, factors)


def smooth(images: Tensor) -> Tensor:
    """``Image.filter(ImageFilter.SMOOTH)``: the 3x3 kernel ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13``, rounded
    half up; the 1-pixel border is copied, as Pillow does. Summed exactly (the 3x3 box sum plus 4 x the centre):
    a weighted sum of uint8 values over 13 is never within Pillow's float32 error of a rounding tie, so this
    equals Pillow's float32 sum."""
    values = images.float()
    rows = values[..., :-2, :] + values[..., 1:-1, :] + values[..., 2:, :]
    box = rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]
    inner = (box + (_SMOOTH_CENTRE - 1) * values[..., 1:-1, 1:-1]) / _SMOOTH_DIVISOR
    out = images.clone()
    out[..., 1:-1, 1:-1] = (inner + 0.5).clamp(0, 255).to(torch.uint8)
    return out


def sharpness(images: Tensor, factors: Tensor) -> Tensor:
    """``ImageEnhance.Sharpness``: blend with :func:`smooth`; factor 0 is smoothed, 2 sharpened."""
    return blend(smooth(images), images, factors)


def warp(images: Tensor, thetas: Tensor, bicubic: Tensor, fill: Tensor) -> Tensor:
    """Pillow's ``Image.transform(size, AFFINE, ...)`` / ``Image.rotate`` of each image, as one batched resampling.

    Args:
        images: ``(N, C, H, W)`` uint8.
        thetas: ``(N, 2, 3)`` ``F.affine_grid`` thetas (``align_corners=False``): output normalized coordinates
            -> input normalized coordinates (:func:`lvseg.datasets.token_label_transforms.pil_affine_to_theta`
            of the Pillow coefficients).
        bicubic: ``(N,)`` bool (on the CPU), bicubic where True, bilinear elsewhere.
        fill: ``(N, C)`` or ``(C,)`` fill colour, 0-255.

    As Pillow: an output pixel whose source point (of its centre) lies outside the input gets ``fill``; inside,
    the sample reads edge pixels beyond the border (``padding_mode='border'``), and is clipped and truncated.
    """
    batch, channels, height, width = images.shape
    grid = F.affine_grid(thetas.to(images.device, torch.float32), [batch, channels, height, width],
                         align_corners=False)
    inside = ((grid >= -1) & (grid < 1)).all(-1).unsqueeze(1)  # (N, 1, H, W)
    source = images.float()
    sampled = torch.empty_like(source)
    bicubic = torch.as_tensor(bicubic, device='cpu').bool()  # chosen on the host: no device sync
    for mode, rows in (('bilinear', ~bicubic), ('bicubic', bicubic)):
        if rows.any():
            index = rows.nonzero().squeeze(1).to(images.device)
            sampled[index] = F.grid_sample(source[index], grid[index], mode=mode, padding_mode='border',
                                           align_corners=False)
    sampled = (sampled + _TRUNCATION_NUDGE).clamp(0, 255).to(torch.uint8)
    fill = torch.as_tensor(fill, device=images.device).to(torch.uint8).view(-1, channels, 1, 1)
    return torch.where(inside, sampled, fill)
