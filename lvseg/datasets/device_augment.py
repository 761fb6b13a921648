"""Token-labeling augmentation on the training device: random-resized crop, flip and RandAugment of a decoded batch,
batched, recording the geometry that the token labels need.

The device path of ``augment_on='device'`` (:mod:`lvseg.engine.augment_on`): data loader workers only read each
image's bytes and its label-map row (:mod:`lvseg.datasets.image_bytes`); the model's data preprocessor calls
:func:`~lvseg.datasets.device_decode.decode_images` and :class:`DeviceTokenLabelAugment` on the training device.
The augmentation is the CPU path's (:mod:`lvseg.datasets.token_label_transforms`, timm's recipe) in the same order,
crop -> flip -> RandAugment, with the same distributions, and records the same geometry:

- ``boxes``: the crop ``(x1, y1, x2, y2)`` in fractions of the decoded (upright) image;
- ``flips``: a horizontal flip of the crop;
- ``affines``: RandAugment's rotations, shears and translations, composed, as an ``F.affine_grid`` theta from
  the final image to the cropped and flipped one,

which is what :func:`lvseg.models.classifiers.token_labels.dense_token_targets` reads
(docs/method.md#label-map-geometry).
The crop box is in fractions of the image turned upright by its EXIF orientation, as on the CPU path. Random
numbers come from torch's generator on the CPU (seeded per training step by ``StepSeedHook``), a few per image;
the pixels stay on the device.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torchvision.transforms.v2.functional as TF
from torch import Tensor
from torchvision.transforms import InterpolationMode

from ..utils.precision import float32_region
from .batched_rand_augment import BatchedRandAugment, RandAugmentDraws

CROP_ATTEMPTS = 10  # torchvision's and timm's RandomResizedCrop: tries before the central-crop fallback
# resize interpolation -> the modes drawn from (timm's 'random': bilinear or bicubic, evenly)
_INTERPOLATIONS = {'bilinear': (InterpolationMode.BILINEAR,), 'bicubic': (InterpolationMode.BICUBIC,),
                   'random': (InterpolationMode.BILINEAR, InterpolationMode.BICUBIC)}


class AugmentedBatch(NamedTuple):
    """A batch after :class:`DeviceTokenLabelAugment`, on the images' device.

    Attributes:
        images: ``(B, 3, H, W)`` uint8 RGB.
        boxes: ``(B, 4)`` float32 crop boxes ``(x1, y1, x2, y2)``, fractions of each decoded image.
        flips: ``(B,)`` bool, the crop was flipped horizontally.
        affines: ``(B, 2, 3)`` float32 thetas, final image -> cropped and flipped image (normalized coordinates).
    """

    images: Tensor
    boxes: Tensor
    flips: Tensor
    affines: Tensor


def random_resized_crop_params(sizes: Tensor, scale: Sequence[float], ratio: Sequence[float],
                               generator: torch.Generator | None = None) -> Tensor:
    """timm's ``RandomResizedCropAndInterpolation.get_params`` for ``B`` images at once.

    Per image, up to ``CROP_ATTEMPTS`` tries: area fraction ``U(scale)``, aspect ratio (width / height)
    ``exp(U(log ratio))``, sides rounded (half to even, as Python's ``round``); the first try that fits is placed
    uniformly; if none fits, the central crop of the whole image with its ratio clamped to ``ratio``.

    Args:
        sizes: ``(B, 2)`` image ``(height, width)`` in pixels.
        scale: ``(min, max)`` crop area, fraction of the image area.
        ratio: ``(min, max)`` crop aspect ratio.
        generator: torch generator (CPU) to draw from; the default one if None.

    Returns:
        ``(B, 4)`` int64 ``(top, left, height, width)`` in pixels, on the CPU.
    """
    height, width = sizes.to(torch.float64).unbind(1)
    batch = len(sizes)
    uniform = torch.rand(batch, CROP_ATTEMPTS, 4, dtype=torch.float64, generator=generator)
    area = (height * width)[:, None] * (scale[0] + (scale[1] - scale[0]) * uniform[..., 0])
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_low + (log_high - log_low) * uniform[..., 1])
    crop_w, crop_h = torch.sqrt(area * aspect).round(), torch.sqrt(area / aspect).round()
    fits = (crop_w <= width[:, None]) & (crop_h <= height[:, None])
    first = fits.int().argmax(1, keepdim=True)  # the first try that fits (0 if none)
    found = fits.any(1)
    crop_w, crop_h, top_draw, left_draw = (values.gather(1, first).squeeze(1) for values in
                                           (crop_w, crop_h, uniform[..., 2], uniform[..., 3]))
    top = (top_draw * (height - crop_h + 1)).floor()
    left = (left_draw * (width - crop_w + 1)).floor()
    # central fallback: the whole image, cut to the nearest allowed ratio
    in_ratio = width / height
    fallback_w = torch.where(in_ratio > max(ratio), (height * max(ratio)).round(), width)
    fallback_h = torch.where(in_ratio < min(ratio), (width / min(ratio)).round(), height)
    crop_w, crop_h = torch.where(found, crop_w, fallback_w), torch.where(found, crop_h, fallback_h)
    top = torch.where(found, top, ((height - crop_h) / 2).floor())
    left = torch.where(found, left, ((width - crop_w) / 2).floor())
    return torch.stack([top, left, crop_h.clamp(min=1), crop_w.clamp(min=1)], 1).long()


class AugmentDraws(NamedTuple):
    """The random choices of :class:`DeviceTokenLabelAugment` for a batch, on the CPU.

    Attributes:
        crops: ``(B, 4)`` int64 crop ``(top, left, height, width)`` in pixels of each decoded image.
        bicubic: ``(B,)`` bool, the crop is resized bicubic (True) or bilinear.
        flips: ``(B,)`` bool, the crop is flipped horizontally.
        rand_augment: RandAugment's draws, or None without RandAugment.
    """

    crops: Tensor
    bicubic: Tensor
    flips: Tensor
    rand_augment: RandAugmentDraws | None


class DeviceTokenLabelAugment:
    """Random-resized crop, horizontal flip and RandAugment of a batch of decoded images, on their device.

    The CPU path's ``RandomResizedCropWithBox`` -> ``RandomFlipWithBox`` -> ``RandAugmentWithAffine`` with the
    same arguments and defaults: crops drawn as timm draws them (:func:`random_resized_crop_params`) and resized
    per image with antialiasing (torchvision's tensor resize, which follows PIL's), a flip with probability
    ``flip_prob``, then :class:`~lvseg.datasets.batched_rand_augment.BatchedRandAugment`.

    Args:
        size: output ``(height, width)`` in pixels, or one int for a square. Default 224.
        scale: range of the crop's area, fraction of the image area. Default (0.08, 1.0) (the recipe's,
            docs/method.md#pretraining-recipe).
        ratio: range of the crop's aspect ratio (width / height). Default (3/4, 4/3).
        interpolation: ``'random'`` (bilinear or bicubic per image, the recipe's), ``'bilinear'`` or
            ``'bicubic'``.
        flip_prob: probability of a horizontal flip. Default 0.5 (the recipe's).
        rand_augment: :class:`BatchedRandAugment` arguments (``config_str``, ``hparams``, ``transforms``);
            None for no RandAugment.
    """

    def __init__(self, size: int | Sequence[int] = 224, scale: Sequence[float] = (0.08, 1.0),
                 ratio: Sequence[float] = (3 / 4, 4 / 3), interpolation: str = 'random', flip_prob: float = 0.5,
                 rand_augment: dict | None = None) -> None:
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f'interpolation must be one of {sorted(_INTERPOLATIONS)}, got {interpolation!r}')
        self.size = [size, size] if isinstance(size, int) else [int(side) for side in size]
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        self.interpolation = interpolation
        self.flip_prob = flip_prob
        self.rand_augment = BatchedRandAugment(**rand_augment) if rand_augment is not None else None

    def __call__(self, images: Sequence[Tensor], generator: torch.Generator | None = None) -> AugmentedBatch:
        """Augment decoded images with fresh draws from ``generator`` (a CPU generator; torch's default one if
        None); see :meth:`apply`."""
        sizes = torch.tensor([image.shape[-2:] for image in images])
        return self.apply(images, self.draw(sizes, generator))

    def draw(self, sizes: Tensor, generator: torch.Generator | None = None) -> AugmentDraws:
        """The random choices for images of ``sizes`` ``(B, 2)`` (height, width) in pixels."""
        crops = random_resized_crop_params(sizes, self.scale, self.ratio, generator)
        modes = torch.tensor([mode == InterpolationMode.BICUBIC for mode in _INTERPOLATIONS[self.interpolation]])
        bicubic = modes[torch.randint(len(modes), (len(sizes),), generator=generator)]
        flips = torch.rand(len(sizes), generator=generator) < self.flip_prob
        rand_augment = self.rand_augment.draw(len(sizes), generator) if self.rand_augment is not None else None
        return AugmentDraws(crops, bicubic, flips, rand_augment)

    def apply(self, images: Sequence[Tensor], draws: AugmentDraws) -> AugmentedBatch:
        """Augment decoded images, each ``(3, H_i, W_i)`` uint8 RGB, all on one device, as ``draws`` say; see
        :class:`AugmentedBatch`. Runs in float32 whatever autocast is active (``F.affine_grid`` would follow it):
        the same draws give the same pixels in every precision regime."""
        device = images[0].device
        with float32_region(device):
            return self._apply(images, draws, device)

    def _apply(self, images: Sequence[Tensor], draws: AugmentDraws, device: torch.device) -> AugmentedBatch:
        resized = torch.stack([
            TF.resized_crop(image, top, left, height, width, self.size,
                            InterpolationMode.BICUBIC if bicubic else InterpolationMode.BILINEAR, antialias=True)
            for image, (top, left, height, width), bicubic in zip(images, draws.crops.tolist(),
                                                                 draws.bicubic.tolist())])
        flipped = draws.flips.nonzero().squeeze(1).to(device)
        resized[flipped] = resized[flipped].flip(-1)
        if self.rand_augment is not None:
            resized, thetas = self.rand_augment.apply(resized, draws.rand_augment)
        else:
            thetas = torch.eye(3, dtype=torch.float64).repeat(len(images), 1, 1)
        top, left, height, width = draws.crops.double().unbind(1)
        image_h, image_w = torch.tensor([image.shape[-2:] for image in images], dtype=torch.float64).unbind(1)
        boxes = torch.stack([left / image_w, top / image_h, (left + width) / image_w, (top + height) / image_h], 1)
        return AugmentedBatch(resized, boxes.float().to(device), draws.flips.to(device),
                              thetas[:, :2].float().to(device))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, scale={self.scale}, ratio={self.ratio}, '
                f'interpolation={self.interpolation!r}, flip_prob={self.flip_prob}, '
                f'rand_augment={self.rand_augment!r})')
