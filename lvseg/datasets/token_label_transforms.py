"""mmcv transforms that record the geometry of a training image, so token labels stay aligned with it.

Token labeling reads each token's label from an annotator's score map of the whole original image
(:mod:`lvseg.models.classifiers.token_labels`). These transforms change ``results['img']`` like their timm
counterparts and never touch the map: they record where the final image came from, in three keys, so a
batch carries a few numbers per image and :func:`~lvseg.models.classifiers.token_labels.dense_token_targets` does the
dense work on the device:

- ``token_label_box``: float32 ``(x1, y1, x2, y2)``, the crop in fractions of the original image;
- ``token_label_flip``: bool, a horizontal flip of the crop;
- ``token_label_affine``: float32 ``(2, 3)``, an ``F.affine_grid`` theta (``align_corners=False``) mapping
  normalized coordinates of the final image to those of the cropped and flipped image.

The record always means "crop, then flip, then affine", whatever order the transforms ran in: each one
composes its own operation onto the end of that chain (see :func:`append_crop`, :func:`append_flip`,
:func:`append_affine`). Absent keys mean no crop, no flip, no affine.

``results['img']`` is an HWC uint8 BGR ndarray (as mmcv's ``LoadImageFromFile`` gives it) or an RGB PIL image
(``LoadLazyImageFromFile``, :mod:`lvseg.datasets.lazy_images`, which leaves it undecoded until the crop);
each transform gives back the kind it got, and the PIL kind skips the ndarray <-> PIL conversions of the
other.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torchvision.transforms.functional as TF
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement
from mmseg.registry import TRANSFORMS
from PIL import Image
from timm.data.auto_augment import posterize, rand_augment_transform
from timm.data.transforms import RandomResizedCropAndInterpolation

from .lazy_images import decode, resized_crop

BOX_KEY, FLIP_KEY, AFFINE_KEY = 'token_label_box', 'token_label_flip', 'token_label_affine'
TOPK_KEY = 'token_label_topk'  # (2, k, h, w) score map, put in ``results`` by the loading step
_FULL_BOX = (0.0, 0.0, 1.0, 1.0)
_MIRROR_X = np.diag([-1.0, 1.0, 1.0])  # normalized coordinates: x -> -x; its own inverse


def _geometry(results: dict) -> tuple[np.ndarray, bool, np.ndarray]:
    """The recorded ``(box (4,), flip, affine (3, 3))`` of ``results``, float64, defaults if absent."""
    box = np.asarray(results.get(BOX_KEY, _FULL_BOX), dtype=np.float64)
    affine = np.eye(3)
    affine[:2] = results.get(AFFINE_KEY, affine[:2])
    return box, bool(results.get(FLIP_KEY, False)), affine


def _store(results: dict, box: np.ndarray, flip: bool, affine: np.ndarray) -> None:
    results[BOX_KEY] = box.astype(np.float32)
    results[FLIP_KEY] = flip
    results[AFFINE_KEY] = affine[:2].astype(np.float32)


def append_crop(results: dict, sub_box: Sequence[float]) -> None:
    """Record a crop ``(x1, y1, x2, y2)``, in fractions of the current image, then resized to any size.

    With no affine recorded yet, the crop folds into the box (mirrored first if a flip is recorded,
    since the box lives before the flip), keeping RoIAlign's averaging exact. After an affine it folds
    into the affine instead: ``affine <- affine @ S``, with ``S`` the scale-and-shift taking normalized
    coordinates of the crop to those of the current image.
    """
    box, flip, affine = _geometry(results)
    x1, y1, x2, y2 = sub_box
    if np.array_equal(affine, np.eye(3)):
        if flip:
            x1, x2 = 1.0 - x2, 1.0 - x1
        width, height = box[2] - box[0], box[3] - box[1]
        box = box[[0, 1, 0, 1]] + np.array([x1, y1, x2, y2]) * [width, height, width, height]
    else:
        crop_to_image = np.array([[x2 - x1, 0.0, x1 + x2 - 1.0],
                                  [0.0, y2 - y1, y1 + y2 - 1.0],
                                  [0.0, 0.0, 1.0]])
        affine = affine @ crop_to_image
    _store(results, box, flip, affine)


def append_flip(results: dict) -> None:
    """Record a horizontal flip of the current image.

    A flip ``M`` after the affine ``A`` equals ``M A M`` after a flip (``M`` is its own inverse), so the
    flip flag toggles and the affine is conjugated.
    """
    box, flip, affine = _geometry(results)
    _store(results, box, not flip, _MIRROR_X @ affine @ _MIRROR_X)


def append_affine(results: dict, theta: np.ndarray) -> None:
    """Record an affine warp of the current image: ``theta`` ``(2, 3)`` or ``(3, 3)``, ``F.affine_grid``
    convention (output normalized coordinates -> input normalized coordinates, ``align_corners=False``).

    Sampling the warped image at ``p`` reads the current image at ``theta p``, which the recorded affine
    in turn maps into the cropped and flipped image: the new record is ``affine @ theta``.
    """
    box, flip, affine = _geometry(results)
    step = np.eye(3)
    step[:2] = np.asarray(theta, dtype=np.float64)[:2]
    _store(results, box, flip, affine @ step)


def pil_affine_to_theta(coefficients: Sequence[float], width: int, height: int) -> np.ndarray:
    """The ``(3, 3)`` normalized theta of PIL's ``Image.transform(size, AFFINE, coefficients)``.

    PIL maps the output pixel centre ``(x + 0.5, y + 0.5)`` to the input point ``(a X + b Y + c,
    d X + e Y + f)``, coordinates in pixels from the image corner, input and output of the same
    ``width x height``. With ``N`` taking pixel coordinates to normalized ones (``u = 2 X / width - 1``,
    ``align_corners=False``), the theta is ``N T N^-1``.
    """
    a, b, c, d, e, f = coefficients
    to_normalized = np.array([[2.0 / width, 0.0, -1.0], [0.0, 2.0 / height, -1.0], [0.0, 0.0, 1.0]])
    pixel_map = np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]])
    return to_normalized @ pixel_map @ np.linalg.inv(to_normalized)


def _rotate_coefficients(degrees: float, width: int, height: int) -> tuple[float, ...]:
    """PIL affine coefficients of ``Image.rotate(degrees)``: counter-clockwise about the image centre
    ``(width / 2, height / 2)``, same size (PIL's exact transposes for multiples of 90 degrees agree)."""
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    cx, cy = width / 2, height / 2
    return cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy


# timm's geometric RandAugment ops: name -> (level argument, width, height) -> the PIL affine coefficients
# that timm.data.auto_augment's op of that name passes to Image.transform (or Image.rotate).
GEOMETRIC_OPS: dict[str, Callable[[float, int, int], tuple[float, ...]]] = {
    'Rotate': _rotate_coefficients,
    'ShearX': lambda factor, w, h: (1, factor, 0, 0, 1, 0),
    'ShearY': lambda factor, w, h: (1, 0, 0, factor, 1, 0),
    'TranslateX': lambda pixels, w, h: (1, 0, pixels, 0, 1, 0),
    'TranslateY': lambda pixels, w, h: (1, 0, 0, 0, 1, pixels),
    'TranslateXRel': lambda fraction, w, h: (1, 0, fraction * w, 0, 1, 0),
    'TranslateYRel': lambda fraction, w, h: (1, 0, 0, 0, 1, fraction * h),
}
# timm's ops that move no pixel; an op in neither set is refused, so a new timm op cannot slip by unaligned.
PHOTOMETRIC_OPS = frozenset({
    'AutoContrast', 'Equalize', 'Invert', 'Posterize', 'PosterizeIncreasing', 'PosterizeOriginal', 'Solarize',
    'SolarizeIncreasing', 'SolarizeAdd', 'Color', 'ColorIncreasing', 'Contrast', 'ContrastIncreasing',
    'Brightness', 'BrightnessIncreasing', 'Sharpness', 'SharpnessIncreasing', 'Desaturate', 'GaussianBlur',
    'GaussianBlurRand'})


@TRANSFORMS.register_module()
class RandomResizedCropWithBox(BaseTransform):
    """Inception-style random-resized crop (timm's ``RandomResizedCropAndInterpolation``) that records
    the crop box.

    Samples the crop with timm's ``get_params`` (so the same random stream gives the same crop as timm),
    crops and resizes with PIL like timm, sets ``img_shape`` and composes the crop into
    ``token_label_box`` (fractions of the original image; see :func:`append_crop`). A PIL image not decoded
    yet is decoded here, at a reduced JPEG scale when the crop is shrunk 2x or more
    (:func:`~lvseg.datasets.lazy_images.resized_crop`): the crop is drawn from the full size first, so it
    and the recorded box are the same as with a full decode.

    Args:
        size: Output ``(height, width)`` in pixels, or one int for a square. Default 224.
        scale: Range of the crop's area, fraction of the image area. Default (0.08, 1.0) (the recipe's).
        ratio: Range of the crop's aspect ratio (width / height). Default (3/4, 4/3).
        interpolation: ``'random'`` (bilinear or bicubic at random per image, the recipe's), or a single
            mode name (``'bilinear'``, ``'bicubic'``, ...).
    """

    def __init__(self, size: int | Sequence[int] = 224, scale: Sequence[float] = (0.08, 1.0),
                 ratio: Sequence[float] = (3 / 4, 4 / 3), interpolation: str = 'random') -> None:
        self.crop = RandomResizedCropAndInterpolation(size, tuple(scale), tuple(ratio), interpolation)

    def transform(self, results: dict) -> dict:
        img = results['img']
        is_pil = isinstance(img, Image.Image)
        image = img if is_pil else Image.fromarray(img)  # resizing is per channel: an array's BGR stays BGR
        width, height = image.size  # a PIL image's header tells, before any decoding
        top, left, crop_h, crop_w = self.crop.get_params(image, self.crop.scale, self.crop.ratio)
        modes = self.crop.interpolation
        mode = random.choice(modes) if isinstance(modes, (tuple, list)) else modes
        out_h, out_w = self.crop.size
        if is_pil:
            results['img'] = resized_crop(img, (left, top, left + crop_w, top + crop_h), (out_w, out_h),
                                          TF.pil_modes_mapping[mode])
        else:
            results['img'] = np.array(TF.resized_crop(image, top, left, crop_h, crop_w, [out_h, out_w], mode))
        results['img_shape'] = (out_h, out_w)
        append_crop(results, (left / width, top / height, (left + crop_w) / width, (top + crop_h) / height))
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.crop!r})'


@TRANSFORMS.register_module()
class RandomFlipWithBox(BaseTransform):
    """Horizontal flip with probability ``prob`` (default 0.5, the recipe's); records it in
    ``token_label_flip`` (see :func:`append_flip`)."""

    def __init__(self, prob: float = 0.5) -> None:
        self.prob = prob

    def transform(self, results: dict) -> dict:
        if random.random() < self.prob:
            img = results['img']
            if isinstance(img, Image.Image):
                results['img'] = decode(img).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            else:
                results['img'] = np.ascontiguousarray(img[:, ::-1])
            append_flip(results)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'


def _posterize_down_to_zero_bits(image: Image.Image, bits_to_keep: int, **kwargs) -> Image.Image:
    """timm's ``posterize``, where keeping 0 bits gives the black image older Pillow gave.

    Pillow 13 (what torchvision installs here) raises for 0 bits, and timm's ``PosterizeIncreasing`` asks for
    0 bits at magnitude 10, which the recipe's ``'rand-m9-mstd0.5-inc1'`` reaches through its magnitude
    noise: about one image in 700 would stop the data loader.
    """
    if bits_to_keep <= 0:
        return Image.new(image.mode, image.size)
    return posterize(image, bits_to_keep, **kwargs)


class _RecordingOp:
    """Calls one of timm's op functions unchanged and logs ``(name, level arguments, image size)``."""

    def __init__(self, name: str, function: Callable, log: list) -> None:
        self.name, self.function, self.log = name, function, log

    def __call__(self, image: Image.Image, *level_args, **kwargs) -> Image.Image:
        self.log.append((self.name, level_args, image.size))
        return self.function(image, *level_args, **kwargs)


@TRANSFORMS.register_module()
class RandAugmentWithAffine(BaseTransform):
    """timm's RandAugment on the image; its geometric ops also compose into ``token_label_affine``.

    The RandAugment is timm's own (``timm.data.auto_augment.rand_augment_transform``), untouched in how it
    chooses ops, probabilities, magnitudes (noise ``mstd``, ``inc1`` variants, random signs) and
    interpolation: each op's image function is wrapped to log the level arguments it was called with. After
    the call, the logged rotations, shears and translations (:data:`GEOMETRIC_OPS`) are turned into their
    PIL affine coefficients, then into normalized thetas (:func:`pil_affine_to_theta`), and composed in the
    order they ran (:func:`append_affine`). Colour ops leave the geometry alone. One difference from timm:
    posterizing to 0 bits gives a black image instead of Pillow 13's error (see
    :func:`_posterize_down_to_zero_bits`).

    Several geometric ops compose into one affine, which cannot clip at the borders of the intermediate
    images: where a later op brings an earlier op's fill into view, the tokens are labelled with what lay
    beyond the earlier border instead of uniformly.

    An ndarray image is converted BGR -> RGB for timm (its colour ops and fill colour assume RGB) and back; a
    PIL image is RGB already.

    Args:
        config_str: timm's RandAugment string. Default ``'rand-m9-mstd0.5-inc1'`` (the LV-ViT recipe;
            LV-ViT-L uses ``'rand-n3-m9-mstd0.5-inc1'``).
        hparams: timm's RandAugment hparams, e.g. ``dict(translate_const=100, img_mean=(124, 116, 104))``
            as timm's ``create_transform`` passes them at 224 with ImageNet's mean (RGB fill colour);
            None for timm's defaults (fill 128, translate_const 250).
        transforms: timm's op set: a list of op names, a ``{name: weight}`` dict, or None for the set the
            config string selects.
    """

    def __init__(self, config_str: str = 'rand-m9-mstd0.5-inc1', hparams: dict | None = None,
                 transforms: Sequence[str] | dict[str, float] | None = None) -> None:
        self.config_str = config_str
        # copied: timm writes into hparams (``setdefault``), which may be a caller's config
        self.rand_augment = rand_augment_transform(config_str, dict(hparams) if hparams else None, transforms)
        self.applied: list = []  # (op name, level arguments, (width, height)) of the current call
        for op in self.rand_augment.ops:
            if op.name not in GEOMETRIC_OPS and op.name not in PHOTOMETRIC_OPS:
                raise ValueError(f'RandAugment op {op.name!r} is neither a known geometric nor colour op: '
                                 'its effect on the token labels is unknown')
            function = _posterize_down_to_zero_bits if op.aug_fn is posterize else op.aug_fn
            op.aug_fn = _RecordingOp(op.name, function, self.applied)

    def transform(self, results: dict) -> dict:
        img = results['img']
        is_pil = isinstance(img, Image.Image)
        if not is_pil and (img.ndim != 3 or img.shape[2] != 3):
            raise ValueError(f'RandAugmentWithAffine needs an (H, W, 3) BGR image, not {img.shape}')
        self.applied.clear()
        image = self.rand_augment(decode(img) if is_pil else Image.fromarray(np.ascontiguousarray(img[..., ::-1])))
        results['img'] = image if is_pil else np.ascontiguousarray(np.asarray(image)[..., ::-1])
        step = np.eye(3)
        for name, level_args, (width, height) in self.applied:
            if name in GEOMETRIC_OPS:
                coefficients = GEOMETRIC_OPS[name](*level_args, width, height)
                step = step @ pil_affine_to_theta(coefficients, width, height)
        append_affine(results, step)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(config_str={self.config_str!r}, {self.rand_augment!r})'


@TRANSFORMS.register_module()
class PackTokenLabelInputs(BaseTransform):
    """Pack an image and its token-label geometry for a classifier trained with token labeling.

    Returns ``dict(inputs=..., data_samples=...)``:

    - ``inputs``: ``(C, H, W)`` uint8 tensor, BGR (or grey) as mmcv loads images: an ndarray's channels as
      they are, a PIL image's RGB reversed (the data preprocessor converts to RGB and normalizes);
    - ``data_samples``: an mmengine ``BaseDataElement`` (plain, so any classifier can read it) with the
      ``meta_keys`` present in ``results`` as metainfo and the data fields ``gt_label`` (``()`` int64, if
      ``results`` has one), ``token_label_topk`` (``(2, k, h, w)`` float16, only when the loading step put
      a score map in ``results['token_label_topk']``), ``token_label_box`` (``(4,)`` float32),
      ``token_label_flip`` (``()`` bool) and ``token_label_affine`` (``(2, 3)`` float32), the last three
      defaulting to no crop, no flip, identity. Every field stacks with ``torch.stack`` across samples
      (``lvseg.models.classifiers.data_preprocessor.stack_token_labels`` batches them for the model).
    """

    def __init__(self, meta_keys: Sequence[str] = ('img_path', 'ori_shape', 'img_shape')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if isinstance(img, Image.Image):  # one plane per channel, reversed: RGB -> BGR and HWC -> CHW at once
            planes = decode(img).split()[::-1]
            inputs = torch.from_numpy(np.stack([np.asarray(plane) for plane in planes]))
        else:
            image = np.atleast_3d(img)  # (H, W) grey -> (H, W, 1)
            inputs = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        box, flip, affine = _geometry(results)
        fields = {
            BOX_KEY: torch.from_numpy(box.astype(np.float32)),
            FLIP_KEY: torch.tensor(flip),
            AFFINE_KEY: torch.from_numpy(affine[:2].astype(np.float32)),
        }
        if 'gt_label' in results:
            fields['gt_label'] = torch.as_tensor(results['gt_label'], dtype=torch.int64).reshape(())
        if results.get(TOPK_KEY) is not None:
            fields[TOPK_KEY] = torch.as_tensor(results[TOPK_KEY]).to(torch.float16)
        metainfo = {key: results[key] for key in self.meta_keys if key in results}
        return {'inputs': inputs, 'data_samples': BaseDataElement(metainfo=metainfo, **fields)}

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'

