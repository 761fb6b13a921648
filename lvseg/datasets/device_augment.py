"""Token-labeling augmentation on the training device: decode a batch of encoded images, then random-resized crop,
flip and RandAugment, batched, recording the geometry that the token labels need.

The device path of ``augment_on='device'`` (:mod:`lvseg.engine.augment_on`): data loader workers only read each
image's bytes and its label-map row (:mod:`lvseg.datasets.image_bytes`); the model's data preprocessor calls
:func:`decode_images` and :class:`DeviceTokenLabelAugment` on the training device. The augmentation is the CPU
path's (:mod:`lvseg.datasets.token_label_transforms`, timm's recipe) in the same order, crop -> flip ->
RandAugment, with the same distributions, and records the same geometry:

- ``boxes``: the crop ``(x1, y1, x2, y2)`` in fractions of the decoded (upright) image;
- ``flips``: a horizontal flip of the crop;
- ``affines``: RandAugment's rotations, shears and translations, composed, as an ``F.affine_grid`` theta from
  the final image to the cropped and flipped one,

which is what :func:`lvseg.models.classifiers.token_labels.dense_token_targets` reads
(docs/method.md#label-map-geometry).
The crop box is in fractions of the image turned upright by its EXIF orientation, as on the CPU path. Random
numbers come from torch's generator on the CPU (seeded per training step by ``StepSeedHook``), a few per image;
the pixels stay on the device.

On CUDA each image is decoded by one of these paths: nvjpeg, for the batch at once; nvjpeg, image by image, when
the batched call fails; the CPU decoder in the training process, for an image that nvjpeg alone cannot decode, and
at once, without trying nvjpeg, for a 4-component (CMYK or YCCK) JPEG, whose colours nvjpeg does not convert
reliably (:func:`jpeg_components` reads the count from the frame header), and for a file that is not a JPEG. The
first fallback of each kind in a process is logged as a warning; :class:`DecodeStats` counts the images of each
path, and ``DecodeStatsHook`` (:mod:`lvseg.engine.hooks`) reports the counts every epoch.
"""
from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import torch
import torchvision.transforms.v2.functional as TF
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement
from torch import Tensor
from torchvision.io import ImageReadMode, decode_image, decode_jpeg
from torchvision.transforms import InterpolationMode

from ..engine.bad_samples import SKIPPED_KEY, BadSampleError
from ..utils.precision import float32_region
from .batched_rand_augment import BatchedRandAugment, RandAugmentDraws
from .image_bytes import image_header

CROP_ATTEMPTS = 10  # torchvision's and timm's RandomResizedCrop: tries before the central-crop fallback
UNDECODABLE_POLICIES = ('error', 'skip')
_DEPRECATION = 'The image decoding and encoding capabilities of TorchVision are deprecated'  # 0.29: TorchCodec
# resize interpolation -> the modes drawn from (timm's 'random': bilinear or bicubic, evenly)
_INTERPOLATIONS = {'bilinear': (InterpolationMode.BILINEAR,), 'bicubic': (InterpolationMode.BICUBIC,),
                   'random': (InterpolationMode.BILINEAR, InterpolationMode.BICUBIC)}
NVJPEG_DEVICES = ('cuda',)  # device types on which torchvision's decode_jpeg decodes (nvjpeg)
# The paths by which decode_images decodes an image, the keys of DecodeStats: on a GPU, nvjpeg for the batch or for
# the image alone, or the CPU decoder (after nvjpeg failed, or at once for CMYK and non-JPEG files); on the CPU.
NVJPEG_BATCH, NVJPEG_ALONE = 'nvjpeg batch', 'nvjpeg per image'
CPU_AFTER_NVJPEG, CPU_CMYK, CPU_NOT_JPEG = 'cpu (nvjpeg failed)', 'cpu (CMYK)', 'cpu (not JPEG)'
ON_CPU, UNDECODABLE = 'cpu', 'undecodable'
DECODE_PATHS = (NVJPEG_BATCH, NVJPEG_ALONE, CPU_AFTER_NVJPEG, CPU_CMYK, CPU_NOT_JPEG, ON_CPU, UNDECODABLE)
CPU_FALLBACKS = (CPU_AFTER_NVJPEG, CPU_CMYK, CPU_NOT_JPEG)  # training on a GPU, decoded on the CPU
_CPU_AT_ONCE = {4: CPU_CMYK, None: CPU_NOT_JPEG}  # jpeg_components -> the CPU path that skips nvjpeg
_warned_paths: set[str] = set()  # the fallbacks already logged in this process


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


class DecodeStats:
    """How many images each decoding path (:data:`DECODE_PATHS`) took: in the last batch and since :meth:`reset`.

    :func:`decode_images` adds each batch; the data preprocessor keeps one, ``DecodeStatsHook`` reports and resets
    it every epoch. Counts are this process's.

    Attributes:
        batch: ``Counter`` path -> images of the last batch.
        total: ``Counter`` path -> images since the last reset.
    """

    def __init__(self) -> None:
        self.batch: Counter[str] = Counter()
        self.total: Counter[str] = Counter()

    def add_batch(self, paths: Iterable[str]) -> None:
        """Count a batch, the path of each of its images."""
        self.batch = Counter(paths)
        self.total.update(self.batch)

    def batch_cpu_share(self) -> float:
        """The share of the last batch decoded on the CPU while training on a GPU (:data:`CPU_FALLBACKS`)."""
        size = sum(self.batch.values())
        return sum(self.batch[path] for path in CPU_FALLBACKS) / size if size else 0.0

    def reset(self) -> None:
        self.batch.clear()
        self.total.clear()

    @staticmethod
    def describe(counts: Counter[str]) -> str:
        """``counts`` in one line, in the order of :data:`DECODE_PATHS`: ``'nvjpeg batch 254, cpu (CMYK) 2'``."""
        return ', '.join(f'{path} {counts[path]}' for path in DECODE_PATHS if counts[path])


def jpeg_components(data: bytes | memoryview | Tensor) -> int | None:
    """The number of image components ``Nc`` of a JPEG file's frame: 1 (grayscale), 3 (YCbCr or RGB), 4 (CMYK or
    YCCK); None if ``data`` (the file bytes; a 1-D uint8 CPU tensor or a buffer) is not a JPEG whose header reads
    (:func:`~lvseg.datasets.image_bytes.image_header`: a PNG, a header cut short, no frame before the first scan).
    """
    if isinstance(data, Tensor):
        data = memoryview(data.numpy())
    try:
        return image_header(data).components
    except ValueError:
        return None


def decode_images(encoded: Sequence[Tensor], device: str | torch.device, orientations: Sequence[int] | None = None,
                  stats: DecodeStats | None = None) -> tuple[list[Tensor | None], dict[int, str]]:
    """Decode encoded images (1-D uint8 CPU tensors, the file bytes) to ``(3, H, W)`` uint8 RGB on ``device``,
    turned upright by their EXIF ``orientations`` (1 to 8, from :class:`~lvseg.datasets.image_bytes.LoadImageBytes`;
    None: all upright).

    On CUDA the JPEGs of 1 or 3 components are decoded together by nvjpeg (``torchvision.io.decode_jpeg`` of the
    list); if that call fails, each alone, and one that nvjpeg cannot decode on the CPU. 4-component (CMYK, YCCK)
    JPEGs and other files (PNG) go to the CPU at once. On the CPU: ``decode_jpeg`` (libjpeg-turbo, as PIL; it turns
    CMYK into RGB), else ``decode_image`` (PNG and the rest), then moved to ``device``. The first fallback of each
    kind in this process is logged as a warning; ``stats`` (if given) counts the path each image took
    (:data:`DECODE_PATHS`).

    Returns the images (None where decoding failed) and ``{index: reason}`` for those that failed.
    """
    device = torch.device(device)
    problems: dict[int, str] = {}
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message=_DEPRECATION)
        if device.type in NVJPEG_DEVICES:
            images, paths = _decode_with_nvjpeg(encoded, device)
        else:
            images, paths = [None] * len(encoded), [ON_CPU] * len(encoded)
        for index, data in enumerate(encoded):
            if images[index] is None:
                image = _decoded(decode_jpeg, data)
                if image is None:
                    image = _decoded(decode_image, data, reasons=problems, index=index)
                images[index] = None if image is None else image.to(device, non_blocking=True)
    for index, orientation in enumerate(orientations or ()):
        if images[index] is not None:
            images[index] = upright(images[index], orientation)
    if stats is not None:
        stats.add_batch(UNDECODABLE if index in problems else path for index, path in enumerate(paths))
    return images, problems


def _decode_with_nvjpeg(encoded: Sequence[Tensor], device: torch.device) -> tuple[list[Tensor | None], list[str]]:
    """The images that nvjpeg decodes on ``device`` (None for the others, which the CPU decodes) and the decoding
    path of each (:data:`DECODE_PATHS`), as :func:`decode_images` says."""
    paths = [_CPU_AT_ONCE.get(jpeg_components(data), NVJPEG_BATCH) for data in encoded]
    chosen = [index for index, path in enumerate(paths) if path == NVJPEG_BATCH]
    images: list[Tensor | None] = [None] * len(encoded)
    if not chosen:
        return images, paths
    try:
        decoded = decode_jpeg([encoded[index] for index in chosen], mode=ImageReadMode.RGB, device=device)
    except RuntimeError as error:
        _warn_once(NVJPEG_ALONE, f'nvjpeg could not decode a batch of {len(chosen)} images together '
                                 f'({_last_line(error)}); decoding them one at a time on {device}')
        failed: dict[int, str] = {}
        decoded = [_decoded(decode_jpeg, encoded[index], reasons=failed, index=index, device=device)
                   for index in chosen]
        for index in chosen:
            paths[index] = CPU_AFTER_NVJPEG if index in failed else NVJPEG_ALONE
        if failed:
            _warn_once(CPU_AFTER_NVJPEG, f'nvjpeg could not decode {len(failed)} of {len(chosen)} images '
                                         f'({next(iter(failed.values()))}); decoding them on the CPU, in the '
                                         'training process')
    for index, image in zip(chosen, decoded):
        images[index] = image
    return images, paths


def _warn_once(path: str, message: str) -> None:
    """Log ``message`` as a warning if no fallback to ``path`` was logged in this process before."""
    if path not in _warned_paths:
        _warned_paths.add(path)
        print_log(f'{message} (logged once per process; DecodeStatsHook counts each epoch\'s fallbacks)',
                  logger='current', level=logging.WARNING)


def upright(image: Tensor, orientation: int) -> Tensor:
    """``image`` ``(C, H, W)`` turned upright by its EXIF ``orientation`` (1 to 8), as PIL's ``exif_transpose``
    and OpenCV's decoder turn it."""
    if orientation in (5, 6, 7, 8):  # stored transposed: transpose, then as orientations 1 to 4
        image = image.transpose(-1, -2)
        orientation = {5: 1, 6: 2, 7: 3, 8: 4}[orientation]
    flips = {1: (), 2: (-1,), 3: (-1, -2), 4: (-2,)}[orientation]
    return image.flip(flips) if flips else image


def _decoded(decoder: Callable, data: Tensor, reasons: dict[int, str] | None = None, index: int = 0,
             **kwargs) -> Tensor | None:
    """``decoder(data, mode=RGB, **kwargs)``, or None if it raises (the reason kept in ``reasons[index]``)."""
    try:
        return decoder(data, mode=ImageReadMode.RGB, **kwargs)
    except RuntimeError as error:
        if reasons is not None:
            reasons[index] = _last_line(error)
        return None


def _last_line(error: Exception) -> str:
    """The last line of ``error``'s message (torch's C++ errors end with the reason), or 'decoding failed'."""
    return str(error).strip().splitlines()[-1] if str(error).strip() else 'decoding failed'


def replace_undecodable(images: list[Tensor | None], data_samples: list[BaseDataElement], problems: dict[int, str],
                        policy: str) -> None:
    """Apply the bad-sample ``policy`` (:mod:`lvseg.engine.bad_samples`) to images that could not be decoded.

    ``'error'``: raise :class:`~lvseg.engine.bad_samples.BadSampleError` naming the files. ``'skip'``: put in
    place of each a copy of the next decodable sample of the batch (image and data sample), its metainfo
    ``skipped_bad_samples`` naming the bad file, for ``SkippedSamplesHook`` to log and count; ``images`` and
    ``data_samples`` are changed in place. Raises if no sample of the batch decodes.
    """
    if not problems:
        return
    messages = {index: f'image {data_samples[index].metainfo.get("img_path", f"#{index} of the batch")}: cannot be '
                       f'decoded: {reason}' for index, reason in problems.items()}
    good = [index for index in range(len(images)) if index not in problems]
    if policy == 'error' or not good:
        raise BadSampleError('; '.join(messages.values()))
    for index, message in messages.items():
        donor = next((g for g in good if g > index), good[0])
        images[index] = images[donor]
        sample = data_samples[donor].clone()
        sample.set_metainfo({SKIPPED_KEY: [*data_samples[donor].metainfo.get(SKIPPED_KEY, []), message]})
        data_samples[index] = sample


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
