"""The device path's RandAugment against timm's: each op at the same magnitude on the same image, the level
arguments, and the draws.

Tolerances (uint8 levels, on a 180x240 picture with gradients, flat patches, edges and noise):

- lookup-table ops, colour/contrast/brightness/sharpness blends: identical to timm's PIL op;
- bilinear rotate/shear/translate: at most 1 level apart (float32 sampling vs Pillow's float64; up to a quarter
  of the pixels for a shift by a whole number of pixels), except at most 0.5% of pixels on the fill border
  (a source point within float error of the image edge); measured here: at most 1 everywhere;
- bicubic rotate/shear/translate: Pillow's transform cubic has a = -1, torch's a = -0.75: mean difference at
  most 0.75 level, 95% of pixels at most 1 level apart, at most 16 except the fill-border allowance; measured
  here: mean 0.6, 97.5% within 1, at most 13.
"""
import random

import numpy as np
import pytest
import torch
from lvseg_testing.photos import photo
from PIL import Image
from timm.data.auto_augment import LEVEL_TO_ARG, NAME_TO_OP, rand_augment_transform

from lvseg.datasets.batched_rand_augment import COLOUR_OPS, LEVEL_ARGS, BatchedRandAugment, RandAugmentDraws
from lvseg.datasets.token_label_transforms import GEOMETRIC_OPS, pil_affine_to_theta

HPARAMS = {'translate_const': 100, 'img_mean': (124, 116, 104)}  # lvseg's configs at 224
FILL = HPARAMS['img_mean']
BILINEAR, BICUBIC = Image.Resampling.BILINEAR, Image.Resampling.BICUBIC
MAGNITUDES = (0.0, 3.3, 9.0, 10.0)
FILL_BORDER_SHARE = 0.005


def timm_level_args(name: str, magnitude: float, negate: bool) -> tuple:
    """timm's level arguments of op ``name``, its random sign forced."""
    level = LEVEL_TO_ARG[name]
    if level is None:
        return ()
    draw = random.random
    random.random = (lambda: 0.9) if negate else (lambda: 0.1)  # timm negates when random() > 0.5
    try:
        return level(magnitude, HPARAMS)
    finally:
        random.random = draw


def ours(name: str, image: np.ndarray, magnitude: float, negate: bool, bicubic: bool) -> np.ndarray:
    """The device path's op ``name`` (RandAugment with only that op, forced to run) on ``image``."""
    augment = BatchedRandAugment('rand-n1-p1.0', HPARAMS, transforms=[name])
    draws = RandAugmentDraws(choice=torch.zeros(1, 1, dtype=torch.long), apply=torch.ones(1, 1, dtype=torch.bool),
                             magnitude=torch.full((1, 1), magnitude, dtype=torch.float64),
                             negate=torch.full((1, 1), negate), bicubic=torch.full((1, 1), bicubic))
    images, _ = augment.apply(torch.from_numpy(image).permute(2, 0, 1)[None].contiguous(), draws)
    return images[0].permute(1, 2, 0).numpy()


def timm_op(name: str, image: np.ndarray, magnitude: float, negate: bool, bicubic: bool) -> np.ndarray:
    args = timm_level_args(name, magnitude, negate)
    result = NAME_TO_OP[name](Image.fromarray(image), *args, fillcolor=FILL, resample=BICUBIC if bicubic else BILINEAR)
    return np.asarray(result)


@pytest.mark.parametrize('name', sorted(LEVEL_ARGS))
def test_level_arguments_are_timms(name):
    for magnitude in np.linspace(0, 10, 41):
        for negate in (False, True):
            expected = timm_level_args(name, float(magnitude), negate)[0]
            got = LEVEL_ARGS[name](torch.tensor([magnitude], dtype=torch.float64), torch.tensor([negate]), HPARAMS)
            assert got.item() == expected, (magnitude, negate)


@pytest.mark.parametrize('name', sorted(set(COLOUR_OPS) - {'Posterize', 'PosterizeIncreasing', 'PosterizeOriginal'}))
def test_colour_ops_equal_timms(name):
    image = photo()
    for magnitude in MAGNITUDES:
        for negate in (False, True):
            expected = timm_op(name, image, magnitude, negate, False).astype(int)
            got = ours(name, image, magnitude, negate, False).astype(int)
            assert np.array_equal(got, expected), (magnitude, negate)


@pytest.mark.parametrize('name', ['Posterize', 'PosterizeIncreasing', 'PosterizeOriginal'])
def test_posterize_equals_timms_and_zero_bits_is_black(name):
    image = photo()
    for magnitude in MAGNITUDES:
        bits = timm_level_args(name, magnitude, False)[0]
        got = ours(name, image, magnitude, False, False)
        if bits == 0:  # Pillow 13 refuses 0 bits; lvseg's CPU path gives black
            assert not got.any()
        else:
            assert np.array_equal(got, timm_op(name, image, magnitude, False, False))


@pytest.mark.parametrize('bicubic', [False, True], ids=['bilinear', 'bicubic'])
@pytest.mark.parametrize('name', sorted(GEOMETRIC_OPS))
def test_geometric_ops_match_timms(name, bicubic):
    image = photo()
    for magnitude in MAGNITUDES:
        for negate in (False, True):
            expected = timm_op(name, image, magnitude, negate, bicubic).astype(int)
            got = ours(name, image, magnitude, negate, bicubic).astype(int)
            difference = np.abs(got - expected).max(-1)
            assert (difference > (16 if bicubic else 1)).mean() <= FILL_BORDER_SHARE, (magnitude, negate)
            if bicubic:
                assert difference.mean() <= 0.75 and (difference <= 1).mean() >= 0.95, (magnitude, negate)


def test_ops_without_a_batched_version_are_refused():
    with pytest.raises(ValueError, match='GaussianBlur'):
        BatchedRandAugment('rand-m9-n2', transforms=['Rotate', 'GaussianBlur'])


def test_thetas_compose_the_geometric_ops_in_order_and_colour_ops_leave_them():
    height, width = 32, 48
    augment = BatchedRandAugment('rand-n2-p1.0', HPARAMS, transforms=['Rotate', 'TranslateXRel', 'Invert'])
    draws = RandAugmentDraws(choice=torch.tensor([[0, 1], [1, 0], [2, 2]]), apply=torch.ones(3, 2, dtype=torch.bool),
                             magnitude=torch.full((3, 2), 9.0, dtype=torch.float64),
                             negate=torch.zeros(3, 2, dtype=torch.bool), bicubic=torch.zeros(3, 2, dtype=torch.bool))
    images = torch.from_numpy(photo(height, width)).permute(2, 0, 1)[None].repeat(3, 1, 1, 1)
    _, thetas = augment.apply(images, draws)
    rotate, translate = (torch.from_numpy(pil_affine_to_theta(
        GEOMETRIC_OPS[name](*timm_level_args(name, 9.0, False), width, height), width, height))
        for name in ('Rotate', 'TranslateXRel'))
    torch.testing.assert_close(thetas[0], rotate @ translate)  # rotated first: the record is rotate @ translate
    torch.testing.assert_close(thetas[1], translate @ rotate)
    assert torch.equal(thetas[2], torch.eye(3, dtype=torch.float64))


def recorded_timm_draws(config: str, count: int) -> list[list[tuple[str, float]]]:
    """What timm's RandAugment runs on ``count`` images: per image, the (op name, magnitude) of each op it ran."""
    policy = rand_augment_transform(config, dict(HPARAMS))
    log: list[tuple[str, float]] = []
    for op in policy.ops:
        op.level_fn = lambda magnitude, hparams, name=op.name: (name, magnitude)
        op.aug_fn = lambda image, name, magnitude, **kwargs: log.append((name, magnitude)) or image
    runs = []
    for _ in range(count):
        log.clear()
        policy(None)
        runs.append(list(log))
    return runs


def test_draws_follow_timms_distributions():
    """4000 images each: how many ops an image gets, how often each op runs, the magnitudes' mean and spread."""
    count = 4000
    random.seed(0)
    np.random.seed(0)
    timm_runs = recorded_timm_draws('rand-m9-mstd0.5-inc1', count)
    augment = BatchedRandAugment('rand-m9-mstd0.5-inc1', HPARAMS)
    draws = augment.draw(count, torch.Generator().manual_seed(0))
    names = [op.name for op in augment.ops]
    our_runs = [[(names[c], m) for c, a, m in zip(choice, apply, magnitude) if a]
                for choice, apply, magnitude in zip(draws.choice.tolist(), draws.apply.tolist(),
                                                    draws.magnitude.tolist())]
    ops_per_image = [np.bincount([len(run) for run in runs], minlength=3) / count for runs in (timm_runs, our_runs)]
    np.testing.assert_allclose(*ops_per_image, atol=0.03)  # about 1/4, 1/2, 1/4
    for name in names:
        shares = [sum(op == name for run in runs for op, _ in run) / count for runs in (timm_runs, our_runs)]
        assert abs(shares[0] - shares[1]) < 0.02, name  # each about 2 x 0.5 / 15 = 0.067
    magnitudes = [np.array([m for run in runs for _, m in run]) for runs in (timm_runs, our_runs)]
    assert abs(magnitudes[0].mean() - magnitudes[1].mean()) < 0.05
    assert abs(magnitudes[0].std() - magnitudes[1].std()) < 0.05
    assert magnitudes[1].min() >= 0 and magnitudes[1].max() <= 10
    assert 0.45 < draws.negate.double().mean() < 0.55 and 0.45 < draws.bicubic.double().mean() < 0.55
