"""tools/check_dataset.py and lvseg/datasets/dataset_check.py: every image and mask pair of a config's data set,
on generated good data and on each fault (the tool's runs are slow)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from lvseg_testing.dataset_layouts import write_layout
from lvseg_testing.tool_runner import REPO, run_tool
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

from lvseg.datasets.dataset_check import check_dataset, image_size

CONFIG = REPO / 'configs/upernet_lvvit-s_8xb2-40k_own-data-512x512.py'
CLASSES = ('background', 'foreground', 'other')  # configs/_base_/datasets/own_data.py


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


@pytest.fixture
def root(tmp_path) -> Path:
    """A good own-data set: 3 training and 2 validation pairs of 64x96, labels 0, 1, 2."""
    write_layout('own_data', tmp_path / 'own', num_train=3, num_val=2)
    return tmp_path / 'own'


def train_dataset(root: Path, **changes) -> dict:
    dataset = Config.fromfile(CONFIG).train_dataloader.dataset
    dataset.update(data_root=str(root), **changes)
    return dataset.to_dict()


def counts_of(masks: list[Path], reduce_zero_label: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Pixels and images per class of the stored ``masks``, computed here."""
    pixels, images = np.zeros(len(CLASSES), np.int64), np.zeros(len(CLASSES), np.int64)
    for mask in masks:
        values = np.asarray(Image.open(mask)).astype(np.int64)
        labels = values[values != 0] - 1 if reduce_zero_label else values.ravel()
        found = np.bincount(labels, minlength=len(CLASSES))[:len(CLASSES)]
        pixels += found
        images += found > 0
    return pixels, images


# ------------------------------------------------------------------------------------------------ faults
def image_without_mask(root: Path) -> tuple[Path, str]:
    (root / 'masks/train/train_0001.png').unlink()
    return root / 'images/train/train_0001.jpg', 'image without mask'


def mask_without_image(root: Path) -> tuple[Path, str]:
    shutil.copy(root / 'masks/train/train_0000.png', root / 'masks/train/extra.png')
    return root / 'masks/train/extra.png', 'mask without image'


def size_mismatch(root: Path) -> tuple[Path, str]:
    mask = root / 'masks/train/train_0002.png'
    Image.open(mask).resize((48, 32), Image.NEAREST).save(mask)
    return mask, 'size mismatch'


def label_out_of_range(root: Path) -> tuple[Path, str]:
    mask = root / 'masks/train/train_0001.png'
    values = np.asarray(Image.open(mask)).copy()
    values[:5, :4] = 7  # 20 pixels of a fourth class in a 3-class data set
    Image.fromarray(values).save(mask)
    return mask, 'label out of range'


FAULTS = [image_without_mask, mask_without_image, size_mismatch, label_out_of_range]
FAULT_IDS = [fault.__name__ for fault in FAULTS]
EXPECTED_MESSAGE = {
    'image without mask': 'image without mask (expected {root}/masks/train/train_0001.png)',
    'mask without image': 'mask without image (expected {root}/images/train/extra.jpg)',
    'size mismatch': 'the mask is 32x48 but its image {root}/images/train/train_0002.jpg is 64x96 (height x width)',
    'label out of range': 'label values outside the classes and the ignore index: 7 (20 pixels); expected 0..2 '
                          '(3 classes) or 255 (ignore)',
}


def test_a_good_data_set_has_no_problem_and_counts_every_class(root):
    report = check_dataset(train_dataset(root), workers=2)
    assert report.problems == []
    assert (report.dataset_type, report.classes, report.pairs, report.ignore_index) == ('BaseSegDataset', CLASSES, 3,
                                                                                      255)
    pixels, images = counts_of(sorted((root / 'masks/train').glob('*.png')))
    assert report.pixels.tolist() == pixels.tolist() and report.images.tolist() == images.tolist()
    assert report.pixels.sum() == 3 * 64 * 96 and report.ignored == 0


@pytest.mark.parametrize('fault', FAULTS, ids=FAULT_IDS)
def test_each_fault_is_one_problem_naming_its_file(root, fault):
    path, kind = fault(root)
    report = check_dataset(train_dataset(root))
    assert [(problem.path, problem.kind) for problem in report.problems] == [(str(path), kind)]
    assert report.problems[0].message == EXPECTED_MESSAGE[kind].format(root=root)


def test_labels_are_checked_and_counted_after_reduce_zero_label(root):
    """Stored 0 is ignored and v counts as class v - 1: a stored 3 is the third class, a stored 4 outside."""
    mask = root / 'masks/train/train_0000.png'
    values = np.asarray(Image.open(mask)).copy()
    values[:2, :3] = 4
    values[-1, :5] = 3
    Image.fromarray(values).save(mask)
    report = check_dataset(train_dataset(root, reduce_zero_label=True))
    [problem] = report.problems
    assert problem.path == str(mask) and problem.message == (
        'label values outside the classes and the ignore index: 4 (6 pixels); with reduce_zero_label the 3 classes '
        'are stored as 1..3, 0 and 255 are ignored')
    stored = [np.asarray(Image.open(m)) for m in sorted((root / 'masks/train').glob('*.png'))]
    assert report.ignored == sum(int((s == 0).sum()) for s in stored)
    assert report.pixels.tolist() == [sum(int((s == v).sum()) for s in stored) for v in (1, 2, 3)]


def test_unreadable_files_and_masks_that_are_not_one_8_bit_channel(root):
    image = root / 'images/train/train_0000.jpg'
    image.write_bytes(b'not an image')
    rgb = root / 'masks/train/train_0001.png'
    Image.open(rgb).convert('RGB').save(rgb)
    wide = root / 'masks/train/train_0002.png'
    Image.fromarray(np.asarray(Image.open(wide)).astype(np.uint16) + 300).save(wide)  # 16-bit
    problems = {problem.path: problem for problem in check_dataset(train_dataset(root)).problems}
    assert problems[str(image)].kind == 'unreadable file'
    assert problems[str(rgb)].message.startswith('the mask is a RGB image (mode RGB); expected one 8-bit channel')
    assert problems[str(wide)].message.startswith('the mask is a 16-bit image (mode I;16)')


def test_split_files_name_their_missing_files(tmp_path):
    """Pascal VOC's layout: the pairs are the names in ImageSets/Segmentation/*.txt."""
    root = tmp_path / 'voc'
    write_layout('voc12aug', root, num_train=2, num_val=2)
    (root / 'JPEGImages/val_0000.jpg').unlink()  # its mask stays
    with open(root / 'ImageSets/Segmentation/val.txt', 'a') as listed:
        listed.write('nowhere\n')
    dataset = Config.fromfile(REPO / 'configs/upernet_lvvit-s_8xb2-40k_voc12aug-512x512.py').val_dataloader.dataset
    report = check_dataset(dict(dataset.to_dict(), data_root=str(root)))
    assert [(problem.path, problem.kind) for problem in report.problems] == [
        (f'{root}/SegmentationClass/val_0000.png', 'mask without image'),
        (f'{root}/JPEGImages/nowhere.jpg', 'missing pair')]
    assert report.problems[1].message.endswith(f'listed in {root}/ImageSets/Segmentation/val.txt')
    assert report.pairs == 3


def test_image_size_is_the_size_after_exif_orientation(tmp_path):
    """OpenCV, which mmseg's LoadImageFromFile uses, turns a picture by its EXIF orientation."""
    exif = Image.Exif()
    exif[274] = 6  # turned 90 degrees
    Image.new('RGB', (96, 64)).save(tmp_path / 'turned.jpg', exif=exif.tobytes())
    Image.new('RGB', (96, 64)).save(tmp_path / 'plain.jpg')
    assert image_size(str(tmp_path / 'turned.jpg')) == (96, 64) and image_size(str(tmp_path / 'plain.jpg')) == (64, 96)


# ----------------------------------------------------------------------------------------- the tool (slow)
def check(root: Path, *args: str, expect_failure: bool = False):
    options = [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]
    result = run_tool('check_dataset.py', str(CONFIG), *args, '--cfg-options', *options,
                      expect_failure=expect_failure)
    return result, result.stdout.splitlines()


@pytest.mark.slow
def test_the_tool_prints_the_class_counts_of_a_good_data_set(root):
    result, printed = check(root, '--workers', '2')
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    tables = {}
    key = None
    for line in printed:
        if match := re.match(r'^(\w+_dataloader\.dataset).*: BaseSegDataset, (\d+) image/mask pairs, 3 classes', line):
            key = match.group(1)
            tables[key] = {}
        elif match := re.match(r'^\s+(\d+)\s+(\S.*?)\s+(\d+)\s+[\d.]+%\s+(\d+)$', line):
            tables[key][match.group(2)] = (int(match.group(3)), int(match.group(4)))
    assert sorted(tables) == ['train_dataloader.dataset', 'val_dataloader.dataset']  # test shares val's data set
    for key, split in (('train_dataloader.dataset', 'train'), ('val_dataloader.dataset', 'val')):
        pixels, images = counts_of(sorted((root / 'masks' / split).glob('*.png')))
        assert tables[key] == {name: (int(p), int(i)) for name, p, i in zip(CLASSES, pixels, images)}
    assert 'val_dataloader.dataset (also test_dataloader.dataset): BaseSegDataset' in result.stdout
    assert printed[-1] == 'no problems: 3 pairs in train_dataloader.dataset; 2 pairs in val_dataloader.dataset'


@pytest.mark.slow
@pytest.mark.parametrize('fault', FAULTS, ids=FAULT_IDS)
def test_the_tool_names_each_fault_and_exits_2(root, fault):
    path, kind = fault(root)
    result, printed = check(root, '--split', 'train', expect_failure=True)
    assert result.returncode == 2
    assert f'{path}: {EXPECTED_MESSAGE[kind].format(root=root)}' in printed
    assert result.stderr.strip().splitlines() == [f'error: 1 problem (1 {kind}) in 3 pairs in train_dataloader.dataset']
