"""The CPU path of ``augment_on`` (the train pipeline's ``RandomResizedCropWithBox`` -> ``RandomFlipWithBox`` ->
``RandAugmentWithAffine``, with timm's RandAugment) made to take the device path's random draws.

The CPU path draws from Python's and NumPy's generators inside timm; the device path draws all its choices at
once from torch's (:class:`~lvseg.datasets.device_augment.AugmentDraws`). :func:`replay_draws` stands in for
those generators, for one image, where the CPU path calls them, answering each call with that image's device
draw: the crop, the resize interpolation, the flip, and per RandAugment layer the op, whether it runs, its
magnitude, its sign and its interpolation. A call the device path has no draw for fails the test.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pytest
import timm.data.auto_augment as timm_auto_augment
from PIL import Image
from timm.data.transforms import RandomResizedCropAndInterpolation
from torchvision.transforms import InterpolationMode

import lvseg.datasets.token_label_transforms as token_label_transforms
from lvseg.datasets.device_augment import AugmentDraws

# timm's "negate" test is ``random.random() > 0.5``; its "skip the op" test ``random.random() > prob``
_NEGATE, _KEEP_SIGN = 0.9, 0.1
_RUN, _SKIP = 0.0, 1.0


class _Script:
    """Answers for one generator's calls, in order; a call beyond them fails the test."""

    def __init__(self, name: str, answers: Sequence) -> None:
        self.name, self.answers = name, list(answers)

    def __call__(self, *args, **kwargs):
        if not self.answers:
            pytest.fail(f'the CPU path called {self.name}{args} beyond the device draws')
        return self.answers.pop(0)


def _choose(bicubic: bool, modes: Sequence) -> object:
    """The mode of ``modes`` (timm's bilinear/bicubic pair, as torchvision or PIL constants) that ``bicubic`` says."""
    wanted = {InterpolationMode.BICUBIC, Image.Resampling.BICUBIC} if bicubic else {
        InterpolationMode.BILINEAR, Image.Resampling.BILINEAR}
    chosen = [mode for mode in modes if mode in wanted]
    assert len(chosen) == 1, (modes, bicubic)
    return chosen[0]


class _Layer:
    """One RandAugment layer: timm's op (an ``AugmentOp``), its calls to timm's ``random`` answered by the layer's
    draws: whether it runs (asked only below probability 1), its magnitude (``gauss``, or ``uniform`` for an
    infinite noise), its sign, its interpolation."""

    def __init__(self, op, run: bool, magnitude: float, negate: bool, bicubic: bool, timm_random) -> None:
        self.op, self.timm_random = op, timm_random
        self.uniforms = ([_RUN if run else _SKIP] if op.prob < 1.0 else []) + [_NEGATE if negate else _KEEP_SIGN]
        self.magnitude, self.bicubic = magnitude, bicubic

    def __call__(self, image: Image.Image) -> Image.Image:
        self.timm_random.random = _Script('random.random', self.uniforms)
        self.timm_random.gauss = self.timm_random.uniform = _Script('random.gauss', [self.magnitude])
        self.timm_random.choice = lambda modes: _choose(self.bicubic, modes)
        return self.op(image)


class _NumpyWithChoice:
    """NumPy, as timm's module sees it, with ``np.random.choice`` (RandAugment's choice of ops) replaced."""

    def __init__(self, choice) -> None:
        self.random = SimpleNamespace(choice=choice)

    def __getattr__(self, name: str):
        return getattr(np, name)


@contextmanager
def replay_draws(draws: AugmentDraws, index: int) -> Iterator[None]:
    """While active, the CPU path's crop, flip and RandAugment of one image take image ``index``'s ``draws``."""
    top, left, height, width = draws.crops[index].tolist()
    bicubic, flip = bool(draws.bicubic[index]), bool(draws.flips[index])
    timm_random = SimpleNamespace()

    def layers(ops, num_layers, replace=True, p=None):
        rand_augment = draws.rand_augment
        assert num_layers == rand_augment.choice.shape[1], (num_layers, rand_augment.choice.shape)
        return [_Layer(ops[choice], run, magnitude, negate, cubic, timm_random) for choice, run, magnitude, negate,
                cubic in zip(rand_augment.choice[index].tolist(), rand_augment.apply[index].tolist(),
                             rand_augment.magnitude[index].tolist(), rand_augment.negate[index].tolist(),
                             rand_augment.bicubic[index].tolist(), strict=True)]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RandomResizedCropAndInterpolation, 'get_params',
                      staticmethod(_Script('get_params', [(top, left, height, width)])))
        patch.setattr(token_label_transforms, 'random', SimpleNamespace(
            choice=lambda modes: _choose(bicubic, modes), random=_Script('random.random', [0.0 if flip else 1.0])))
        if draws.rand_augment is not None:
            patch.setattr(timm_auto_augment, 'random', timm_random)
            patch.setattr(timm_auto_augment, 'np', _NumpyWithChoice(layers))
        yield
