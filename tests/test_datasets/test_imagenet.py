"""The ImageNet-layout data set with token-label maps, the map loader, and the stand-in annotator from masks."""
import random
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from lvseg_testing.tool_runner import run_tool
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

import lvseg  # noqa: F401  (registers the data set and transforms)
from lvseg.datasets.imagenet import ImageNetTokenLabelDataset
from lvseg.datasets.token_label_loading import LoadTokenLabelMap
from lvseg.demo.mask_label_maps import logit_scale, topk_map_from_mask, write_label_maps_from_masks
from lvseg.demo.synthetic import wnid, write_imagenet_layout
from lvseg.models.classifiers.data_preprocessor import stack_token_labels
from lvseg.models.classifiers.token_labels import dense_token_targets

REPO = Path(__file__).resolve().parents[2]
NUM_CLASSES, PER_CLASS, SIZE = 3, 2, (32, 32)
MAP_GRID = (8, 8)  # 4x4-pixel cells
WNIDS = tuple(wnid(k) for k in range(NUM_CLASSES))


def write_data(root: Path) -> Path:
    """3 classes x 2 train images of 32x32, with 8x8 token-label maps (top 3) from the exact masks."""
    write_imagenet_layout(root, num_classes=NUM_CLASSES, per_class_train=PER_CLASS, per_class_val=1,
                          image_size=SIZE)
    write_label_maps_from_masks(root / 'masks' / 'train', root / 'label_maps' / 'train', NUM_CLASSES, MAP_GRID,
                                k=NUM_CLASSES)
    return root


@pytest.fixture(scope='module')
def shared_root(tmp_path_factory) -> Path:
    """Data that no test changes."""
    return write_data(tmp_path_factory.mktemp('imagenet'))


@pytest.fixture
def own_root(shared_root, tmp_path) -> Path:
    """A copy of the data for a test that deletes or adds files."""
    return Path(shutil.copytree(shared_root, tmp_path / 'imagenet'))


def build(root: Path, **kwargs) -> ImageNetTokenLabelDataset:
    init_default_scope('mmseg')  # as in every config: lvseg registers in mmseg's registries
    return DATASETS.build(dict(type='ImageNetTokenLabelDataset', data_root=str(root), **kwargs))


def test_class_indices_follow_the_sorted_wnid_folders(shared_root):
    dataset = build(shared_root)

    assert dataset.metainfo['classes'] == WNIDS
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [(Path(info['img_path']).parent.name, info['gt_label']) for info in infos] == [
        (w, k) for k, w in enumerate(WNIDS) for _ in range(PER_CLASS)]
    assert all(Path(info['img_path']).is_file() for info in infos)
    assert not any('token_label_path' in info for info in infos)  # no label_map_root: no maps


def test_a_class_map_file_sets_the_class_indices_by_line(own_root):
    # reversed order, an extra wnid with no folder, and words after the wnid as in LOC_synset_mapping.txt
    (own_root / 'classes_map.txt').write_text('n00000003 three\nn09999999 unused\n\nn00000002\nn00000001 one\n')

    dataset = build(own_root, classes_file='classes_map.txt')

    assert dataset.metainfo['classes'] == ('n00000003', 'n09999999', 'n00000002', 'n00000001')
    labels = {Path(dataset.get_data_info(i)['img_path']).parent.name: dataset.get_data_info(i)['gt_label']
              for i in range(len(dataset))}
    assert labels == {'n00000003': 0, 'n00000002': 2, 'n00000001': 3}
    assert len(dataset) == NUM_CLASSES * PER_CLASS


def test_a_class_folder_missing_from_the_class_map_is_an_error(own_root):
    (own_root / 'classes_map.txt').write_text('n00000001\nn00000002\n')

    with pytest.raises(ValueError, match=r'classes_map\.txt lacks 1 class folders.*n00000003'):
        build(own_root, classes_file='classes_map.txt')


def test_empty_class_folders_and_missing_split_folders_are_errors_naming_the_folder(own_root):
    empty = own_root / 'train' / 'n00000004'
    empty.mkdir()
    (empty / 'notes.txt').write_text('not an image')

    with pytest.raises(FileNotFoundError, match=f'{empty} holds no image'):
        build(own_root)
    with pytest.raises(FileNotFoundError, match=f'{own_root / "test"}: no such image folder'):
        build(own_root, data_prefix=dict(img_path='test'))


def test_image_extensions_are_matched_in_any_case(own_root):
    folder = own_root / 'train' / WNIDS[0]
    (folder / f'{WNIDS[0]}_1.JPEG').rename(folder / 'a.jpg')
    (folder / f'{WNIDS[0]}_2.JPEG').rename(folder / 'b.Png')

    dataset = build(own_root)

    assert [Path(dataset.get_data_info(i)['img_path']).name for i in range(2)] == ['a.jpg', 'b.Png']


def test_data_infos_carry_the_official_map_path(shared_root):
    dataset = build(shared_root, label_map_root='label_maps/train')

    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        image = Path(info['img_path'])
        expected = shared_root / 'label_maps' / 'train' / image.parent.name / f'{image.stem}.pt'
        assert info['token_label_path'] == str(expected)
        assert expected.is_file()


def test_a_missing_map_is_an_error_naming_the_image_and_the_expected_map(own_root):
    image = own_root / 'train' / WNIDS[1] / f'{WNIDS[1]}_2.JPEG'
    label_map = own_root / 'label_maps' / 'train' / WNIDS[1] / f'{WNIDS[1]}_2.pt'
    label_map.unlink()

    with pytest.raises(FileNotFoundError) as error:
        build(own_root, label_map_root='label_maps/train')

    assert f'1 of {NUM_CLASSES * PER_CLASS} images' in str(error.value)
    assert f'{image} needs {label_map}' in str(error.value)


def test_broadcast_refuses_a_data_set_with_only_some_maps(own_root):
    (own_root / 'label_maps' / 'train' / WNIDS[0] / f'{WNIDS[0]}_1.pt').unlink()

    with pytest.raises(FileNotFoundError, match='cannot mix images with and without maps'):
        build(own_root, label_map_root='label_maps/train', missing_label_map='broadcast')


def test_broadcast_gives_a_data_set_without_maps_no_map_at_all(shared_root):
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadTokenLabelMap', num_classes=NUM_CLASSES),
                dict(type='PackTokenLabelInputs')]

    dataset = build(shared_root, label_map_root='no_maps_here', missing_label_map='broadcast', pipeline=pipeline)

    assert not any('token_label_path' in dataset.get_data_info(i) for i in range(len(dataset)))
    batch = stack_token_labels([dataset[i]['data_samples'] for i in range(len(dataset))])
    assert batch.topk is None  # the model broadcasts the image labels
    assert batch.labels.tolist() == [k for k in range(NUM_CLASSES) for _ in range(PER_CLASS)]


def test_broadcast_uses_the_maps_when_all_exist(shared_root):
    dataset = build(shared_root, label_map_root='label_maps/train', missing_label_map='broadcast')

    assert all('token_label_path' in dataset.get_data_info(i) for i in range(len(dataset)))


def load(tmp_path: Path, stored: object, num_classes: int = NUM_CLASSES) -> dict:
    path = tmp_path / 'map.pt'
    torch.save(stored, path)
    return LoadTokenLabelMap(num_classes=num_classes)({'token_label_path': str(path)})


def valid_topk(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    logits = torch.tensor([4.0, 1.0]).view(2, 1, 1).expand(2, 3, 3)
    indices = torch.tensor([2.0, 0.0]).view(2, 1, 1).expand(2, 3, 3)
    return torch.stack([logits, indices]).to(dtype)  # (2, k=2, 3, 3)


@pytest.mark.parametrize('dtype', [torch.float16, torch.float32])
def test_load_token_label_map_stores_a_valid_map_as_float16(tmp_path, dtype):
    results = load(tmp_path, valid_topk(dtype))

    assert results['token_label_topk'].dtype == torch.float16
    assert torch.equal(results['token_label_topk'], valid_topk(torch.float16))


@pytest.mark.parametrize('stored, error, message', [
    (torch.zeros(3, 2, 3, 3), ValueError, r'found shape \(3, 2, 3, 3\)'),
    (torch.zeros(2, 3, 3), ValueError, r'found shape \(2, 3, 3\)'),
    (valid_topk().index_put((torch.tensor(1), torch.tensor(0)), torch.tensor(3.0)), ValueError,
     'found class indices from 0 to 3'),
    (valid_topk().index_put((torch.tensor(1), torch.tensor(1)), torch.tensor(-1.0)), ValueError,
     'found class indices from -1 to 2'),
    (valid_topk().index_put((torch.tensor(1), torch.tensor(0)), torch.tensor(1.5)), ValueError,
     'found non-integral class indices, e.g. 1.5'),
    (valid_topk().index_put((torch.tensor(0),), torch.tensor(float('nan'))), ValueError, 'non-finite logits'),
    (valid_topk().long(), ValueError, 'found dtype torch.int64'),
    ({'topk': valid_topk()}, TypeError, 'found a builtins.dict'),
], ids=['shape', 'dims', 'index too large', 'negative index', 'fractional index', 'nan', 'integer', 'dict'])
def test_load_token_label_map_rejects_malformed_maps_naming_file_and_expectation(tmp_path, stored, error, message):
    with pytest.raises(error, match=message) as raised:
        load(tmp_path, stored)

    assert str(tmp_path / 'map.pt') in str(raised.value)
    assert 'expected a (2, k, h, w) float16/float32 tensor' in str(raised.value)
    assert f'class indices in [0, {NUM_CLASSES})' in str(raised.value)


def test_load_token_label_map_rejects_a_file_that_is_not_a_tensor_file(tmp_path):
    path = tmp_path / 'map.pt'
    path.write_bytes(b'not a torch file')

    with pytest.raises(ValueError, match=f'{path}: not a readable token-label map file'):
        LoadTokenLabelMap(num_classes=NUM_CLASSES)({'token_label_path': str(path)})


def test_load_token_label_map_passes_samples_without_a_map_through():
    results = LoadTokenLabelMap(num_classes=NUM_CLASSES)({'img_path': 'x.JPEG'})

    assert results == {'img_path': 'x.JPEG'}


def test_topk_map_from_mask_labels_each_cell_with_its_pixels_classes():
    mask = np.ones((8, 8), np.uint8)  # class index + 1: left half class 0 ...
    mask[:, 4:] = 2  # ... right half class 1

    topk = topk_map_from_mask(mask, num_classes=3, grid=(4, 4), k=2, confidence=0.9)

    assert topk.shape == (2, 2, 4, 4) and topk.dtype == torch.float16
    assert topk[1, 0].tolist() == [[0.0, 0.0, 1.0, 1.0]] * 4  # top-1 class per cell
    scale = logit_scale(3, 0.9)
    assert torch.allclose(topk[0, 0].float(), torch.full((4, 4), scale), atol=1e-3)
    assert torch.all(topk[0, 1] == 0)  # the runner-up covers nothing
    tokens, _ = dense_token_targets(topk[None], torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([False]),
                                    torch.eye(2, 3)[None], (4, 4), num_classes=3)
    assert torch.allclose(tokens.max(-1).values, torch.full((1, 16), 0.9), atol=1e-3)  # confident, as asked


def test_topk_map_from_mask_weights_pixels_by_their_area_in_each_cell():
    mask = np.ones((8, 8), np.uint8)
    mask[:, 4:] = 2

    topk = topk_map_from_mask(mask, num_classes=3, grid=(1, 3), k=3)

    scale = logit_scale(3, 0.9)
    # cells span 8/3 pixels: the middle one is half class 0, half class 1 (a tie ranks the lower index first)
    assert topk[1, :, 0].tolist() == [[0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [2.0, 2.0, 2.0]]
    assert torch.allclose(topk[0, :, 0].float(), torch.tensor([[scale, scale / 2, scale], [0, scale / 2, 0],
                                                               [0, 0, 0]]), atol=2e-3)


def test_written_maps_follow_the_official_layout_and_load(shared_root):
    masks = sorted((shared_root / 'masks' / 'train').glob('*/*.png'))
    maps = sorted((shared_root / 'label_maps' / 'train').rglob('*'))

    assert [p.relative_to(shared_root / 'label_maps' / 'train') for p in maps if p.is_file()] == [
        p.relative_to(shared_root / 'masks' / 'train').with_suffix('.pt') for p in masks]
    for mask_path in masks:
        map_path = shared_root / 'label_maps' / 'train' / mask_path.parent.name / f'{mask_path.stem}.pt'
        topk = LoadTokenLabelMap(NUM_CLASSES)({'token_label_path': str(map_path)})['token_label_topk']
        mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
        assert torch.equal(topk, topk_map_from_mask(mask, NUM_CLASSES, MAP_GRID, NUM_CLASSES))


def pure_object_tokens(sample, mask: np.ndarray, class_index: int, grid: int, margin: float) -> list[tuple]:
    """Tokens whose source region in the original image, widened by ``margin`` pixels, is all object."""
    x1, y1, x2, y2 = sample.token_label_box.tolist()
    height, width = mask.shape
    tokens = []
    for row, col in np.ndindex(grid, grid):
        source_col = grid - 1 - col if sample.token_label_flip else col
        left = (x1 + source_col / grid * (x2 - x1)) * width - margin
        right = (x1 + (source_col + 1) / grid * (x2 - x1)) * width + margin
        top = (y1 + row / grid * (y2 - y1)) * height - margin
        bottom = (y1 + (row + 1) / grid * (y2 - y1)) * height + margin
        rows = slice(max(0, int(np.floor(top))), int(np.ceil(bottom)))
        window = mask[rows, max(0, int(np.floor(left))):int(np.ceil(right))]
        if window.size and (window == class_index + 1).all():
            tokens.append((row, col))
    return tokens


def test_the_full_pipeline_gives_tokens_inside_the_object_the_image_class(shared_root):
    grid = 8  # 4-pixel tokens of the 32-pixel crop
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadTokenLabelMap', num_classes=NUM_CLASSES),
                dict(type='RandomResizedCropWithBox', size=32, scale=(0.3, 1.0)),
                dict(type='RandomFlipWithBox', prob=0.5), dict(type='PackTokenLabelInputs')]
    dataset = build(shared_root, label_map_root='label_maps/train', pipeline=pipeline)
    margin = 1.5 * SIZE[1] / MAP_GRID[1]  # pixels: RoIAlign's bilinear samples reach 1.5 map cells out
    checked, flipped = 0, 0
    for seed in range(24):
        random.seed(seed)
        samples = [dataset[i]['data_samples'] for i in range(len(dataset))]
        batch = stack_token_labels(samples)
        assert batch.topk.shape == (len(dataset), 2, NUM_CLASSES, *MAP_GRID)
        tokens, _ = dense_token_targets(batch.topk, batch.boxes, batch.flips, batch.affines, (grid, grid),
                                        NUM_CLASSES)
        classes = tokens.argmax(-1).view(-1, grid, grid)
        for index, sample in enumerate(samples):
            image_path = Path(sample.img_path)
            mask_path = shared_root / 'masks' / 'train' / image_path.parent.name / f'{image_path.stem}.png'
            mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
            for row, col in pure_object_tokens(sample, mask, int(sample.gt_label), grid, margin):
                assert classes[index, row, col] == sample.gt_label, (image_path, seed, row, col)
                checked += 1
            flipped += bool(sample.token_label_flip)
    assert checked > 60 and flipped > 0  # the check is not vacuous, and covers flipped crops


def test_make_demo_data_writes_label_maps_the_data_set_reads(tmp_path):
    out = tmp_path / 'data'
    result = run_tool('make_demo_data.py', 'imagenet', str(out), '--num-classes', '3', '--train', '2', '--val', '1',
                      '--size', '32', '--label-maps', '4', timeout=300)

    assert 'with 4x4 token-label maps' in result.stdout
    dataset = build(out, label_map_root='label_maps/train',
                    pipeline=[dict(type='LoadTokenLabelMap', num_classes=3)])
    assert len(dataset) == 6
    assert all(dataset[i]['token_label_topk'].shape == (2, 3, 4, 4) for i in range(len(dataset)))
    assert [p.name for p in tmp_path.iterdir()] == ['data']  # written atomically: no partial folder left
