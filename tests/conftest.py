"""Shared fixtures: tiny generated data sets (ADE20K and ImageNet layouts). Tests make all their data."""
from pathlib import Path

import pytest


@pytest.fixture(scope='session')
def ade_root(tmp_path_factory) -> Path:
    """A synthetic ADE20K-layout folder: 8 classes, 8 training and 2 validation images of 96x128."""
    from lvseg.demo.synthetic import write_ade20k_layout

    root = tmp_path_factory.mktemp('ade')
    write_ade20k_layout(root, num_classes=8, num_train=8, num_val=2, image_size=(96, 128), seed=0)
    return root


@pytest.fixture(scope='session')
def imagenet_root(tmp_path_factory) -> Path:
    """A synthetic ImageNet-layout folder: 8 classes x 2 train / 1 val images of 64x64, 4x4 token-label maps
    in the official per-file layout under ``label_maps/train``."""
    from lvseg.demo.mask_label_maps import write_label_maps_from_masks
    from lvseg.demo.synthetic import write_imagenet_layout

    root = tmp_path_factory.mktemp('imagenet')
    write_imagenet_layout(root, num_classes=8, per_class_train=2, per_class_val=1, image_size=(64, 64), seed=0)
    write_label_maps_from_masks(root / 'masks/train', root / 'label_maps/train', num_classes=8, grid=(4, 4))
    return root
