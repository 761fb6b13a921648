"""Decoding a training batch's file bytes on the training device, for ``augment_on='device'``.

The data loader workers read each image's bytes (:mod:`lvseg.datasets.image_bytes`); the model's data preprocessor
decodes the batch here (:func:`decode_images`), turns each image upright by its EXIF orientation, replaces the
images that cannot be decoded as the bad-sample policy says (:func:`replace_undecodable`), and augments the batch
(:mod:`lvseg.datasets.device_augment`).

On CUDA each image is decoded by one of these paths: nvjpeg, for the batch at once; nvjpeg, image by image, when
the batched call fails; the CPU decoder in the training process, for an image that nvjpeg alone cannot decode, and
at once, without trying nvjpeg, for a 4-component (CMYK or YCCK) JPEG, whose colours nvjpeg does not convert
reliably (:func:`jpeg_components` reads the count from the frame header), and for a file that is not a JPEG. The
first fallback of each kind in a process is logged as a warning; :class:`DecodeStats` counts the images of each
path, and ``DecodeStatsHook`` (:mod:`lvseg.engine.hooks`) reports the counts every epoch.
"""
from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import torch
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement
from torch import Tensor
from torchvision.io import ImageReadMode, decode_image, decode_jpeg

from .bad_sample import SKIPPED_KEY, BadSampleError
from .image_bytes import image_header

_DEPRECATION = 'The image decoding and encoding capabilities of TorchVision are deprecated'  # 0.29: TorchCodec
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
    """Apply the bad-sample ``policy`` (:mod:`lvseg.datasets.bad_sample`) to images that could not be decoded.

    ``'error'``: raise :class:`~lvseg.datasets.bad_sample.BadSampleError` naming the files. ``'skip'``: put in
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
