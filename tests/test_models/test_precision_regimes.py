"""Data and label arithmetic give the same numbers under bf16 and fp16 autocast as in float32.

mmengine's ``train_step`` runs the data pre-processor and the loss inside the optimizer wrapper's autocast. Each test
computes one stage in float32 and again under CPU autocast to ``dtype``, with the same inputs and the same random
draws, and compares: images bit-equal, geometry bit-equal, targets and losses within 1e-6. (CUDA autocast lowers the
same ops; ``tests/test_cuda.py`` compares the device path there.)
"""
import pytest
import torch
import torch.nn.functional as F
from lvseg_testing.quadrants import GEOMETRIC_RAND_AUGMENT
from mmengine.structures import BaseDataElement

from lvseg.datasets.device_augment import DeviceTokenLabelAugment
from lvseg.datasets.sample_seed import seed_all
from lvseg.models.classifiers.data_preprocessor import TokenLabelingDataPreprocessor
from lvseg.models.classifiers.mix_token import box_lam, mix_class_target, sample_token_box, swap_in_box
from lvseg.models.classifiers.token_labels import dense_token_targets
from lvseg.models.losses.token_labeling import TokenLabelingLoss

LOW_DTYPES = [torch.bfloat16, torch.float16]
GRID = (14, 14)
NUM_CLASSES = 50


def autocast(dtype: torch.dtype):
    return torch.autocast('cpu', dtype=dtype)


def random_geometry(batch: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Top-k maps ``(B, 2, 5, 8, 8)`` (float16, as stored), crop boxes, flips and small affines."""
    logits = torch.randn(batch, 5, 8, 8, generator=generator) * 4
    classes = torch.stack([torch.randperm(NUM_CLASSES, generator=generator)[:5] for _ in range(batch)]).float()
    topk = torch.stack([logits, classes[:, :, None, None].expand(-1, -1, 8, 8)], 1).half()
    corners = torch.rand(batch, 2, 2, generator=generator).sort(dim=1).values
    boxes = corners.permute(0, 2, 1).reshape(batch, 4)[:, [0, 2, 1, 3]]  # x1, y1, x2, y2 with x1 <= x2, y1 <= y2
    flips = torch.rand(batch, generator=generator) < 0.5
    angle = (torch.rand(batch, generator=generator) - 0.5) * 0.6
    shift = (torch.rand(batch, 2, generator=generator) - 0.5) * 0.4
    affines = torch.stack([torch.stack([angle.cos(), -angle.sin(), shift[:, 0]], 1),
                           torch.stack([angle.sin(), angle.cos(), shift[:, 1]], 1)], 1)
    return topk, boxes, flips, affines


def test_autocast_lowers_the_grid_op_that_the_float32_regions_guard():
    """The hazard the regions guard against is real on this torch: without them the comparisons below could fail."""
    theta = torch.eye(2, 3)[None]
    with autocast(torch.bfloat16):
        assert F.affine_grid(theta, [1, 1, 4, 4], align_corners=False).dtype == torch.bfloat16


@pytest.mark.parametrize('dtype', LOW_DTYPES, ids=str)
def test_token_targets_are_those_of_float32_under_autocast(dtype):
    inputs = random_geometry(16, torch.Generator().manual_seed(0))
    token_fp32, crop_fp32 = dense_token_targets(*inputs, GRID, NUM_CLASSES)
    with autocast(dtype):
        token_low, crop_low = dense_token_targets(*inputs, GRID, NUM_CLASSES)
    assert token_low.dtype == crop_low.dtype == torch.float32
    torch.testing.assert_close(token_low, token_fp32, rtol=0, atol=1e-6)
    torch.testing.assert_close(crop_low, crop_fp32, rtol=0, atol=1e-6)
    assert torch.equal(token_low.argmax(-1), token_fp32.argmax(-1))


@pytest.mark.parametrize('dtype', LOW_DTYPES, ids=str)
def test_device_augmentation_gives_the_float32_pixels_and_geometry_under_autocast(dtype):
    generator = torch.Generator().manual_seed(1)
    images = [torch.randint(0, 256, (3, 60 + 7 * i, 80 - 5 * i), dtype=torch.uint8, generator=generator)
              for i in range(6)]
    augment = DeviceTokenLabelAugment(size=32, scale=(0.3, 1.0), rand_augment=dict(
        config_str='rand-m9-mstd0.5-inc1-n3', transforms=GEOMETRIC_RAND_AUGMENT))
    draws = augment.draw(torch.tensor([image.shape[-2:] for image in images]), generator)
    expected = augment.apply(images, draws)
    with autocast(dtype):
        got = augment.apply(images, draws)
    for name in expected._fields:
        assert torch.equal(getattr(got, name), getattr(expected, name)), name


def batch_of_images(generator: torch.Generator) -> dict:
    inputs = [torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=generator) for _ in range(4)]
    samples = [BaseDataElement(gt_label=torch.tensor(i)) for i in range(4)]
    return {'inputs': inputs, 'data_samples': samples}


@pytest.mark.parametrize('dtype', LOW_DTYPES, ids=str)
def test_the_preprocessor_normalizes_and_erases_as_in_float32_under_autocast(dtype):
    preprocessor = TokenLabelingDataPreprocessor(random_erasing_prob=1.0)
    batch = batch_of_images(torch.Generator().manual_seed(2))
    seed_all(3)  # timm's erasing draws its boxes from Python's random, the noise from torch's
    expected = preprocessor(batch, training=True)['inputs']
    seed_all(3)
    with autocast(dtype):
        got = preprocessor(batch, training=True)['inputs']
    assert got.dtype == torch.float32 and torch.equal(got, expected)


@pytest.mark.parametrize('dtype', LOW_DTYPES, ids=str)
def test_mix_token_swaps_and_mixes_as_in_float32_under_autocast(dtype):
    generator = torch.Generator().manual_seed(4)
    tokens = torch.randn(6, GRID[0] * GRID[1], 8, generator=generator)
    target = torch.rand(6, NUM_CLASSES, generator=generator).softmax(-1)
    box = sample_token_box(GRID, torch.Generator().manual_seed(5))
    with autocast(dtype):
        mixed_tokens = swap_in_box(tokens, box, GRID)
        mixed_target = mix_class_target(target, box_lam(box, GRID))
    assert torch.equal(mixed_tokens, swap_in_box(tokens, box, GRID))
    assert mixed_target.dtype == torch.float32
    torch.testing.assert_close(mixed_target, mix_class_target(target, box_lam(box, GRID)), rtol=0, atol=1e-6)


@pytest.mark.parametrize('dtype', LOW_DTYPES, ids=str)
def test_the_loss_is_computed_in_float32_from_low_precision_logits(dtype):
    """Under autocast the heads give logits in ``dtype``; the loss upcasts them and computes both terms in float32,
    so it equals the float32 loss of the same (rounded) logits."""
    generator = torch.Generator().manual_seed(6)
    cls_logits = (torch.randn(4, NUM_CLASSES, generator=generator) * 5).to(dtype)
    token_logits = (torch.randn(4, 9, NUM_CLASSES, generator=generator) * 5).to(dtype)
    cls_target = torch.rand(4, NUM_CLASSES, generator=generator).softmax(-1)
    token_target = torch.rand(4, 9, NUM_CLASSES, generator=generator).softmax(-1)
    loss = TokenLabelingLoss()
    expected = loss(cls_logits.float(), token_logits.float(), cls_target, token_target)
    with autocast(dtype):
        got = loss(cls_logits, token_logits, cls_target, token_target)
    for name, value in expected.items():
        assert got[name].dtype == torch.float32
        torch.testing.assert_close(got[name], value, rtol=0, atol=1e-6)
