"""The packed token-label store: writing, resuming, concurrent writers, reading, validation, conversion, data set."""
import argparse
import json
import multiprocessing
import os
import pickle
import re
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from lvseg_testing.tool_runner import REPO, import_tool, run_tool
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

import lvseg  # noqa: F401  (registers the data set and transforms)
from lvseg.datasets.imagenet import label_map_path, list_image_keys
from lvseg.datasets.label_store import LabelStore, LabelStoreError, LabelStoreWriter, validate
from lvseg.datasets.label_store import writer as label_store_writer
from lvseg.datasets.label_store_convert import pack_label_maps, unpack_label_store
from lvseg.datasets.token_label_loading import LoadTokenLabelMap, read_token_label_map
from lvseg.demo.mask_label_maps import write_label_maps_from_masks
from lvseg.demo.synthetic import write_imagenet_layout

K, GRID, NUM_CLASSES, NUM_IMAGES = 2, (3, 4), 7, 6


def keys_of(count: int) -> list[str]:
    return [f'n{i % 3:08d}/n{i % 3:08d}_{i}.JPEG' for i in range(count)]


def random_maps(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(count, K, 3, 4) float16 logits (with float16's awkward values) and int64 class indices."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(0, 4, size=(count, K, *GRID)).astype(np.float16)
    scores.flat[:4] = [-0.0, 65504, np.float16(6e-8), -65504]  # negative zero, the extremes, a subnormal
    return scores, rng.integers(0, NUM_CLASSES, size=(count, K, *GRID))


def writer_at(root: Path, keys=None, **changes) -> LabelStoreWriter:
    settings = dict(keys=keys_of(NUM_IMAGES) if keys is None else keys, k=K, grid=GRID, num_classes=NUM_CLASSES,
                    annotator='test maps')
    return LabelStoreWriter(root, **{**settings, **changes})


def full_store(root: Path) -> tuple[np.ndarray, np.ndarray]:
    scores, indices = random_maps(NUM_IMAGES)
    writer = writer_at(root)
    writer.write(np.arange(NUM_IMAGES), scores, indices)
    writer.finish()
    return scores, indices


def official(scores: np.ndarray, indices: np.ndarray, row: int) -> torch.Tensor:
    return torch.stack([torch.from_numpy(scores[row]), torch.from_numpy(indices[row]).to(torch.float16)])


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Both float16 of one shape with identical bits (so -0.0 differs from 0.0)."""
    same_kind = a.dtype == b.dtype == torch.float16 and a.shape == b.shape
    return same_kind and torch.equal(a.view(torch.int16), b.view(torch.int16))


def test_written_rows_read_back_exactly_in_the_official_layout(tmp_path):
    scores, indices = random_maps(NUM_IMAGES)
    writer = writer_at(tmp_path / 'store')
    writer.write([4, 1, 3], scores[[4, 1, 3]], indices[[4, 1, 3]])  # batches out of row order
    writer.write(torch.tensor([0, 2, 5]), torch.from_numpy(scores[[0, 2, 5]]).float(),
                 torch.from_numpy(indices[[0, 2, 5]]))  # tensors, float32 logits
    writer.finish()

    store = LabelStore(tmp_path / 'store')

    assert len(store) == NUM_IMAGES and store.keys == tuple(keys_of(NUM_IMAGES))
    for row, key in enumerate(keys_of(NUM_IMAGES)):
        assert store.row_of(key) == row
        assert same_bits(store.get(key), official(scores, indices, row))
        assert same_bits(store.get(row), official(scores, indices, row))
    with pytest.raises(KeyError, match='has no row in label store'):
        store.get('n00000000/absent.JPEG')


def test_the_store_is_self_describing_npy_files_a_key_list_and_a_header(tmp_path):
    scores, indices = full_store(tmp_path / 'store')

    assert sorted(p.name for p in tmp_path.iterdir()) == ['store']  # no leftover from the creation
    assert np.array_equal(np.load(tmp_path / 'store' / 'scores.npy'), scores)
    assert np.load(tmp_path / 'store' / 'indices.npy').dtype == np.int16
    assert np.array_equal(np.load(tmp_path / 'store' / 'indices.npy'), indices)
    assert np.load(tmp_path / 'store' / 'done.npy').tolist() == [1] * NUM_IMAGES
    assert (tmp_path / 'store' / 'keys.txt').read_text().splitlines() == keys_of(NUM_IMAGES)
    assert json.loads((tmp_path / 'store' / 'header.json').read_text()) == {
        'format': 'lvseg-label-store', 'version': 1, 'k': K, 'grid': list(GRID), 'num_classes': NUM_CLASSES,
        'annotator': 'test maps', 'dtypes': {'scores': 'float16', 'indices': 'int16', 'done': 'uint8'},
        'num_images': NUM_IMAGES, 'complete': True}


@pytest.mark.parametrize('umask, mode', [(0o022, 0o755), (0o077, 0o700)])
def test_the_store_folder_gets_the_mode_mkdir_gives_under_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        full_store(tmp_path / 'store')
    finally:
        os.umask(old)

    assert (tmp_path / 'store').stat().st_mode & 0o7777 == mode  # not mkdtemp's 0o700 under 0o022


def test_a_crash_during_creation_leaves_nothing_that_looks_like_a_store(tmp_path, monkeypatch):
    def crash(*args):
        raise OSError('disk full')

    monkeypatch.setattr(label_store_writer, 'write_header', crash)

    with pytest.raises(OSError, match='disk full'):
        writer_at(tmp_path / 'store')
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_store_resumes_with_the_rows_left(tmp_path):
    scores, indices = random_maps(NUM_IMAGES)
    first = writer_at(tmp_path / 'store')
    first.write([0, 2, 4], scores[[0, 2, 4]], indices[[0, 2, 4]])
    del first  # "crash": no finish()

    with pytest.raises(LabelStoreError, match=r'is incomplete \(3 of 6 rows written'):
        LabelStore(tmp_path / 'store')
    resumed = writer_at(tmp_path / 'store')
    assert resumed.rows_to_do().tolist() == [1, 3, 5]
    assert resumed.rows_to_do(range(0, 3)).tolist() == [1] and resumed.rows_to_do(range(3, 6)).tolist() == [3, 5]
    assert resumed.rows_to_do(range(4, 5)).tolist() == []
    resumed.write([1, 3, 5], scores[[1, 3, 5]], indices[[1, 3, 5]])
    resumed.finish()

    store = LabelStore(tmp_path / 'store')
    assert all(same_bits(store.get(row), official(scores, indices, row)) for row in range(NUM_IMAGES))
    assert writer_at(tmp_path / 'store').rows_to_do().tolist() == []  # a complete store has nothing left


def test_finish_refuses_rows_left_and_a_complete_store_is_not_written_again(tmp_path):
    scores, indices = random_maps(NUM_IMAGES)
    writer = writer_at(tmp_path / 'store')
    writer.write([0], scores[:1], indices[:1])

    with pytest.raises(LabelStoreError, match=r'5 of 6 rows are not written yet, e.g. row 1 \(n00000001/'):
        writer.finish()
    assert not json.loads((tmp_path / 'store' / 'header.json').read_text())['complete']
    writer.write(np.arange(1, NUM_IMAGES), scores[1:], indices[1:])
    writer.finish()
    with pytest.raises(LabelStoreError, match='is complete'):
        writer.write([0], scores[:1], indices[:1])


@pytest.mark.parametrize('changes, message', [
    (dict(k=3), r'exists with k 2 \(not 3\)'),
    (dict(annotator='another'), r"annotator 'test maps' \(not 'another'\)"),
    (dict(keys=keys_of(NUM_IMAGES)[::-1]),
     "exists with other keys: row 0 is 'n00000000/n00000000_0.JPEG', not 'n00000002/n00000002_5.JPEG'"),
])
def test_reopening_with_other_settings_or_keys_is_refused(tmp_path, changes, message):
    writer_at(tmp_path / 'store')

    with pytest.raises(LabelStoreError, match=message):
        writer_at(tmp_path / 'store', **changes)


def test_a_batch_with_invalid_maps_is_refused_whole(tmp_path):
    scores, indices = random_maps(2)
    writer = writer_at(tmp_path / 'store')
    too_large = indices.copy()
    too_large[1, 0, 0, 0] = NUM_CLASSES
    overflowing = scores.astype(np.float32)
    overflowing[0, 1, 2, 3] = 1e5  # not finite as float16

    with pytest.raises(ValueError, match=r'class indices outside \[0, 7\) in row 1 \(n00000001/n00000001_1.JPEG\)'):
        writer.write([0, 1], scores, too_large)
    with pytest.raises(ValueError, match=r'non-finite scores \(as float16\) in row 0 '):
        writer.write([0, 1], overflowing, indices)
    with pytest.raises(ValueError, match='indices integers'):
        writer.write([0, 1], scores, indices.astype(np.float32))
    with pytest.raises(ValueError, match=r'shape \(B, k, h, w\) = \(2, 2, 3, 4\)'):
        writer.write([0, 1], scores[:, :1], indices[:, :1])
    assert writer.rows_to_do().tolist() == list(range(NUM_IMAGES))


def write_share(root: str, block: range, start: multiprocessing.Barrier) -> None:
    """One of several concurrent writers: attach, then write its block's rows one at a time."""
    writer = LabelStoreWriter.open_existing(root)
    scores, indices = random_maps(len(writer.keys))
    start.wait(timeout=60)
    for row in writer.rows_to_do(block):
        writer.write([row], scores[[row]], indices[[row]])


def test_two_processes_writing_disjoint_rows_at_once_give_a_complete_valid_store(tmp_path):
    count = 40
    writer = writer_at(tmp_path / 'store', keys=keys_of(count))  # the "rank 0" creation, before the barrier
    context = multiprocessing.get_context('fork')
    start = context.Barrier(2)
    processes = [context.Process(target=write_share, args=(str(tmp_path / 'store'), block, start))
                 for block in (range(0, 20), range(20, count))]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)

    assert [process.exitcode for process in processes] == [0, 0]
    writer.finish()
    store = LabelStore(tmp_path / 'store', check_values=True)
    scores, indices = random_maps(count)
    assert all(same_bits(store.get(row), official(scores, indices, row)) for row in range(count))
    assert validate(tmp_path / 'store').ok


def truncate_scores(root: Path) -> None:
    path = root / 'scores.npy'
    path.write_bytes(path.read_bytes()[:-10])


def widen_grid_in_header(root: Path) -> None:
    header = json.loads((root / 'header.json').read_text())
    header['grid'] = [3, 5]
    (root / 'header.json').write_text(json.dumps(header))


def drop_a_key(root: Path) -> None:
    lines = (root / 'keys.txt').read_text().splitlines(keepends=True)
    (root / 'keys.txt').write_text(''.join(lines[:-1]))


def clear_a_done_flag(root: Path) -> None:
    done = np.load(root / 'done.npy', mmap_mode='r+')
    done[2] = 0
    done.flush()


@pytest.mark.parametrize('corrupt, problem, reported', [
    (truncate_scores, r'scores.npy is truncated: \d+ bytes, expected \d+', None),
    (widen_grid_in_header, r'scores.npy holds float16 \(6, 2, 3, 4\), but header.json implies float16 '
                           r'\(6, 2, 3, 5\)', None),
    (lambda root: (root / 'done.npy').unlink(), 'done.npy is missing', None),
    (lambda root: (root / 'header.json').unlink(), 'header.json is missing', None),
    (drop_a_key, 'keys.txt lists 5 images, header.json says 6', None),
    (clear_a_done_flag, 'is marked complete but only 5 of 6 rows are flagged done', '1 of 6 rows are not written'),
], ids=['truncated array', 'header shape disagrees', 'missing array', 'missing header', 'missing key',
        'done flag cleared'])
def test_a_damaged_store_is_refused_naming_the_folder_and_the_damage(tmp_path, corrupt, problem, reported):
    root = tmp_path / 'store'
    full_store(root)
    corrupt(root)

    with pytest.raises(LabelStoreError, match=problem) as error:
        LabelStore(root)
    assert str(error.value).startswith(f'label store {root}: ')
    report = validate(root)
    assert not report.ok
    assert any(re.search(reported or problem, found) for found in report.problems), report.problems


def test_out_of_range_indices_and_non_finite_scores_are_found_when_values_are_checked(tmp_path):
    root = tmp_path / 'store'
    full_store(root)
    indices = np.load(root / 'indices.npy', mmap_mode='r+')
    indices[3, 1, 2, 0] = NUM_CLASSES
    indices.flush()
    scores = np.load(root / 'scores.npy', mmap_mode='r+')
    scores[5, 0, 0, 0] = np.inf
    scores.flush()

    LabelStore(root)  # the structure is sound: opening checks no value
    with pytest.raises(LabelStoreError, match=r'1 rows hold class indices outside \[0, 7\), e.g. row 3 '
                                              r'\(n00000000/n00000000_3.JPEG\)'):
        LabelStore(root, check_values=True)
    assert sorted(validate(root).problems) == [
        '1 rows hold class indices outside [0, 7), e.g. row 3 (n00000000/n00000000_3.JPEG)',
        '1 rows hold non-finite scores (as float16), e.g. row 5 (n00000002/n00000002_5.JPEG)']


def test_validate_reports_images_without_a_row_and_rows_not_listed(tmp_path):
    full_store(tmp_path / 'store')
    images = keys_of(NUM_IMAGES)[1:] + ['n00000009/new.JPEG']

    report = validate(tmp_path / 'store', images)

    assert report.problems == [] and report.num_done == NUM_IMAGES and report.complete
    assert report.missing == ['n00000009/new.JPEG'] and report.extra == [keys_of(NUM_IMAGES)[0]]
    assert not report.ok and 'images without a row: 1' in str(report)
    assert validate(tmp_path / 'store', keys_of(NUM_IMAGES)[1:]).ok  # extra rows are harmless


def test_validate_reports_an_unfinished_store(tmp_path):
    scores, indices = random_maps(NUM_IMAGES)
    writer_at(tmp_path / 'store').write([0, 1], scores[:2], indices[:2])

    report = validate(tmp_path / 'store')

    assert report.problems == ['4 of 6 rows are not written (the store is incomplete)']
    assert (report.num_done, report.complete, report.ok) == (2, False, False)


def test_a_store_pickles_without_its_mappings_and_reads_after(tmp_path):
    scores, indices = full_store(tmp_path / 'store')
    store = LabelStore(tmp_path / 'store')
    store.get(0)  # maps the files in this process

    copy = pickle.loads(pickle.dumps(store))

    assert len(pickle.dumps(store)) < scores.nbytes + 2000  # keys and header, not the arrays' mappings
    assert same_bits(copy.get(keys_of(NUM_IMAGES)[4]), official(scores, indices, 4))


def write_official(root: Path, count: int) -> list[str]:
    scores, indices = random_maps(count)
    keys = keys_of(count)
    for row, key in enumerate(keys):
        path = root / label_map_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(official(scores, indices, row), path)
    return keys


def test_official_files_to_a_store_and_back_are_bit_exact(tmp_path):
    keys = write_official(tmp_path / 'official', NUM_IMAGES)

    assert pack_label_maps(tmp_path / 'official', tmp_path / 'store', keys, NUM_CLASSES, 'test') == NUM_IMAGES
    assert unpack_label_store(tmp_path / 'store', tmp_path / 'again') == NUM_IMAGES

    originals = sorted(p.relative_to(tmp_path / 'official') for p in (tmp_path / 'official').rglob('*.pt'))
    assert sorted(p.relative_to(tmp_path / 'again') for p in (tmp_path / 'again').rglob('*.pt')) == originals
    for relative in originals:
        assert same_bits(read_token_label_map(str(tmp_path / 'again' / relative)),
                         read_token_label_map(str(tmp_path / 'official' / relative)))


def test_packing_resumes_and_names_missing_or_misshapen_maps(tmp_path):
    keys = write_official(tmp_path / 'official', NUM_IMAGES)
    scores, indices = random_maps(NUM_IMAGES)
    writer_at(tmp_path / 'store', annotator='test').write([0, 1], scores[:2], indices[:2])  # interrupted

    assert pack_label_maps(tmp_path / 'official', tmp_path / 'store', keys, NUM_CLASSES, 'test') == 4
    assert LabelStore(tmp_path / 'store').keys == tuple(keys)
    with pytest.raises(FileNotFoundError, match=f"1 of 7 images have no map under .*: n00000000/extra.JPEG needs "
                                                f"{tmp_path / 'official' / 'n00000000' / 'extra.pt'}"):
        pack_label_maps(tmp_path / 'official', tmp_path / 'other', keys + ['n00000000/extra.JPEG'], NUM_CLASSES,
                        'test')
    misshapen = tmp_path / 'official' / label_map_path(keys[3])
    torch.save(torch.zeros(2, K, 3, 3, dtype=torch.float16), misshapen)
    with pytest.raises(ValueError, match=rf'{misshapen}: map of shape \(2, 2, 3, 3\), but the first map has'):
        pack_label_maps(tmp_path / 'official', tmp_path / 'other', keys, NUM_CLASSES, 'test')


SYNTHETIC_CLASSES, SYNTHETIC_GRID = 3, (4, 4)


@pytest.fixture(scope='module')
def imagenet_root(tmp_path_factory) -> Path:
    """3 classes x 2 train images of 32x32, with token-label map files and the same maps packed in a store."""
    root = tmp_path_factory.mktemp('imagenet')
    write_imagenet_layout(root, num_classes=SYNTHETIC_CLASSES, per_class_train=2, per_class_val=1,
                          image_size=(32, 32))
    write_label_maps_from_masks(root / 'masks' / 'train', root / 'label_maps' / 'train', SYNTHETIC_CLASSES,
                                SYNTHETIC_GRID, k=SYNTHETIC_CLASSES)
    pack_label_maps(root / 'label_maps' / 'train', root / 'label_store' / 'train', list_image_keys(root / 'train'),
                    SYNTHETIC_CLASSES, 'from masks')
    return root


def build(root: Path, **kwargs):
    init_default_scope('mmseg')
    return DATASETS.build(dict(type='ImageNetTokenLabelDataset', data_root=str(root),
                               pipeline=[dict(type='LoadTokenLabelMap', num_classes=SYNTHETIC_CLASSES)], **kwargs))


def test_the_data_set_reads_the_same_maps_from_the_store_as_from_the_files(imagenet_root):
    from_files = build(imagenet_root, label_map_root='label_maps/train')
    from_store = build(imagenet_root, label_store='label_store/train')

    assert len(from_store) == len(from_files) == 6
    for i in range(len(from_store)):
        info = from_store.get_data_info(i)
        image = Path(info['img_path'])
        assert info['token_label_key'] == f'{image.parent.name}/{image.name}'
        assert info['token_label_store'] == str(imagenet_root / 'label_store' / 'train')
        assert 'token_label_path' not in info
        a, b = from_store[i]['token_label_topk'], from_files[i]['token_label_topk']
        assert a.shape == (2, SYNTHETIC_CLASSES, *SYNTHETIC_GRID) and same_bits(a, b)


def test_the_data_set_names_an_image_the_store_lacks(imagenet_root, tmp_path):
    root = Path(shutil.copytree(imagenet_root, tmp_path / 'imagenet'))
    extra = root / 'train' / 'n00000002' / 'late.JPEG'
    shutil.copy(root / 'train' / 'n00000002' / 'n00000002_1.JPEG', extra)

    with pytest.raises(FileNotFoundError) as error:
        build(root, label_store='label_store/train')

    assert f"1 of 7 images of {root / 'train'} have no token-label map: {extra} needs a row " \
           f"'n00000002/late.JPEG' in label store {root / 'label_store' / 'train'}" in str(error.value)


def test_a_store_option_is_checked_at_build_time(imagenet_root, tmp_path):
    with pytest.raises(ValueError, match='not both'):
        build(imagenet_root, label_map_root='label_maps/train', label_store='label_store/train')
    with pytest.raises(LabelStoreError, match='no such folder'):
        build(imagenet_root, label_store='no_store_here')
    broadcast = build(imagenet_root, label_store='no_store_here', missing_label_map='broadcast')
    assert not any('token_label_key' in broadcast.get_data_info(i) for i in range(len(broadcast)))
    with pytest.raises(ValueError, match='holds maps over 3 classes, but LoadTokenLabelMap has num_classes=5'):
        LoadTokenLabelMap(num_classes=5)(dict(token_label_store=str(imagenet_root / 'label_store' / 'train'),
                                              token_label_key=list_image_keys(imagenet_root / 'train')[0]))


PRETRAIN_CONFIG = REPO / 'configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py'


def label_store_help(capsys, monkeypatch) -> str:
    """``tools/label_store.py --help`` as the tool prints it."""
    monkeypatch.setattr(sys, 'argv', ['label_store.py', '--help'])
    with pytest.raises(SystemExit):
        import_tool('label_store').parse_args()
    return capsys.readouterr().out


def cfg_options_of(command: str) -> dict:
    """The ``--cfg-options`` of a shell command line, parsed as the tools parse them (mmengine's DictAction)."""
    words = shlex.split(command)
    options = words[words.index('--cfg-options') + 1:]
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *options]).cfg_options


def test_the_helps_command_to_train_from_a_store_builds_the_pretraining_data_set(imagenet_root, capsys,
                                                                                   monkeypatch):
    text = label_store_help(capsys, monkeypatch)
    # the help keeps the line breaks of its examples: a continued line ends with a backslash
    assert re.search(r'data/imagenet/label_store/train \\\n +--images data/imagenet/train', text)
    command = re.search(r'^ *(tools/dist_pretrain\.sh .*?)$(?<!\\)', text, re.M | re.S).group(1)
    options = cfg_options_of(command.replace('\\\n', ' '))
    readme = (REPO / 'README.md').read_text()
    readme_command = re.search(r'`(tools/dist_pretrain\.sh [^`]*--cfg-options[^`]*)`', readme).group(1)
    assert cfg_options_of(readme_command) == options == {  # one command, one folder name, in both places
        'train_dataloader.dataset.label_store': 'label_store/train', 'train_dataloader.dataset.label_map_root': None}
    cfg = Config.fromfile(PRETRAIN_CONFIG)
    assert cfg.train_dataloader.dataset.label_map_root == 'label_top5_train_nfnet'  # what the overrides clear
    cfg.merge_from_dict({**options, 'train_dataloader.dataset.data_root': str(imagenet_root)})
    init_default_scope(cfg.default_scope)

    dataset = DATASETS.build(cfg.train_dataloader.dataset)

    assert len(dataset) == 6
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        assert info['token_label_store'] == str(imagenet_root / 'label_store' / 'train')
        assert 'token_label_path' not in info


def test_setting_only_the_store_over_an_inherited_map_root_says_what_to_clear(imagenet_root):
    cfg = Config.fromfile(PRETRAIN_CONFIG)
    cfg.merge_from_dict({'train_dataloader.dataset.label_store': 'label_store/train',
                         'train_dataloader.dataset.data_root': str(imagenet_root)})
    init_default_scope(cfg.default_scope)

    with pytest.raises(ValueError) as error:
        DATASETS.build(cfg.train_dataloader.dataset)

    assert str(error.value).endswith("got 'label_top5_train_nfnet' and 'label_store/train'. To read the store, also "
                                     'set label_map_root=None (e.g. --cfg-options '
                                     'train_dataloader.dataset.label_map_root=None)')


@pytest.mark.slow
def test_the_tool_packs_validates_describes_and_unpacks(imagenet_root, tmp_path):
    root = imagenet_root
    run_tool('label_store.py', 'pack', str(root / 'label_maps' / 'train'), str(tmp_path / 'store'), '--images',
             str(root / 'train'), '--num-classes', str(SYNTHETIC_CLASSES), '--annotator', 'stand-in')
    checked = run_tool('label_store.py', 'validate', str(tmp_path / 'store'), '--images', str(root / 'train'))
    info = run_tool('label_store.py', 'info', str(tmp_path / 'store'))
    run_tool('label_store.py', 'unpack', str(tmp_path / 'store'), str(tmp_path / 'again'))

    assert 'OK; 6 of 6 rows written, complete: True' in checked.stdout
    assert 'images without a row: 0' in checked.stdout
    assert '"annotator": "stand-in"' in info.stdout and '"num_images": 6' in info.stdout
    for key in list_image_keys(root / 'train'):
        assert same_bits(read_token_label_map(str(tmp_path / 'again' / label_map_path(key))),
                         read_token_label_map(str(root / 'label_maps' / 'train' / label_map_path(key))))
    assert sorted(os.listdir(tmp_path)) == ['again', 'store']  # nothing else left behind
