"""Training images opened with PIL and decoded only when a transform needs their pixels, at the scale it needs.

mmcv's ``LoadImageFromFile`` decodes every image at full size into a BGR ndarray, which the token-labeling
transforms (:mod:`lvseg.datasets.token_label_transforms`, PIL-based like timm's) convert to PIL and back.
:class:`LoadLazyImageFromFile` instead puts the opened file in ``results['img']`` as a PIL image of which only
the header is read: its size is known, its pixels are not decoded yet. The first transform that needs pixels
decodes it (:func:`decode`), and :func:`resized_crop` (what ``RandomResizedCropWithBox`` calls) decodes a JPEG
at a reduced scale when its crop is shrunk 2x or more: the crop is drawn from the header's size first, then
libjpeg scales the DCT by 1/2, 1/4 or 1/8 (PIL's ``Image.draft``), the largest scaling that still leaves the
crop at least as many pixels as the output, and the crop is resampled from the reduced image at its exact
(fractional) place. So the crop region, and the box recorded for the token labels, are those of a full
decode; only the pixels' low-pass filter differs (DCT scaling, then the resampling's own). Crops of a full
decode are resampled by torch's vectorized uint8 kernels, PIL's filters at a fraction of PIL's cost
(:func:`resize`).

Conventions: a PIL image in ``results['img']`` holds RGB (PIL's order, what timm's ops expect), an ndarray
holds BGR (mmcv's); ``PackTokenLabelInputs`` packs both as BGR, which the data preprocessor expects. Decoding
gives RGB whatever the file holds (grey, CMYK, palette, alpha; 16-bit grey keeps its high byte) and turns the
image upright by its EXIF orientation, as OpenCV's decoder (mmcv's ``LoadImageFromFile``, lvseg's annotator)
does, so label maps made from either decoder's view fit.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS
from PIL import ExifTags, Image, ImageOps

JPEG_SCALES = (8, 4, 2)  # the DCT scalings libjpeg offers through PIL's draft: 1/8, 1/4, 1/2
# PIL filters that torch's uint8 kernels compute (antialiased, PIL's kernels and border handling)
TORCH_FILTERS = {Image.Resampling.BILINEAR: 'bilinear', Image.Resampling.BICUBIC: 'bicubic'}
_SIXTEEN_BIT_MODES = frozenset({'I;16', 'I;16L', 'I;16B', 'I;16N', 'I'})  # grey, more than 8 bits


def open_image(path: str) -> Image.Image:
    """The image file ``path`` opened with PIL, pixels not decoded (only the header is read).

    An image whose EXIF orientation asks for a rotation or mirror is decoded at once and turned upright (rare
    in photo collections: it then misses the reduced-scale decoding). ``OSError`` naming the file if PIL cannot
    identify it.
    """
    try:
        image = Image.open(path)
    except OSError as error:
        raise OSError(f'{path}: not an image file PIL can read ({error})') from error
    if image.getexif().get(ExifTags.Base.Orientation, 1) != 1:
        image = ImageOps.exif_transpose(_loaded(image))
    return image


def decode(image: Image.Image) -> Image.Image:
    """``image`` decoded at full scale, as RGB (the same image if it is already a decoded RGB image)."""
    image = _loaded(image)
    if image.mode == 'RGB':
        return image
    if image.mode in _SIXTEEN_BIT_MODES:  # OpenCV keeps the high byte; PIL's convert would clip at 255
        grey = np.clip(np.asarray(image, dtype=np.int64) >> 8, 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert('RGB')
    return image.convert('RGB')


def resized_crop(image: Image.Image, box: Sequence[int], size: tuple[int, int], resample: int) -> Image.Image:
    """The region ``box`` of ``image`` resized to ``size``, as RGB, decoding ``image`` first if it is not yet.

    A JPEG not yet decoded is decoded at the largest DCT scaling ``1/s`` (:data:`JPEG_SCALES`) that leaves the
    region at least ``size`` (so when it is shrunk ``s`` times or more), and the region ``box / s`` of the
    reduced image is resampled (see the module). Otherwise this is ``resize(decode(image).crop(box))``: the
    pixels of timm's (torchvision's) resized crop, up to 2 grey levels (see :func:`resize`).

    Args:
        image: A PIL image, decoded or just opened (:func:`open_image`).
        box: ``(left, upper, right, lower)`` in pixels of the full image.
        size: ``(width, height)`` of the output, in pixels.
        resample: PIL's resampling filter (``Image.Resampling``).
    """
    left, upper, right, lower = box
    scale = next((s for s in JPEG_SCALES if right - left >= s * size[0] and lower - upper >= s * size[1]), 1)
    full_width = image.width
    drafted = image.draft(image.mode, (image.width // scale, image.height // scale)) if scale > 1 else None
    if drafted is None:  # not shrunk 2x, not a JPEG, or already decoded
        return resize(decode(image).crop(tuple(box)), size, resample)
    scale = full_width / drafted[1][2]  # draft answers the full image's extent in the reduced image's pixels
    return decode(image).resize(size, resample, box=tuple(x / scale for x in box))


def resize(image: Image.Image, size: tuple[int, int], resample: int) -> Image.Image:
    """``image.resize(size, resample)``; an RGB image's bilinear or bicubic resampling by torch's uint8 kernels.

    torch's antialiased uint8 resampling follows PIL's (same kernels, support and borders) and is vectorized,
    several times as fast as PIL's for the crops of a 224-pixel random-resized crop (docs/performance.md#data-pipeline),
    within 2 grey levels of PIL's (rounding). Other filters and modes are PIL's own.

    Args:
        image: A decoded PIL image.
        size: ``(width, height)`` of the output, in pixels.
        resample: PIL's resampling filter (``Image.Resampling``).
    """
    mode = TORCH_FILTERS.get(resample)
    if mode is None or image.mode != 'RGB':
        return image.resize(size, resample)
    pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None]  # (1, 3, h, w), channels last: no copy
    planes = F.interpolate(pixels, size=(size[1], size[0]), mode=mode, antialias=True)[0].numpy()  # (3, H, W)
    return Image.merge('RGB', [Image.fromarray(plane) for plane in planes])  # interleaves far faster than numpy


def _loaded(image: Image.Image) -> Image.Image:
    """``image`` with its pixels decoded; ``OSError`` naming the file if they cannot be (truncated, corrupt)."""
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise OSError(f'{getattr(image, "filename", "") or "image"}: cannot decode the image ({error})') from error
    return image


@TRANSFORMS.register_module()
class LoadLazyImageFromFile(BaseTransform):
    """Open ``results['img_path']`` with PIL and defer decoding (see the module) to the transform that needs it.

    Sets ``img`` (an RGB PIL image, its pixels decoded later), ``img_shape`` and ``ori_shape`` (``(height,
    width)`` in pixels, read from the file's header). The token-labeling transforms and
    ``PackTokenLabelInputs`` take such an image; mmcv's transforms need ndarrays (use ``LoadImageFromFile``
    for them, e.g. in evaluation pipelines).
    """

    def transform(self, results: dict) -> dict:
        image = open_image(results['img_path'])
        results['img'] = image
        results['img_shape'] = results['ori_shape'] = (image.height, image.width)
        return results
