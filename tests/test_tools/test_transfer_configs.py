"""The configs for the standard benchmarks and for your own data: built on mmseg's own dataset bases and classes,
and each trains 2 iterations and tests through tools/train.py and tools/test.py on tiny data in that data set's
on-disk layout (slow)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from lvseg_testing.dataset_layouts import stored_labels, write_layout
from lvseg_testing.segmentation_metrics import printed_metrics
from lvseg_testing.tool_runner import REPO, run_tool
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

from lvseg.datasets.dataset_check import build_dataset, check_dataset
from lvseg.engine.config_checks import leaf_datasets

MMSEG_BASES = Path(__import__('mmseg').__file__).parent / '.mim/configs/_base_/datasets'


@dataclass(frozen=True)
class Case:
    layout: str
    config: str
    dataset_type: str
    num_classes: int
    crop: tuple[int, int]
    iters: int
    mmseg_base: str | None  # the mmseg dataset _base_ file the config inherits
    a_class: str  # a class name of the data set, for the per-class table


CASES = [
    Case('cityscapes', 'upernet_lvvit-s_8xb2-90k_cityscapes-512x1024.py', 'CityscapesDataset', 19, (512, 1024),
         90000, 'cityscapes.py', 'traffic light'),
    Case('pascal_context_59', 'upernet_lvvit-s_8xb2-80k_pascal-context-59-480x480.py', 'PascalContextDataset59', 59,
         (480, 480), 80000, 'pascal_context_59.py', 'aeroplane'),
    Case('coco_stuff164k', 'upernet_lvvit-s_8xb2-80k_coco-stuff164k-512x512.py', 'COCOStuffDataset', 171, (512, 512),
         80000, 'coco-stuff164k.py', 'playingfield'),
    Case('voc12aug', 'upernet_lvvit-s_8xb2-40k_voc12aug-512x512.py', 'PascalVOCDataset', 21, (512, 512), 40000,
         'pascal_voc12_aug.py', 'tvmonitor'),
    Case('own_data', 'upernet_lvvit-s_8xb2-40k_own-data-512x512.py', 'BaseSegDataset', 3, (512, 512), 40000, None,
         'foreground'),
]
IDS = [case.layout for case in CASES]
TINY_ARCH = dict(embed_dims=32, num_layers=4, num_heads=2, mlp_ratio=2.0, stem_channels=8, skip_lam=2.0)
TINY_HEIGHT = 64  # pixels: the crops' height in the tiny runs (the configs' sizes scaled by TINY_HEIGHT / crop height)


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def leaves(cfg: Config, split: str) -> list[tuple[str, dict]]:
    return list(leaf_datasets(cfg[f'{split}_dataloader'].dataset, f'{split}_dataloader.dataset'))


@pytest.mark.parametrize('case', CASES, ids=IDS)
def test_config_is_mmseg_s_data_set_with_the_headline_model_and_optimizer(case):
    cfg = Config.fromfile(REPO / 'configs' / case.config)
    for split in ('train', 'val', 'test'):
        for _, dataset in leaves(cfg, split):
            assert dataset.type == case.dataset_type
    if case.mmseg_base:  # the data set as mmseg's own base file defines it: folders, split files, pipelines
        base = Config.fromfile(MMSEG_BASES / case.mmseg_base)
        for split in ('train', 'val'):
            inherited = [{k: v for k, v in d.items() if k != '_scope_'} for _, d in leaves(cfg, split)]
            assert inherited == [d for _, d in leaves(base, split)]  # '_scope_': added by 'mmseg::' inheritance
    assert cfg.model.decode_head.num_classes == cfg.model.auxiliary_head.num_classes == case.num_classes
    assert cfg.model.pretrained == 'pretrain/lvvit_s-26M-224-83.3.pth.tar'
    assert cfg.model.backbone.arch == 'small' and tuple(cfg.model.backbone.img_size) == case.crop
    assert cfg.model.data_preprocessor.size == case.crop
    stride = tuple(round(side * 2 / 3) for side in case.crop)  # the ADE20K recipe's 341 for 512
    assert cfg.model.test_cfg == dict(mode='slide', crop_size=case.crop, stride=stride)
    assert cfg.train_cfg.max_iters == case.iters == cfg.param_scheduler[1].end
    assert cfg.train_dataloader.batch_size == 2 and cfg.auto_scale_lr.base_batch_size == 16  # 8 GPUs x 2
    headline = Config.fromfile(REPO / 'configs/upernet_lvvit.py')
    assert cfg.optim_wrapper == headline.optim_wrapper and 'paramwise_cfg' not in cfg.optim_wrapper
    crops = [t.crop_size for _, d in leaves(cfg, 'train') for t in d.pipeline if t.type == 'RandomCrop']
    assert crops and all(tuple(crop) == case.crop for crop in crops)


def tiny_overrides(cfg: Config, root: Path) -> list[str]:
    """--cfg-options that point every data set of ``cfg`` at ``root``, scale its sizes (pipelines, crop, slide
    window) down to crops TINY_HEIGHT pixels high, shrink the model, and run 2 iterations in this process."""
    crop = tuple(cfg.model.data_preprocessor.size)
    factor = TINY_HEIGHT / crop[0]

    def small(size) -> str:
        return '({},{})'.format(*(max(1, round(side * factor)) for side in size))

    options = []
    for split in ('train', 'val', 'test'):
        for key, dataset in leaves(cfg, split):
            options.append(f'{key}.data_root={root}')
            for i, step in enumerate(dataset.pipeline):
                for name in ('scale', 'crop_size', 'size'):
                    if isinstance(step.get(name), (tuple, list)):
                        options.append(f'{key}.pipeline.{i}.{name}={small(step[name])}')
        options += [f'{split}_dataloader.{key}' for key in ('num_workers=0', 'persistent_workers=False')]
    options += ['train_dataloader.batch_size=2', f'model.data_preprocessor.size={small(crop)}',
                f'model.test_cfg.crop_size={small(crop)}', f'model.test_cfg.stride={small(cfg.model.test_cfg.stride)}',
                'model.pretrained=None', 'model.backbone.arch._delete_=True',
                *[f'model.backbone.arch.{key}={value}' for key, value in TINY_ARCH.items()],
                f'model.backbone.img_size={small(crop)}', 'model.backbone.out_indices=(0,1,2,3)',
                'model.backbone.drop_path_rate=0.0', 'model.backbone.pyramid_out_channels=64',
                'model.decode_head.in_channels=[32,32,32,64]', 'model.decode_head.channels=16',
                'model.auxiliary_head.in_channels=32', 'model.auxiliary_head.channels=16',
                'train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
                'default_hooks.logger.interval=1', 'param_scheduler.0.end=1', 'param_scheduler.1.begin=1',
                'param_scheduler.1.end=2']
    return options


def labels_as_trained(stored: np.ndarray, reduce_zero_label: bool) -> np.ndarray:
    """mmseg's LoadAnnotations: 0 -> 255 and v -> v - 1 with reduce_zero_label (255 stays 255)."""
    if not reduce_zero_label:
        return stored
    return np.where((stored == 0) | (stored == 255), 255, stored.astype(np.int64) - 1).astype(np.uint8)


def miou_of_saved_predictions(pairs: list[tuple[str, str]], out: Path, num_classes: int,
                              reduce_zero_label: bool) -> float:
    """mIoU (percent) of the label PNGs that tools/test.py --out wrote (mmseg writes prediction + 1 where the data
    set reduces the zero label) against the masks, from one confusion matrix: IoU over the classes present in the
    masks or the predictions, as mmseg's IoUMetric."""
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for img_path, seg_map_path in pairs:
        predicted = np.asarray(Image.open(out / f'{Path(img_path).stem}.png')).astype(np.int64)
        predicted = predicted - 1 if reduce_zero_label else predicted
        truth = labels_as_trained(np.asarray(Image.open(seg_map_path)), reduce_zero_label).astype(np.int64)
        assert predicted.shape == truth.shape  # predictions at the image's own size
        valid = truth != 255
        confusion += np.bincount(truth[valid] * num_classes + predicted[valid],
                                 minlength=num_classes ** 2).reshape(num_classes, num_classes)
    intersection = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    with np.errstate(invalid='ignore', divide='ignore'):
        return float(np.nanmean(intersection / union) * 100)


@pytest.mark.slow
@pytest.mark.parametrize('case', CASES, ids=IDS)
def test_config_trains_two_iterations_and_tests_on_its_layout(case, tmp_path):
    root = tmp_path / case.layout
    write_layout(case.layout, root, num_train=2, num_val=2, size=(64, 128) if case.layout == 'cityscapes' else (64, 96))
    config = REPO / 'configs' / case.config
    cfg = Config.fromfile(config)
    options = tiny_overrides(cfg, root)
    cfg.merge_from_dict(dict(option.split('=', 1) for option in options if 'data_root' in option))

    # mmseg's dataset class reads the layout: every pair, the data set's classes, the values as trained
    for split, expected in (('train', 2), ('val', 2)):
        for _, dataset in leaves(cfg, split):
            report = check_dataset(dataset)
            assert (report.dataset_type, len(report.classes)) == (case.dataset_type, case.num_classes)
            voc_train = dataset.get('ann_file', '').endswith('Segmentation/train.txt')  # 1 image, aug.txt: 2
            assert report.pairs == (1 if voc_train else expected)
            assert not report.problems, report.problems
            present = {int(v) for v in labels_as_trained(np.array(stored_labels(case.layout), np.uint8),
                                                         report.reduce_zero_label) if v != 255}
            assert set(np.flatnonzero(report.pixels)) == present

    work = tmp_path / 'work'
    trained = run_tool('train.py', str(config), '--work-dir', str(work), '--cfg-options', *options)
    assert (work / 'iter_2.pth').is_file(), trained.stdout[-3000:]
    assert re.search(r'Iter\(val\).*mIoU: \d+\.\d+', trained.stdout + trained.stderr)

    out = tmp_path / 'pred'
    tested = run_tool('test.py', str(config), str(work / 'iter_2.pth'), '--work-dir', str(tmp_path / 'test'),
                      '--out', str(out), '--cfg-options', *options)
    log = tested.stdout + tested.stderr
    printed = printed_metrics(log)['mIoU']
    table = log[log.rindex('per class results:'):]
    rows = re.findall(r'^\|\s+([^|]+?)\s+\|\s+(?:nan|\d+\.\d+)\s+\|', table, flags=re.M)
    [(_, test_dataset)] = leaves(cfg, 'test')
    dataset = build_dataset(test_dataset)
    assert rows == list(dataset.metainfo['classes']) and len(rows) == case.num_classes and case.a_class in rows
    pairs = [(info['img_path'], info['seg_map_path']) for info in map(dataset.get_data_info, range(len(dataset)))]
    assert len(pairs) == 2 and len(list(out.glob('*.png'))) == 2
    assert printed == pytest.approx(miou_of_saved_predictions(pairs, out, case.num_classes,
                                                              dataset.reduce_zero_label), abs=0.006)
