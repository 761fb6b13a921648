"""Shared fixtures: tiny generated data sets (ADE20K and ImageNet layouts). Tests make all their data. The order
in which pytest-xdist hands the test files to its workers."""
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# The files whose end-to-end tests take longest (``make test`` prints the slowest), longest first. ``make test``
# hands whole files to the workers in collection order (``--dist loadfile --no-loadscope-reorder``), each worker
# taking the next file as it runs out: started first, the long files overlap each other instead of leaving one
# worker to finish the last of them alone.
LONGEST_FIRST = (
    'test_tools/test_gpu_check.py',
    'test_tools/test_export.py',
    'test_deploy/test_onnx_dynamic.py',
    'test_tools/test_train_test.py',
    'test_deploy/test_onnx_export.py',
    'test_models/test_fast_path.py',
    'test_tools/test_wheelhouse.py',
    'test_tools/test_pretrain.py',
    'test_checkpoints/test_file_kinds.py',
    'test_tools/test_transfer_configs.py',
    'test_engine/test_entry_points.py',
    'test_engine/test_resume.py',
    'test_engine/test_rank_randomness.py',
    'test_tools/test_pretrain_ranks.py',
    'test_engine/test_checkpoint_safety.py',
    'test_tools/test_released_files.py',
    'test_models/test_t2t_vit.py',
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files of :data:`LONGEST_FIRST` first, in its order; the others after them, in the order collected."""
    missing = [name for name in LONGEST_FIRST if not (TESTS / name).is_file()]
    if missing:
        raise pytest.UsageError(f'tests/conftest.py: LONGEST_FIRST names files that do not exist: {missing}')
    rank = {TESTS / name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.resolve(), len(rank)))


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
