"""The device path: crops drawn and resized as timm's, token labels aligned with the augmented pixels, decoding and
its bad samples, and the data preprocessor that runs it all on a training batch.

Resize tolerance: torchvision's antialiased tensor resize against timm's PIL ``resized_crop``, at most 1 uint8 level
apart on 99% of pixels, at most 3 anywhere (PIL and torch round their fixed-point filters differently).
"""
import io
import random

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TVF
from lvseg_testing.photos import photo
from lvseg_testing.quadrants import (
    ASYMMETRIC_BOXES,
    GEOMETRIC_RAND_AUGMENT,
    NUM_CLASSES,
    PATCH,
    assert_tokens_follow_pixels,
    expected_classes,
    pixel_classes,
    quadrant_image,
    quadrant_topk,
    transformed_token_classes,
)
from mmengine.structures import BaseDataElement
from PIL import Image, ImageOps
from timm.data.transforms import RandomResizedCropAndInterpolation

from lvseg.datasets.bad_sample import SKIPPED_KEY, BadSampleError
from lvseg.datasets.device_augment import AugmentDraws, DeviceTokenLabelAugment, random_resized_crop_params
from lvseg.datasets.device_decode import decode_images, replace_undecodable
from lvseg.datasets.image_bytes import image_header
from lvseg.datasets.token_label_transforms import GEOMETRIC_OPS
from lvseg.models.classifiers.data_preprocessor import TokenLabelingDataPreprocessor
from lvseg.models.classifiers.token_labels import dense_token_targets

GRID = (14, 14)


def as_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 array -> ``(3, H, W)`` tensor."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).contiguous()


def as_array(image: torch.Tensor) -> np.ndarray:
    return image.permute(1, 2, 0).numpy()


def jpeg_bytes(image: np.ndarray, quality: int = 95) -> torch.Tensor:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format='JPEG', quality=quality)
    return torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    values = np.concatenate([a, b])
    cdf_a = np.searchsorted(np.sort(a), values, side='right') / len(a)
    cdf_b = np.searchsorted(np.sort(b), values, side='right') / len(b)
    return float(np.abs(cdf_a - cdf_b).max())


@pytest.mark.parametrize('height, width', [(375, 500), (120, 500)], ids=['landscape', 'strip'])
def test_crop_scale_ratio_and_position_follow_timms_distribution(height, width):
    """4000 crops each, fixed seeds; a KS test at the 0.1% level on area, aspect ratio and centre. The strip is too
    wide for most tries, so the central fallback is drawn too."""
    count, scale, ratio = 4000, (0.08, 1.0), (3 / 4, 4 / 3)
    random.seed(0)
    picture = Image.new('RGB', (width, height))
    timm = np.array([RandomResizedCropAndInterpolation.get_params(picture, scale, ratio) for _ in range(count)])
    ours = random_resized_crop_params(torch.tensor([[height, width]] * count), scale, ratio,
                                      torch.Generator().manual_seed(0)).numpy()  # (top, left, height, width), as timm
    assert (ours[:, 0] >= 0).all() and (ours[:, 1] >= 0).all()
    assert (ours[:, 0] + ours[:, 2] <= height).all() and (ours[:, 1] + ours[:, 3] <= width).all()
    critical = 1.95 * np.sqrt(2 / count)  # alpha = 0.001
    statistics = {
        'area': lambda c: c[:, 2] * c[:, 3] / (height * width),
        'log aspect': lambda c: np.log(c[:, 3] / c[:, 2]),
        'centre x': lambda c: (c[:, 1] + c[:, 3] / 2) / width,
        'centre y': lambda c: (c[:, 0] + c[:, 2] / 2) / height,
    }
    for name, statistic in statistics.items():
        assert ks_statistic(statistic(timm), statistic(ours)) < critical, name


@pytest.mark.parametrize('mode', [TVF.InterpolationMode.BILINEAR, TVF.InterpolationMode.BICUBIC])
def test_crops_are_resized_as_timm_resizes_them(mode):
    image = photo(375, 500)
    augment = DeviceTokenLabelAugment(rand_augment=None, flip_prob=0.0)
    for top, left, height, width in ((10, 20, 300, 400), (100, 250, 90, 120), (0, 0, 375, 500)):
        draws = AugmentDraws(torch.tensor([[top, left, height, width]]),
                             torch.tensor([mode == TVF.InterpolationMode.BICUBIC]), torch.tensor([False]), None)
        got = as_array(augment.apply([as_tensor(image)], draws).images[0]).astype(int)
        expected = np.asarray(TVF.resized_crop(Image.fromarray(image), top, left, height, width, [224, 224],
                                               mode)).astype(int)
        difference = np.abs(got - expected)
        assert difference.max() <= 3 and (difference <= 1).mean() >= 0.99, (top, left, height, width)


@pytest.mark.parametrize('flip', [False, True], ids=['plain', 'flipped'])
@pytest.mark.parametrize('box', ASYMMETRIC_BOXES.values(), ids=ASYMMETRIC_BOXES.keys())
def test_asymmetric_crops_record_where_the_pixels_came_from(box, flip):
    height, width = 200, 400  # every box corner falls on a pixel
    x1, y1, x2, y2 = box
    crop = [round(y1 * height), round(x1 * width), round((y2 - y1) * height), round((x2 - x1) * width)]
    draws = AugmentDraws(torch.tensor([crop]), torch.tensor([False]), torch.tensor([flip]), None)
    batch = DeviceTokenLabelAugment(rand_augment=None).apply([as_tensor(quadrant_image(height, width))], draws)
    torch.testing.assert_close(batch.boxes[0], torch.tensor(box), rtol=0, atol=1e-6)
    assert batch.flips.tolist() == [flip] and torch.equal(batch.affines[0], torch.eye(3)[:2])
    tokens, _ = dense_token_targets(quadrant_topk(), batch.boxes, batch.flips, batch.affines, GRID, NUM_CLASSES)
    labels = tokens[0].argmax(-1).view(GRID).numpy()
    assert np.array_equal(labels, expected_classes(box, GRID, flip=flip))
    assert np.array_equal(labels, transformed_token_classes(as_array(batch.images[0])))


def one_class_neighbourhoods(classes: np.ndarray) -> np.ndarray:
    """``(S_h, S_w)`` bool: the token's 3x3-token neighbourhood (cut at the image border) holds one pixel class."""
    rows, cols = classes.shape[0] // PATCH, classes.shape[1] // PATCH
    cells = classes.reshape(rows, PATCH, cols, PATCH)
    low, high = np.pad(cells.min((1, 3)), 1, mode='edge'), np.pad(cells.max((1, 3)), 1, mode='edge')
    windows = np.lib.stride_tricks.sliding_window_view
    return windows(low, (3, 3)).min((2, 3)) == windows(high, (3, 3)).max((2, 3))


def test_device_augmented_images_and_token_labels_agree():
    """The recipe's crop and flip and RandAugment's geometric ops (3 per image) on a quadrant picture, 32 images:
    tokens away from class and fill boundaries carry their pixels' class (fill checked where at most one
    geometric op ran, as on the CPU path)."""
    augment = DeviceTokenLabelAugment(rand_augment=dict(config_str='rand-n3-m9-mstd0.5-inc1',
                                                        transforms=GEOMETRIC_RAND_AUGMENT))
    count, image = 32, as_tensor(quadrant_image(180, 240))
    draws = augment.draw(torch.tensor([[180, 240]] * count), torch.Generator().manual_seed(0))
    batch = augment.apply([image] * count, draws)
    assert batch.images.shape == (count, 3, 224, 224) and batch.images.dtype == torch.uint8
    tokens, _ = dense_token_targets(quadrant_topk().expand(count, -1, -1, -1, -1), batch.boxes, batch.flips,
                                    batch.affines, GRID, NUM_CLASSES)
    names = [op.name for op in augment.rand_augment.ops]
    geometric = [sum(apply and names[c] in GEOMETRIC_OPS for c, apply in zip(choice, applied))
                 for choice, applied in zip(draws.rand_augment.choice.tolist(), draws.rand_augment.apply.tolist())]
    checked = 0
    for index in range(count):
        pixels = as_array(batch.images[index])
        checked += assert_tokens_follow_pixels(tokens[index].view(*GRID, NUM_CLASSES),
                                               transformed_token_classes(pixels),
                                               one_class_neighbourhoods(pixel_classes(pixels)),
                                               check_fill=geometric[index] <= 1)
    assert checked > 0.2 * count * GRID[0] * GRID[1]  # the check is not vacuous
    assert batch.flips.any() and not batch.flips.all() and max(geometric) >= 2


def test_decoding_on_the_cpu_matches_pil_and_reports_undecodable_images():
    image = photo(120, 160)
    good = jpeg_bytes(image)
    broken = torch.frombuffer(bytearray(b'<html>not found</html>'), dtype=torch.uint8)
    images, problems = decode_images([good, broken, good], 'cpu')
    assert list(problems) == [1] and images[1] is None
    expected = np.asarray(Image.open(io.BytesIO(good.numpy().tobytes())).convert('RGB'))
    assert np.array_equal(as_array(images[0]), expected) and torch.equal(images[0], images[2])


@pytest.mark.parametrize('orientation', range(1, 9))
def test_decoded_images_are_turned_upright_as_pil_turns_them(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(photo(40, 60)).save(buffer, format='JPEG', quality=95, exif=exif)
    data = torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)
    images, _ = decode_images([data], 'cpu', [image_header(buffer.getvalue()).orientation])
    expected = np.asarray(ImageOps.exif_transpose(Image.open(buffer)).convert('RGB'))
    assert np.array_equal(as_array(images[0]), expected)


def samples(paths):
    return [BaseDataElement(metainfo={'img_path': path}, gt_label=torch.tensor(index)) for index, path in
            enumerate(paths)]


def test_undecodable_images_stop_the_run_naming_the_file_by_default():
    images, data_samples = [torch.zeros(3, 4, 4, dtype=torch.uint8), None], samples(['a.JPEG', 'b.JPEG'])
    with pytest.raises(BadSampleError, match=r'image b\.JPEG: cannot be decoded: bad marker'):
        replace_undecodable(images, data_samples, {1: 'bad marker'}, 'error')


def test_skipped_undecodable_images_take_the_next_sample_and_are_reported():
    first, third = torch.zeros(3, 4, 4, dtype=torch.uint8), torch.ones(3, 4, 4, dtype=torch.uint8)
    images, data_samples = [first, None, third, None], samples(['a.JPEG', 'b.JPEG', 'c.JPEG', 'd.JPEG'])
    replace_undecodable(images, data_samples, {1: 'bad marker', 3: 'empty'}, 'skip')
    assert images[1] is third and images[3] is first  # the next good one, wrapping around
    assert data_samples[1].gt_label.item() == 2 and data_samples[3].gt_label.item() == 0
    assert data_samples[1].metainfo[SKIPPED_KEY] == ['image b.JPEG: cannot be decoded: bad marker']
    assert SKIPPED_KEY not in data_samples[2].metainfo  # the donor itself is untouched
    with pytest.raises(BadSampleError, match='a.JPEG'):
        replace_undecodable([None], samples(['a.JPEG']), {0: 'empty'}, 'skip')  # nothing left to train on


def encoded_batch(count: int, broken: int | None = None) -> dict:
    inputs = [jpeg_bytes(photo(120 + 10 * index, 160, seed=index)) for index in range(count)]
    if broken is not None:
        inputs[broken] = torch.frombuffer(bytearray(b'\xff\xd8\xff garbage'), dtype=torch.uint8)
    topk = quadrant_topk(4, 4)[0]
    data_samples = [BaseDataElement(metainfo={'img_path': f'{index}.JPEG'}, gt_label=torch.tensor(index % 4),
                                    token_label_topk=topk) for index in range(count)]
    return {'inputs': inputs, 'data_samples': data_samples}


def device_preprocessor(**kwargs) -> TokenLabelingDataPreprocessor:
    augment = dict(size=32, scale=(0.3, 1.0), rand_augment=dict(config_str='rand-m9-mstd0.5-inc1'))
    return TokenLabelingDataPreprocessor(device_augment=augment, **kwargs)


def test_the_preprocessor_decodes_augments_and_normalizes_an_encoded_batch():
    preprocessor = device_preprocessor(random_erasing_prob=0.0)
    torch.manual_seed(0)
    out = preprocessor(encoded_batch(4), training=True)
    assert out['inputs'].shape == (4, 3, 32, 32) and out['inputs'].dtype == torch.float32
    labels = out['token_labels']
    assert labels.labels.tolist() == [0, 1, 2, 3] and labels.topk.shape == (4, 2, 2, 4, 4)
    assert labels.boxes.shape == (4, 4) and labels.flips.shape == (4,) and labels.affines.shape == (4, 2, 3)
    torch.manual_seed(0)  # the same draws, by hand: decoded RGB, normalized with the RGB mean and std
    images, _ = decode_images(encoded_batch(4)['inputs'], 'cpu')
    batch = preprocessor.device_augment(images)
    torch.testing.assert_close(out['inputs'], (batch.images.float() - preprocessor.mean) / preprocessor.std)
    torch.testing.assert_close(labels.boxes, batch.boxes)


def test_the_preprocessor_applies_the_undecodable_policy():
    with pytest.raises(BadSampleError, match=r'image 1\.JPEG: cannot be decoded'):
        device_preprocessor()(encoded_batch(3, broken=1), training=True)
    batch = encoded_batch(3, broken=1)
    out = device_preprocessor(undecodable='skip')(batch, training=True)
    assert out['inputs'].shape[0] == 3 and out['token_labels'].labels.tolist() == [0, 2, 2]
    assert 'image 1.JPEG' in batch['data_samples'][1].metainfo[SKIPPED_KEY][0]  # what SkippedSamplesHook reads


def test_the_preprocessor_refuses_encoded_batches_outside_training():
    with pytest.raises(ValueError, match='only training batches'):
        device_preprocessor()(encoded_batch(2), training=False)
