"""Token labels stay aligned with the image: the geometry of ``dense_token_targets`` and of the transforms.

The fixtures are quadrant pictures: a score map whose four quadrants hold classes 0 (top left), 1 (top
right), 2 (bottom left) and 3 (bottom right), and an image whose quadrants have four colours.
"""
import random

import numpy as np
import pytest
import torch
from lvseg_testing.quadrants import (
    ASYMMETRIC_BOXES,
    FULL_BOX,
    IDENTITY,
    NUM_CLASSES,
    PATCH,
    PIPELINES,
    SECOND_LOGIT,
    TOP_LOGIT,
    assert_tokens_follow_pixels,
    expected_classes,
    pixel_classes,
    quadrant_image,
    quadrant_topk,
    targets,
    transformed_token_classes,
)
from mmseg.registry import TRANSFORMS
from PIL import Image
from timm.data.auto_augment import rand_augment_transform
from timm.data.transforms import RandomResizedCropAndInterpolation

import lvseg  # noqa: F401  (registers the transforms)
from lvseg.datasets.token_label_transforms import (
    GEOMETRIC_OPS,
    PHOTOMETRIC_OPS,
    PackTokenLabelInputs,
    RandAugmentWithAffine,
    RandomFlipWithBox,
    RandomResizedCropWithBox,
    append_crop,
    append_flip,
)
from lvseg.models.classifiers.data_preprocessor import stack_token_labels
from lvseg.models.classifiers.token_labels import broadcast_image_label, dense_token_targets


@pytest.mark.parametrize('map_size', [(8, 8), (6, 10)])
@pytest.mark.parametrize('grid', [(14, 14), (6, 9)])
@pytest.mark.parametrize('box', ASYMMETRIC_BOXES.values(), ids=ASYMMETRIC_BOXES.keys())
def test_asymmetric_crops_put_each_class_in_its_tokens(box, grid, map_size):
    tokens, _ = targets(box, grid=grid, topk=quadrant_topk(*map_size))
    assert np.array_equal(tokens.argmax(-1).numpy(), expected_classes(box, grid))


def test_a_transposed_box_the_official_defect_gets_the_mirrored_labels():
    box = ASYMMETRIC_BOXES['top-right quadrant']
    x1, y1, x2, y2 = box
    transposed, _ = targets((y1, x1, y2, x2))  # (top, left, bottom, right), as the official code passes it
    expected = expected_classes(box, (14, 14))
    assert not np.array_equal(transposed.argmax(-1).numpy(), expected)
    assert (transposed.argmax(-1) == 2).all()  # the bottom-left quadrant's class instead of 1 (top right)


def test_flip_swaps_the_left_and_right_classes():
    box = ASYMMETRIC_BOXES['off-centre rectangle']
    plain, _ = targets(box)
    flipped, _ = targets(box, flip=True)
    assert np.array_equal(flipped.argmax(-1).numpy(), expected_classes(box, (14, 14), flip=True))
    assert torch.equal(flipped, plain.flip(1))


@pytest.mark.parametrize('op, config, hparams', [
    ('Rotate', 'rand-n1-m30-mmax30-p1.0', None),  # magnitude 30 of 30: +-90 degrees
    ('TranslateXRel', 'rand-n1-m10-p1.0', {'translate_pct': 0.5}),  # +-half the width
    ('TranslateYRel', 'rand-n1-m10-p1.0', {'translate_pct': 0.5}),
])
@pytest.mark.parametrize('seed', range(4))  # both signs
def test_rotations_and_translations_move_labels_with_the_pixels(op, config, hparams, seed):
    random.seed(seed)
    np.random.seed(seed)
    results = RandAugmentWithAffine(config, hparams, transforms=[op])({'img': quadrant_image(224, 224)})
    tokens, _ = targets(FULL_BOX, affine=results['token_label_affine'])
    pixel_tokens = transformed_token_classes(results['img'])
    assert not np.array_equal(pixel_tokens, expected_classes(FULL_BOX, (14, 14)))  # the op did move pixels
    assert_tokens_follow_pixels(tokens, pixel_tokens, np.ones_like(pixel_tokens, dtype=bool))


@pytest.mark.parametrize('pipeline', PIPELINES.values(), ids=PIPELINES.keys())
def test_transformed_images_and_token_labels_agree(pipeline):
    """Over many seeds, tokens whose 3x3-token neighbourhood holds one pixel class carry that class.

    Tokens near a class or fill boundary are skipped: labels are resampled on the token grid (nearest),
    so they are exact only up to about one token. Fill is checked only where RandAugment ran at most one
    geometric op: one composed affine cannot clip at the intermediate images' borders, so the fill of a
    first op that a second op brings into view is labelled with what lay beyond the border.
    """
    transforms = [TRANSFORMS.build(cfg) for cfg in pipeline]
    topk = quadrant_topk()
    checked = 0
    for seed in range(24):
        random.seed(seed)
        np.random.seed(seed)
        results = {'img': quadrant_image(180, 240), 'img_shape': (180, 240)}
        for transform in transforms:
            results = transform(results)
        assert results['img'].shape == (224, 224, 3) and results['img_shape'] == (224, 224)
        packed = PackTokenLabelInputs()(results)['data_samples']
        tokens, _ = dense_token_targets(topk, packed.token_label_box[None], packed.token_label_flip[None],
                                        packed.token_label_affine[None], (14, 14), NUM_CLASSES)
        classes = pixel_classes(results['img'])
        pixel_tokens = transformed_token_classes(results['img'])
        pure = np.zeros_like(pixel_tokens, dtype=bool)
        for row, col in np.ndindex(pure.shape):
            rows = slice(max(0, (row - 1) * PATCH), (row + 2) * PATCH)
            window = classes[rows, max(0, (col - 1) * PATCH):(col + 2) * PATCH]
            pure[row, col] = (window == pixel_tokens[row, col]).all()
        geometric_ops = sum(name in GEOMETRIC_OPS for transform in transforms if hasattr(transform, 'applied')
                            for name, _, _ in transform.applied)
        checked += assert_tokens_follow_pixels(tokens[0].view(14, 14, NUM_CLASSES), pixel_tokens, pure,
                                               check_fill=geometric_ops <= 1)
    assert checked > 0.2 * 24 * 14 * 14  # the check is not vacuous


def test_rand_augment_draws_exactly_what_timm_draws():
    image = quadrant_image(60, 80)
    image[::7] = 30  # something for the colour ops to change
    timm_rand_augment = rand_augment_transform('rand-m9-mstd0.5-inc1')
    moved = compared = 0
    for seed in range(30):
        random.seed(seed)
        np.random.seed(seed)
        try:
            expected = timm_rand_augment(Image.fromarray(image[..., ::-1].copy()))
        except ValueError:  # Pillow 13 refuses to posterize to 0 bits, see the next test
            continue
        compared += 1
        random.seed(seed)
        np.random.seed(seed)
        results = RandAugmentWithAffine()({'img': image.copy()})
        assert np.array_equal(results['img'], np.asarray(expected)[..., ::-1])
        moved += not np.allclose(results['token_label_affine'], IDENTITY.numpy())
    assert moved > 0 and compared > 20


def test_posterizing_to_zero_bits_gives_black():
    transform = RandAugmentWithAffine('rand-n1-m10-p1.0', transforms=['PosterizeIncreasing'])  # 4 - 4 bits
    results = transform({'img': quadrant_image(60, 80)})
    assert results['img'].shape == (60, 80, 3) and not results['img'].any()


def test_colour_ops_leave_the_geometry_alone():
    transform = RandAugmentWithAffine('rand-n3-m9-mstd0.5-p1.0', transforms=sorted(PHOTOMETRIC_OPS))
    image = quadrant_image(60, 80)
    changed = 0
    for seed in range(10):
        random.seed(seed)
        np.random.seed(seed)
        results = transform({'img': image.copy()})
        changed += not np.array_equal(results['img'], image)
        assert np.array_equal(results['token_label_affine'], IDENTITY.numpy())
    assert changed > 0


def test_random_resized_crop_is_timms_and_records_its_box():
    image = quadrant_image(180, 240)
    image[::5, ::3] = 40  # texture, so different crops differ
    timm_crop = RandomResizedCropAndInterpolation(224, interpolation='random')
    for seed in range(5):
        random.seed(seed)
        expected = np.asarray(timm_crop(Image.fromarray(image)))
        random.seed(seed)
        top, left, height, width = timm_crop.get_params(Image.fromarray(image), timm_crop.scale,
                                                        timm_crop.ratio)
        random.seed(seed)
        results = RandomResizedCropWithBox()({'img': image.copy()})
        assert np.array_equal(results['img'], expected)
        box = [left / 240, top / 180, (left + width) / 240, (top + height) / 180]
        np.testing.assert_allclose(results['token_label_box'], box, rtol=1e-6)


def test_a_crop_after_a_flip_is_mirrored_into_the_box():
    results = {}
    append_flip(results)
    append_crop(results, (0.0, 0.0, 0.5, 1.0))  # the left half of the flipped image: the original right half
    append_crop(results, (0.0, 0.5, 0.5, 1.0))  # its bottom-left quarter
    np.testing.assert_allclose(results['token_label_box'], [0.75, 0.5, 1.0, 1.0])
    assert results['token_label_flip']


def test_flip_transform_records_the_flip():
    image = quadrant_image(32, 48)
    results = RandomFlipWithBox(prob=1.0)({'img': image.copy()})
    assert np.array_equal(results['img'], image[:, ::-1]) and results['token_label_flip']
    assert 'token_label_flip' not in RandomFlipWithBox(prob=0.0)({'img': image.copy()})


CELL_ALIGNED_BOXES = {  # on an 8x8 map: class areas in cells (TL, TR, BL, BR)
    'whole image': ((0.0, 0.0, 1.0, 1.0), (16, 16, 16, 16)),
    'right three quarters, top three quarters': ((0.25, 0.0, 1.0, 0.75), (8, 16, 4, 8)),
    'bottom strip': ((0.125, 0.75, 0.875, 1.0), (0, 0, 6, 6)),
}


@pytest.mark.parametrize('box, areas', CELL_ALIGNED_BOXES.values(), ids=CELL_ALIGNED_BOXES.keys())
def test_crop_target_is_the_area_weighted_mixture_of_the_classes(box, areas):
    weights = torch.tensor(areas, dtype=torch.float32) / sum(areas)
    second = weights[[2, 3, 0, 1]]  # class q is second best where (q + 2) % 4 is first
    logits = torch.cat([TOP_LOGIT * weights + SECOND_LOGIT * second, torch.zeros(1)])
    _, crop = targets(box)
    torch.testing.assert_close(crop, logits.softmax(0), rtol=0, atol=1e-6)
    _, crop_moved = targets(box, flip=True, affine=[[0.0, -1.0, 0.3], [1.0, 0.0, 0.0]])
    assert torch.equal(crop_moved, crop)  # flips and affines do not change what the crop holds


def test_crop_target_of_an_unaligned_box_is_close_to_the_area_mixture():
    box = (0.3, 0.1, 0.9, 0.7)  # areas: TL 0.2 x 0.4, TR 0.4 x 0.4, BL 0.2 x 0.2, BR 0.4 x 0.2
    weights = torch.tensor([0.08, 0.16, 0.04, 0.08]) / 0.36
    logits = torch.cat([TOP_LOGIT * weights + SECOND_LOGIT * weights[[2, 3, 0, 1]], torch.zeros(1)])
    _, crop = targets(box)
    torch.testing.assert_close(crop, logits.softmax(0), rtol=0, atol=0.02)


def test_broadcast_image_label_is_one_hot_at_every_token():
    tokens = broadcast_image_label(torch.tensor([3, 0]), (2, 3), num_classes=4)
    assert tokens.shape == (2, 6, 4) and tokens.dtype == torch.float32
    assert torch.equal(tokens[0], torch.tensor([0.0, 0.0, 0.0, 1.0]).expand(6, 4))
    assert torch.equal(tokens[1], torch.tensor([1.0, 0.0, 0.0, 0.0]).expand(6, 4))


def test_packed_samples_stack_into_the_arguments_of_dense_token_targets():
    topk = quadrant_topk()[0]
    samples = []
    for label, flip_prob in ((1, 1.0), (2, 0.0)):
        results = {'img': quadrant_image(32, 48), 'img_path': f'{label}.png', 'gt_label': label,
                   'token_label_topk': topk.numpy()}
        packed = PackTokenLabelInputs()(RandomFlipWithBox(flip_prob)(results))
        assert packed['inputs'].shape == (3, 32, 48) and packed['inputs'].dtype == torch.uint8
        samples.append(packed['data_samples'])
    assert samples[0].img_path == '1.png'
    batch = stack_token_labels(samples)  # what the model's data preprocessor does
    assert batch.labels.tolist() == [1, 2] and batch.labels.dtype == torch.int64
    assert batch.topk.shape == (2, 2, 2, 8, 8) and batch.topk.dtype == torch.float16
    assert batch.boxes.tolist() == [[0.0, 0.0, 1.0, 1.0]] * 2 and batch.flips.tolist() == [True, False]
    assert torch.equal(batch.affines, IDENTITY.expand(2, 2, 3))
    tokens, _ = dense_token_targets(batch.topk, batch.boxes, batch.flips, batch.affines, (2, 2), NUM_CLASSES)
    assert tokens.argmax(-1).tolist() == [[1, 0, 3, 2], [0, 1, 2, 3]]


def test_samples_without_score_maps_pack_the_geometry_alone():
    packed = PackTokenLabelInputs()({'img': quadrant_image(32, 48), 'gt_label': 3})['data_samples']
    assert 'token_label_topk' not in packed and packed.gt_label.shape == ()
    assert packed.token_label_box.tolist() == [0.0, 0.0, 1.0, 1.0] and not packed.token_label_flip


def test_transforms_are_registered():
    names = ('RandomResizedCropWithBox', 'RandomFlipWithBox', 'RandAugmentWithAffine', 'PackTokenLabelInputs')
    for name in names:
        assert name in TRANSFORMS.module_dict
