"""timm's RandAugment on a batch of uint8 images: each image draws its own ops, magnitudes and signs; the pixel
work runs once per op and layer over the images that drew it.

The policy is timm's own: the config string (``'rand-m9-mstd0.5-inc1'``), hparams and op set are parsed by
``timm.data.auto_augment.rand_augment_transform``, whose ``AugmentOp`` s give each op's name, probability,
magnitude, magnitude noise, bound, fill colour and interpolation. The draws mirror timm's per image (op choice
with replacement, or weighted without; apply with the op's probability; magnitude ``N(m, mstd)`` or
``U(0, m)`` clipped to ``[0, mmax or 10]``; a random sign; bilinear or bicubic), vectorised with torch's
generator; :data:`LEVEL_ARGS` turns magnitudes into the arguments timm's level functions give. The ops are
:mod:`lvseg.datasets.batched_image_ops`; rotations, shears and translations of a layer are one batched warp,
and their thetas are returned, composed in the order they ran, for the token labels.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from timm.data.auto_augment import rand_augment_transform
from torch import Tensor

from . import batched_image_ops as ops
from .token_label_transforms import GEOMETRIC_OPS, pil_affine_to_theta

_LEVEL_DENOM = 10.0  # timm's magnitude scale: level / 10 is the fraction of an op's range
_DEFAULT_TRANSLATE_PCT = 0.45  # timm's default relative translation at level 10


def _signed(values: Tensor, negate: Tensor) -> Tensor:
    return torch.where(negate, -values, values)


def _enhance(magnitude: Tensor, negate: Tensor, hparams: dict) -> Tensor:
    return (magnitude / _LEVEL_DENOM) * 1.8 + 0.1


def _enhance_increasing(magnitude: Tensor, negate: Tensor, hparams: dict) -> Tensor:
    return (1.0 + _signed((magnitude / _LEVEL_DENOM) * 0.9, negate)).clamp(min=0.1)


def _posterize(magnitude: Tensor, negate: Tensor, hparams: dict) -> Tensor:
    return ((magnitude / _LEVEL_DENOM) * 4).trunc()


def _solarize(magnitude: Tensor, negate: Tensor, hparams: dict) -> Tensor:
    return ((magnitude / _LEVEL_DENOM) * 256).trunc().clamp(max=256)


def _translate_rel(magnitude: Tensor, negate: Tensor, hparams: dict) -> Tensor:
    return _signed((magnitude / _LEVEL_DENOM) * hparams.get('translate_pct', _DEFAULT_TRANSLATE_PCT), negate)


# op name -> (magnitudes (n,) float64, negate (n,) bool, op hparams) -> the op's argument (n,) float64, as timm's
# ``LEVEL_TO_ARG`` functions compute it (negate stands for their random sign). Ops without argument are absent.
LEVEL_ARGS: dict[str, Callable[[Tensor, Tensor, dict], Tensor]] = {
    'Rotate': lambda m, neg, hp: _signed((m / _LEVEL_DENOM) * 30.0, neg),
    'Posterize': _posterize,
    'PosterizeIncreasing': lambda m, neg, hp: 4 - _posterize(m, neg, hp),
    'PosterizeOriginal': lambda m, neg, hp: _posterize(m, neg, hp) + 4,
    'Solarize': _solarize,
    'SolarizeIncreasing': lambda m, neg, hp: 256 - _solarize(m, neg, hp),
    'SolarizeAdd': lambda m, neg, hp: ((m / _LEVEL_DENOM) * 110).trunc().clamp(max=128),
    'Color': _enhance, 'Contrast': _enhance, 'Brightness': _enhance, 'Sharpness': _enhance,
    'ColorIncreasing': _enhance_increasing, 'ContrastIncreasing': _enhance_increasing,
    'BrightnessIncreasing': _enhance_increasing, 'SharpnessIncreasing': _enhance_increasing,
    'ShearX': lambda m, neg, hp: _signed((m / _LEVEL_DENOM) * 0.3, neg),
    'ShearY': lambda m, neg, hp: _signed((m / _LEVEL_DENOM) * 0.3, neg),
    'TranslateX': lambda m, neg, hp: _signed((m / _LEVEL_DENOM) * float(hp['translate_const']), neg),
    'TranslateY': lambda m, neg, hp: _signed((m / _LEVEL_DENOM) * float(hp['translate_const']), neg),
    'TranslateXRel': _translate_rel,
    'TranslateYRel': _translate_rel,
}

# op name -> (images (n, 3, H, W) uint8 RGB, arguments (n,) float64) -> images; the geometric ops are warps.
COLOUR_OPS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    'AutoContrast': lambda x, a: ops.autocontrast(x),
    'Equalize': lambda x, a: ops.equalize(x),
    'Invert': lambda x, a: ops.invert(x),
    'Posterize': lambda x, a: ops.posterize(x, a.long()),
    'PosterizeIncreasing': lambda x, a: ops.posterize(x, a.long()),
    'PosterizeOriginal': lambda x, a: ops.posterize(x, a.long()),
    'Solarize': lambda x, a: ops.solarize(x, a.long()),
    'SolarizeIncreasing': lambda x, a: ops.solarize(x, a.long()),
    'SolarizeAdd': lambda x, a: ops.solarize_add(x, a.long()),
    'Color': lambda x, a: ops.color(x, a), 'ColorIncreasing': lambda x, a: ops.color(x, a),
    'Contrast': lambda x, a: ops.contrast(x, a), 'ContrastIncreasing': lambda x, a: ops.contrast(x, a),
    'Brightness': lambda x, a: ops.brightness(x, a), 'BrightnessIncreasing': lambda x, a: ops.brightness(x, a),
    'Sharpness': lambda x, a: ops.sharpness(x, a), 'SharpnessIncreasing': lambda x, a: ops.sharpness(x, a),
}
_INTERPOLATIONS = {Image.Resampling.BILINEAR: False, Image.Resampling.BICUBIC: True}  # -> bicubic


class RandAugmentDraws(NamedTuple):
    """The random choices of a batch, ``(B, num_layers)`` each, on the CPU.

    Attributes:
        choice: int64 index of the op of each layer in :attr:`BatchedRandAugment.ops`.
        apply: bool, whether the layer's op runs (timm's per-op probability).
        magnitude: float64 magnitude after noise and clipping.
        negate: bool, the random sign of signed ops.
        bicubic: bool, bicubic (True) or bilinear resampling of geometric ops.
    """

    choice: Tensor
    apply: Tensor
    magnitude: Tensor
    negate: Tensor
    bicubic: Tensor


class BatchedRandAugment:
    """timm's RandAugment for a batch ``(B, 3, H, W)`` uint8 RGB, with the geometry of each image returned.

    Args:
        config_str: timm's RandAugment string. Default ``'rand-m9-mstd0.5-inc1'`` (the LV-ViT recipe,
            docs/method.md#pretraining-recipe).
        hparams: timm's hparams, e.g. ``dict(translate_const=100, img_mean=(124, 116, 104))``; None for timm's
            defaults (fill 128).
        transforms: timm's op set (names, or a ``{name: weight}`` dict); None for the config string's.

    Raises ``ValueError`` at construction for an op without a batched version (timm's 3-Augment ops
    ``Desaturate``, ``GaussianBlur``, ``GaussianBlurRand``) or an interpolation other than bilinear/bicubic.
    """

    def __init__(self, config_str: str = 'rand-m9-mstd0.5-inc1', hparams: dict | None = None,
                 transforms: Sequence[str] | dict[str, float] | None = None) -> None:
        self.config_str = config_str
        # copied: timm writes into hparams (``setdefault``), which may be a caller's config
        policy = rand_augment_transform(config_str, dict(hparams or {}), transforms)
        self.ops = list(policy.ops)
        self.num_layers = policy.num_layers
        weights = policy.choice_weights
        self.choice_weights = None if weights is None else torch.as_tensor(np.asarray(weights), dtype=torch.float64)
        for op in self.ops:
            if op.name not in COLOUR_OPS and op.name not in GEOMETRIC_OPS:
                raise ValueError(f'RandAugment op {op.name!r} has no batched version (supported: '
                                 f'{sorted(COLOUR_OPS) + sorted(GEOMETRIC_OPS)})')
            modes = op.kwargs['resample']
            if any(mode not in _INTERPOLATIONS for mode in (modes if isinstance(modes, (list, tuple)) else [modes])):
                raise ValueError(f'RandAugment op {op.name}: interpolation {modes!r} is not bilinear or bicubic')
        self._prob, self._magnitude, self._std, self._bound = (
            torch.tensor([value(op) for op in self.ops], dtype=torch.float64) for value in (
                lambda op: op.prob, lambda op: op.magnitude, lambda op: op.magnitude_std,
                lambda op: op.magnitude_max or _LEVEL_DENOM))

    def draw(self, batch: int, generator: torch.Generator | None = None) -> RandAugmentDraws:
        """The random choices of ``batch`` images (see :class:`RandAugmentDraws`), from ``generator`` (torch's
        default generator if None)."""
        shape = (batch, self.num_layers)
        if self.choice_weights is None:
            choice = torch.randint(len(self.ops), shape, generator=generator)
        else:
            weights = self.choice_weights.expand(batch, -1)
            choice = torch.multinomial(weights, self.num_layers, replacement=False, generator=generator)
        uniform = torch.rand(*shape, 4, dtype=torch.float64, generator=generator)
        normal = torch.randn(*shape, dtype=torch.float64, generator=generator)
        prob, magnitude, std, bound = (values[choice] for values in
                                       (self._prob, self._magnitude, self._std, self._bound))
        noisy = torch.where(std > 0, magnitude + std * normal, magnitude)
        noisy = torch.where(torch.isinf(std), uniform[..., 3] * magnitude, noisy)
        uniform_choice = torch.tensor([isinstance(op.kwargs['resample'], (list, tuple)) for op in self.ops])[choice]
        fixed_bicubic = torch.tensor([_INTERPOLATIONS.get(op.kwargs['resample'], False) for op in self.ops])[choice]
        return RandAugmentDraws(
            choice=choice,
            apply=(prob >= 1) | (uniform[..., 0] <= prob),
            magnitude=torch.minimum(noisy, bound).clamp(min=0.0),
            negate=uniform[..., 1] > 0.5,
            bicubic=torch.where(uniform_choice, uniform[..., 2] >= 0.5, fixed_bicubic))

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Augment ``images`` ``(B, 3, H, W)`` uint8 RGB with fresh draws; see :meth:`apply`."""
        return self.apply(images, self.draw(len(images), generator))

    def apply(self, images: Tensor, draws: RandAugmentDraws) -> tuple[Tensor, Tensor]:
        """The augmented batch (a new tensor) and each image's geometry ``(B, 3, 3)`` float64 on the CPU: the
        ``F.affine_grid`` theta (``align_corners=False``) from the output's normalized coordinates to the input's,
        the product of its geometric ops' thetas in the order they ran (identity for none)."""
        images = images.clone()
        height, width = images.shape[-2:]
        thetas = torch.eye(3, dtype=torch.float64).repeat(len(images), 1, 1)
        for layer in range(self.num_layers):
            warped_rows, steps, fills = [], [], []
            for index, op in enumerate(self.ops):
                rows = (draws.apply[:, layer] & (draws.choice[:, layer] == index)).nonzero().squeeze(1)
                if not len(rows):
                    continue
                level = LEVEL_ARGS.get(op.name)
                args = (level(draws.magnitude[rows, layer], draws.negate[rows, layer], op.hparams) if level
                        else torch.zeros(len(rows), dtype=torch.float64))
                if op.name in GEOMETRIC_OPS:
                    warped_rows.append(rows)
                    steps += [pil_affine_to_theta(GEOMETRIC_OPS[op.name](arg, width, height), width, height)
                              for arg in args.tolist()]
                    fills.append(torch.as_tensor(op.kwargs['fillcolor'], dtype=torch.float32).expand(len(rows), 3))
                else:
                    on_device = rows.to(images.device)
                    images[on_device] = COLOUR_OPS[op.name](images[on_device], args.to(images.device))
            if warped_rows:
                rows = torch.cat(warped_rows)
                step = torch.from_numpy(np.stack(steps))
                on_device = rows.to(images.device)
                images[on_device] = ops.warp(images[on_device], step[:, :2], draws.bicubic[rows, layer],
                                             torch.cat(fills))
                thetas[rows] = thetas[rows] @ step
        return images, thetas

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(config_str={self.config_str!r}, ops={[op.name for op in self.ops]})'
