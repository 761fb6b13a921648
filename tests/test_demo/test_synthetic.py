"""Behaviour of the synthetic scene dataset (lvseg/demo/synthetic.py) and its CLI (tools/make_demo_data.py)."""
import hashlib
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from lvseg_testing.tool_runner import run_tool

from lvseg.demo.synthetic import (
    SceneSpec,
    class_appearances,
    render_ade20k_scene,
    render_object_scene,
    wnid,
    write_ade20k_layout,
    write_imagenet_layout,
)

REPO = Path(__file__).resolve().parents[2]
SIZE = (48, 64)  # (H, W) pixels: small, and not square, so that swapped axes show
NUM_CLASSES = 6


@pytest.fixture(scope='module')
def ade(tmp_path_factory):
    return write_ade20k_layout(tmp_path_factory.mktemp('ade'), num_classes=NUM_CLASSES, num_train=12, num_val=4,
                               image_size=SIZE)


@pytest.fixture(scope='module')
def imagenet(tmp_path_factory):
    return write_imagenet_layout(tmp_path_factory.mktemp('imagenet'), num_classes=NUM_CLASSES, per_class_train=3,
                                 per_class_val=2, image_size=SIZE)


def read_labels(path: Path) -> np.ndarray:
    labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert labels is not None, path
    return labels


def file_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.mark.parametrize('folder, prefix, count', [('training', 'train', 12), ('validation', 'val', 4)])
def test_ade20k_layout_pairs_every_image_with_an_annotation_of_its_size(ade, folder, prefix, count):
    images = sorted((ade.root / 'images' / folder).iterdir())
    annotations = sorted((ade.root / 'annotations' / folder).iterdir())

    assert [p.name for p in images] == [f'ADE_{prefix}_{i:08d}.jpg' for i in range(1, count + 1)]
    assert [p.stem for p in annotations] == [p.stem for p in images]
    assert {p.suffix for p in annotations} == {'.png'}
    assert ade.num_images[folder] == count
    for image_path, annotation_path in zip(images, annotations):
        labels = read_labels(annotation_path)
        assert cv2.imread(str(image_path)).shape == (*SIZE, 3)
        assert labels.shape == SIZE and labels.dtype == np.uint8


def test_ade20k_annotations_label_every_class_and_ignore_only_boundaries(ade):
    labels = np.stack([read_labels(p) for p in sorted((ade.root / 'annotations' / 'training').iterdir())])

    assert labels.max() <= NUM_CLASSES
    assert set(np.unique(labels)) == set(range(NUM_CLASSES + 1))  # 0 (ignore) and all K classes
    assert 0 < np.mean(labels == 0) < 0.1  # ignore is a thin band, not whole regions


def test_validation_images_are_not_copies_of_training_images(ade):
    training = set(file_hashes(ade.root / 'images' / 'training').values())
    validation = set(file_hashes(ade.root / 'images' / 'validation').values())

    assert len(training) == 12 and len(validation) == 4
    assert not training & validation


def test_a_split_of_as_many_images_as_thing_classes_shows_every_class():
    spec = SceneSpec(num_stuff=2, shapes_per_image=(1, 1))  # only the shape that the index picks
    appearances = class_appearances(8)
    shown = set()
    for index in range(8 - spec.num_stuff):
        _, annotation = render_ade20k_scene(np.random.default_rng(index), index, appearances, SIZE, spec)
        shown |= set(np.unique(annotation))

    assert shown == set(range(9))  # 0 (ignore) and all 8 classes


def test_classes_txt_names_the_classes_in_order(ade):
    names = (ade.root / 'classes.txt').read_text().splitlines()

    assert names == list(ade.class_names) == [a.name for a in class_appearances(NUM_CLASSES)]
    assert len(set(names)) == NUM_CLASSES
    assert ade.metainfo == {'classes': ade.class_names, 'palette': [list(c) for c in ade.palette]}


def test_class_appearance_does_not_depend_on_the_number_of_classes():
    assert class_appearances(9)[:4] == class_appearances(4)


def test_same_seed_writes_identical_bytes_and_another_seed_does_not(tmp_path):
    def write(name, seed):
        root = tmp_path / name
        write_ade20k_layout(root, num_classes=4, num_train=3, num_val=2, image_size=(32, 32), seed=seed)
        write_imagenet_layout(root / 'in', num_classes=4, per_class_train=2, per_class_val=1, image_size=(32, 32),
                              seed=seed)
        return file_hashes(root)

    first, again, other = write('a', 0), write('b', 0), write('c', 1)

    assert first == again
    assert other.keys() == first.keys()
    changed = [name for name in first if first[name] != other[name] and not name.endswith('classes.txt')]
    assert len(changed) == len(first) - 2  # every image and mask, not the two classes.txt


def test_an_image_does_not_depend_on_how_many_images_are_written(tmp_path):
    write_ade20k_layout(tmp_path / 'few', num_classes=4, num_train=2, num_val=1, image_size=(32, 32))
    write_ade20k_layout(tmp_path / 'many', num_classes=4, num_train=5, num_val=3, image_size=(32, 32))
    few, many = file_hashes(tmp_path / 'few'), file_hashes(tmp_path / 'many')

    assert few.items() <= many.items()


def test_imagenet_class_folders_sort_in_class_order(imagenet):
    folders = [wnid(k) for k in range(NUM_CLASSES)]

    assert folders[0] == 'n00000001'
    assert sorted(p.name for p in (imagenet.root / 'train').iterdir()) == folders
    assert sorted(p.name for p in (imagenet.root / 'val').iterdir()) == folders
    assert imagenet.num_images == {'train': 3 * NUM_CLASSES, 'val': 2 * NUM_CLASSES}
    assert [p.name for p in sorted((imagenet.root / 'val' / folders[2]).iterdir())] == [
        'n00000003_1.JPEG', 'n00000003_2.JPEG']


def test_imagenet_train_masks_match_their_images_and_are_dominated_by_the_folder_class(imagenet):
    images = sorted((imagenet.root / 'train').rglob('*.JPEG'))
    assert len(images) == 3 * NUM_CLASSES
    for image_path in images:
        class_index = int(image_path.parent.name[1:]) - 1
        mask = read_labels(imagenet.root / 'masks' / 'train' / image_path.parent.name / f'{image_path.stem}.png')
        counts = np.bincount(mask.ravel(), minlength=NUM_CLASSES + 1)

        assert cv2.imread(str(image_path)).shape[:2] == mask.shape == SIZE
        assert counts[0] == 0 and len(counts) == NUM_CLASSES + 1  # every pixel has one of the K classes
        assert np.argmax(counts) == class_index + 1
    assert not (imagenet.root / 'masks' / 'val').exists()


def test_an_imagenet_object_grows_until_it_dominates_its_image():
    spec = SceneSpec(object_radius=(0.05, 0.05), distractors_per_image=(2, 2), distractor_radius=(0.2, 0.2))
    appearances = class_appearances(NUM_CLASSES)
    for seed in range(5):
        _, mask = render_object_scene(np.random.default_rng(seed), 1, appearances, SIZE, spec)
        counts = np.bincount(mask.ravel(), minlength=NUM_CLASSES + 1)

        assert counts[2] > np.delete(counts, 2).max()


def test_classes_are_told_apart_by_local_colour_and_texture(tmp_path):
    """Nearest-centroid per-pixel classification on val, with centroids from train, beats chance by far."""
    num_classes = 8
    dataset = write_ade20k_layout(tmp_path, num_classes=num_classes, num_train=16, num_val=8, image_size=(64, 64))

    def features_and_labels(folder):
        features, labels = [], []
        for image_path in sorted((dataset.root / 'images' / folder).iterdir()):
            image = cv2.imread(str(image_path)).astype(np.float32)
            grey = image.mean(axis=2)
            local_mean = cv2.blur(grey, (5, 5))
            local_std = np.sqrt(np.maximum(cv2.blur(grey * grey, (5, 5)) - local_mean ** 2, 0))
            edges = [cv2.blur(np.abs(cv2.Sobel(grey, cv2.CV_32F, dx, 1 - dx)), (5, 5)) for dx in (0, 1)]
            features.append(np.dstack([cv2.blur(image, (5, 5)), local_std, *edges]).reshape(-1, 6))
            labels.append(read_labels(dataset.root / 'annotations' / folder / f'{image_path.stem}.png').ravel())
        features, labels = np.concatenate(features), np.concatenate(labels)
        return features[labels > 0], labels[labels > 0] - 1

    train_x, train_y = features_and_labels('training')
    val_x, val_y = features_and_labels('validation')
    mean, std = train_x.mean(0), train_x.std(0)
    centroids = np.stack([(train_x[train_y == k] - mean).mean(0) / std for k in range(num_classes)])
    distances = (((val_x - mean) / std)[:, None, :] - centroids[None]) ** 2
    predicted = distances.sum(-1).argmin(1)
    recall = [np.mean(predicted[val_y == k] == k) for k in np.unique(val_y)]

    assert len(recall) == num_classes  # every class is in the val split
    colour_gaps = np.linalg.norm(centroids[:, None, :3] - centroids[None, :, :3], axis=-1)
    assert colour_gaps[~np.eye(num_classes, dtype=bool)].min() > 0.3  # distinct mean colours (in train stds)
    assert np.mean(recall) > 4 / num_classes  # balanced accuracy (mean recall over classes); chance is 1 / K


def run_cli(*args: str, expect_failure: bool = False) -> subprocess.CompletedProcess:
    return run_tool('make_demo_data.py', *args, timeout=300, expect_failure=expect_failure)


def test_cli_replaces_a_non_empty_folder_only_with_force(tmp_path):
    out = tmp_path / 'data'
    out.mkdir()
    (out / 'keep.txt').write_text('precious')
    args = ('ade20k', str(out), '--num-classes', '3', '--train', '3', '--val', '1', '--size', '32')

    refused = run_cli(*args, expect_failure=True)

    assert str(out) in refused.stderr and '--force' in refused.stderr
    assert (out / 'keep.txt').read_text() == 'precious'

    run_cli(*args, '--force')

    assert not (out / 'keep.txt').exists()
    assert len(list((out / 'images' / 'training').iterdir())) == 3
    assert (out / 'classes.txt').read_text().count('\n') == 3
    assert [p.name for p in tmp_path.iterdir()] == ['data']  # no partial or retired folder left beside it


def test_cli_leaves_nothing_behind_when_writing_fails(tmp_path):
    out = tmp_path / 'data'

    failed = run_cli('ade20k', str(out), '--num-classes', '2', '--train', '2', '--val', '1', '--size', '32',
                     expect_failure=True)

    assert 'num_stuff' in failed.stderr  # too few classes for two background classes and one shape class
    assert list(tmp_path.iterdir()) == []
