"""Bad samples stop a run naming their files, or (policy 'skip') are replaced and counted."""
import shutil
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from lvseg_testing.reliability_runner import run_failing_tool
from lvseg_testing.tool_runner import DEMO_CONFIG, PRETRAIN_DEMO_CONFIG, demo_overrides
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

from lvseg.datasets.bad_sample import SKIPPED_KEY, BadSampleError
from lvseg.demo.mask_label_maps import write_label_maps_from_masks
from lvseg.demo.synthetic import write_imagenet_layout
from lvseg.engine.bad_samples import CheckedDataset, SkippedSamplesHook

IMAGE, ANNOTATION = 'images/training/ADE_train_{:08d}.jpg', 'annotations/training/ADE_train_{:08d}.png'
LOADING_STEPS = ('LoadImageFromFile', 'LoadAnnotations', 'PackSegInputs')


@pytest.fixture
def root(ade_root, tmp_path):
    """A copy of the synthetic ADE20K-layout data (8 classes, training images 1..8), to damage."""
    copy = tmp_path / 'ade'
    shutil.copytree(ade_root, copy)
    return copy


def checked(root, policy='error', split='train', loading_only=False) -> CheckedDataset:
    """The demo's data set on ``root``, checked; ``loading_only``: its pipeline without the random steps (the
    samples' ``inputs`` are the decoded images)."""
    init_default_scope('mmseg')
    dataset = Config.fromfile(DEMO_CONFIG)[f'{split}_dataloader'].dataset
    dataset.data_root = str(root)
    if loading_only:
        dataset.pipeline = [step for step in dataset.pipeline if step.type in LOADING_STEPS]
    return CheckedDataset(dataset.to_dict(), policy=policy)


def labels(root, n) -> np.ndarray:
    return np.array(Image.open(root / ANNOTATION.format(n)))


def first_error(root, n) -> str:
    """The error of training sample ``n`` (1-based file number) under the 'error' policy."""
    with pytest.raises(BadSampleError) as error:
        checked(root)[n - 1]
    return str(error.value)


def test_good_data_passes_unchanged(root):
    dataset = checked(root)
    np.random.seed(0)
    sample = dataset[0]
    np.random.seed(0)
    unchecked = dataset.dataset.pipeline.pipeline(dataset.dataset.get_data_info(0))  # the data set's own pipeline
    assert torch.equal(sample['inputs'], unchecked['inputs']) and SKIPPED_KEY not in sample['data_samples'].metainfo


def test_truncated_jpeg_is_named(root):
    path = root / IMAGE.format(1)
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) * 9 // 10])
    assert first_error(root, 1).startswith(f'image {path}, annotation {root / ANNOTATION.format(1)}: '
                                           'LoadImageFromFile failed: AssertionError: failed to load image')


def test_empty_image_is_named(root):
    (root / IMAGE.format(2)).write_bytes(b'')  # OpenCV alone says only "!buf.empty()"
    assert first_error(root, 2).endswith(f'{root / ANNOTATION.format(2)}: the image file is empty (0 bytes)')


def opencv_cmyk_to_rgb(cmyk: np.ndarray) -> np.ndarray:
    """OpenCV's CMYK -> RGB of an (Adobe, inverted) CMYK JPEG, from its ``(H, W, 4)`` planes as Pillow decodes them:
    ``R = (255 - K) - C (255 - K) / 256`` rounded down (imgcodecs' ``icvCvt_CMYK2BGR_8u`` on the stored inverted
    values). Pillow's ``convert('RGB')`` rounds ``(255 - C)(255 - K) / 255``: up to 2 levels apart."""
    cmy, white = cmyk[..., :3].astype(np.int64), 255 - cmyk[..., 3:].astype(np.int64)
    return (white - (cmy * white >> 8)).astype(np.uint8)


@pytest.mark.parametrize('mode', ['L', 'CMYK', 'I;16'])
def test_grayscale_cmyk_and_16_bit_images_load_as_opencv_decodes_them(root, mode):
    """mmcv's LoadImageFromFile decodes with OpenCV (``IMREAD_COLOR``); the expected pixels are worked out from the
    file: its grey plane in three channels; a 16-bit grey's high byte (OpenCV shifts right by 8, where Pillow's
    ``convert('RGB')`` clips at 255); CMYK by OpenCV's formula, with black rising across the width so that K
    takes part. OpenCV's own decode is the same."""
    path = root / IMAGE.format(3)
    image = Image.open(path)
    grey = np.array(image.convert('L'))
    if mode == 'I;16':  # a 16-bit PNG under the .jpg name: decoders go by content
        Image.fromarray(grey.astype(np.uint16) * 257).save(path, format='PNG')
        expected = np.repeat(grey[..., None], 3, axis=2)
    elif mode == 'L':
        image.convert('L').save(path, format='JPEG')
        expected = np.repeat(np.array(Image.open(path))[..., None], 3, axis=2)
    else:
        cmyk = np.array(image.convert('CMYK'))
        cmyk[..., 3] = np.linspace(0, 255, cmyk.shape[1]).astype(np.uint8)
        Image.fromarray(cmyk, 'CMYK').save(path, format='JPEG')
        expected = opencv_cmyk_to_rgb(np.array(Image.open(path)))
    expected_bgr = np.ascontiguousarray(expected[..., ::-1])
    assert np.array_equal(cv2.imread(str(path), cv2.IMREAD_COLOR), expected_bgr)
    sample = checked(root, loading_only=True)[2]
    assert sample['inputs'].dtype == torch.uint8
    assert torch.equal(sample['inputs'], torch.from_numpy(expected_bgr).permute(2, 0, 1))


def test_labels_beyond_the_classes_are_named(root):
    mask = labels(root, 4)
    mask[:3, :3] = 40  # 39 after reduce_zero_label; 8 classes, ignore 255
    Image.fromarray(mask).save(root / ANNOTATION.format(4))
    assert first_error(root, 4).endswith(': the annotation has labels [39] after reduce_zero_label; expected '
                                         '0..7 (8 classes) or 255 (ignore)')


def test_16_bit_annotation_is_refused_before_mmseg_wraps_it_to_8_bits(root):
    mask = labels(root, 5).astype(np.uint16)
    mask[0, 0] = 300  # mmseg's astype(uint8) would read 44
    Image.fromarray(mask).save(root / ANNOTATION.format(5))
    assert 'the annotation is a I;16 image; expected an 8-bit single-channel label image' in first_error(root, 5)


def test_annotation_of_another_size_is_named(root):
    Image.fromarray(labels(root, 6)[:50]).save(root / ANNOTATION.format(6))
    assert first_error(root, 6).endswith(': the annotation is 50x128 but the image is 96x128 (height x width)')


def test_images_and_annotations_must_pair_up(root):
    (root / ANNOTATION.format(7)).unlink()
    shutil.copy(root / ANNOTATION.format(8), root / 'annotations/training/ADE_train_00000099.png')
    with pytest.raises(BadSampleError) as error:
        checked(root)
    assert str(error.value) == (
        f"{root}/images/training: 1 images have no annotation file, e.g. ['{root / IMAGE.format(7)}']; 1 annotation "
        f"files have no image, e.g. ['{root}/annotations/training/ADE_train_00000099.png'] "
        "(bad_samples=dict(policy='skip') trains on the others)")
    dataset = checked(root, policy='skip')  # builds, and skips the image without annotation
    skipped = dataset[6]['data_samples'].metainfo[SKIPPED_KEY]
    assert skipped == [f'image {root / IMAGE.format(7)}, annotation {root / ANNOTATION.format(7)}: the annotation '
                       'file does not exist']


def test_skip_policy_returns_the_next_good_sample_and_records_the_skipped(root):
    (root / IMAGE.format(2)).write_bytes(b'')
    sample = checked(root, policy='skip')[1]
    assert sample['data_samples'].img_path == str(root / IMAGE.format(3))
    assert sample['data_samples'].metainfo[SKIPPED_KEY] == [
        f'image {root / IMAGE.format(2)}, annotation {root / ANNOTATION.format(2)}: the image file is empty (0 bytes)']


def test_validation_data_always_fails_fast(root):
    (root / 'images/validation/ADE_val_00000001.jpg').write_bytes(b'')
    with pytest.raises(BadSampleError, match='the image file is empty'):
        checked(root, policy='error', split='val')[0]


def test_skipped_samples_hook_logs_each_once_and_stops_past_the_cap():
    warnings = []
    runner = SimpleNamespace(logger=SimpleNamespace(warning=warnings.append), epoch=0,
                             train_dataloader=SimpleNamespace(dataset=SimpleNamespace(max_skipped=2)))

    def batch(*skipped):
        return {'data_samples': [SimpleNamespace(metainfo={SKIPPED_KEY: list(skipped)})]}

    hook = SkippedSamplesHook()
    hook.before_train_epoch(runner)
    hook.after_train_iter(runner, 0, batch('a.jpg: empty'))
    hook.after_train_iter(runner, 1, batch('a.jpg: empty', 'b.jpg: empty'))  # a.jpg again: not a new one
    hook.after_train_epoch(runner)
    assert warnings == ['skipped a bad training sample: a.jpg: empty', 'skipped a bad training sample: b.jpg: empty',
                        'epoch 1: skipped bad training samples 3 times (2 distinct samples in this run so far)']
    with pytest.raises(BadSampleError, match='3 bad training samples skipped, more than max_skipped=2; the last: '
                                             'c.jpg: empty'):
        hook.after_train_iter(runner, 2, batch('c.jpg: empty'))


def test_token_label_map_of_another_class_count_is_named(tmp_path):
    root = tmp_path / 'in'
    write_imagenet_layout(root, num_classes=6, per_class_train=1, per_class_val=1, image_size=(32, 32), seed=0)
    write_label_maps_from_masks(root / 'masks/train', root / 'label_maps/train', num_classes=6, grid=(2, 2))
    bad_map = sorted((root / 'label_maps/train').rglob('*.pt'))[0]
    topk = torch.load(bad_map, weights_only=True)
    topk[1, 0, 0, 0] = 6  # a class index beyond the data set's 6 classes
    torch.save(topk, bad_map)
    init_default_scope('mmseg')
    dataset = Config.fromfile(PRETRAIN_DEMO_CONFIG).train_dataloader.dataset
    dataset.update(data_root=str(root), pipeline=[dict(type='LoadImageFromFile'),
                                                  dict(type='LoadTokenLabelMap', num_classes=6)])
    with pytest.raises(BadSampleError) as error:
        CheckedDataset(dataset.to_dict())[0]
    assert str(error.value).startswith(f'image {root}/train/{bad_map.parent.name}/')
    assert f'token-label map {bad_map}: LoadTokenLabelMap failed: ValueError' in str(error.value)


@pytest.mark.slow
def test_train_tool_names_a_bad_image_read_by_a_dataloader_worker(root, tmp_path):
    (root / IMAGE.format(5)).write_bytes(b'')
    failed = run_failing_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(tmp_path / 'work'),
                              *demo_overrides(root), 'train_dataloader.num_workers=1')
    assert failed.stderr.strip().splitlines()[-1] == (
        f'error: image {root / IMAGE.format(5)}, annotation {root / ANNOTATION.format(5)}: the image file is empty '
        '(0 bytes)')


@pytest.mark.slow
def test_train_tool_with_skip_policy_stops_past_max_skipped(root, tmp_path):
    for n in (2, 5):
        (root / IMAGE.format(n)).write_bytes(b'')
    failed = run_failing_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(tmp_path / 'work'),
                              *demo_overrides(root, iters=8), 'bad_samples.policy=skip', 'bad_samples.max_skipped=1',
                              'train_dataloader.sampler.shuffle=False')
    assert 'skipped a bad training sample: image' in failed.stdout + failed.stderr
    assert failed.stderr.strip().splitlines()[-1].startswith(
        'error: 2 bad training samples skipped, more than max_skipped=1; the last: image')
