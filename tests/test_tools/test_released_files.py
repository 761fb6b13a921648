"""The released files through tools/convert_checkpoint.py and tools/test.py, on generated data (slow).

Files in the official layouts (random tensors): a tiny UperNet + LV-ViT segmentor with the LV-ViT-S evaluation
config at tiny sizes, and an LV-ViT-T classifier with its own evaluation config as it is. ``tools/test.py`` takes a
released file as it is (``LvsegRunner.load_checkpoint`` converts it) and prints what the converted file gives.
"""
import re

import pytest
import torch
from lvseg_testing.official_checkpoints import official_segmentor_state_dict, official_state_dict, tiny_segmentor_config
from lvseg_testing.tool_runner import REPO, run_tool

pytestmark = pytest.mark.slow
SEG_EVAL_CONFIG = REPO / 'configs/official/upernet_lvvit-s_released_ade20k-512x512.py'
CLS_EVAL_CONFIG = REPO / 'configs/official/lvvit-t_released_in1k-224.py'
SEG_METRICS = re.compile(r'test metrics: aAcc: ([\d.]+), mIoU: ([\d.]+), mAcc: ([\d.]+)')
CLS_METRICS = re.compile(r'test metrics: accuracy/top1: ([\d.]+), accuracy/top5: ([\d.]+)')


@pytest.fixture(scope='module')
def released_segmentor(ade_root, tmp_path_factory):
    """(tiny evaluation config on the ADE20K-layout data, official segmentor file, its converted file, the metrics
    tools/test.py prints for the converted file)."""
    folder = tmp_path_factory.mktemp('released_segmentor')
    config = folder / 'upernet_lvvit-tiny_released.py'
    config.write_text(tiny_segmentor_config(SEG_EVAL_CONFIG, num_classes=8, window=256, data_root=ade_root))
    official = folder / 'upernet_lvvit_tiny.pth'
    torch.save({'meta': {'mmseg_version': '0.14.1', 'iter': 160000},
                'state_dict': official_segmentor_state_dict(grid=16, num_classes=8),
                'optimizer': {'state': {}, 'param_groups': [{'lr': 6e-5, 'params': [0]}]}}, official)
    converted = folder / 'upernet_lvvit_tiny_mmseg1.pth'
    run_tool('convert_checkpoint.py', str(official), str(converted), '--config', str(config))
    tested = run_tool('test.py', str(config), str(converted), '--work-dir', str(folder / 'test'))
    metrics = SEG_METRICS.search(tested.stdout + tested.stderr)
    assert metrics, tested.stdout + tested.stderr
    return config, official, converted, metrics.groups()


@pytest.fixture(scope='module')
def released_classifier(imagenet_root, tmp_path_factory):
    """(official LV-ViT-T file at 224 with 1000 classes, its converted whole-classifier file, the metrics
    tools/test.py prints for the converted file with the LV-ViT-T evaluation config)."""
    folder = tmp_path_factory.mktemp('released_classifier')
    official = folder / 'lvvit_t.pth'
    torch.save(official_state_dict(embed_dims=240, depth=12, stem=64, grid=14, num_classes=1000), official)
    converted = folder / 'lvvit_t_classifier.pth'
    run_tool('convert_checkpoint.py', str(official), str(converted), '--keep-heads', '--config', str(CLS_EVAL_CONFIG))
    tested = run_tool('test.py', str(CLS_EVAL_CONFIG), str(converted), '--work-dir', str(folder / 'test'),
                      *classifier_data(imagenet_root))
    metrics = CLS_METRICS.search(tested.stdout + tested.stderr)
    assert metrics, tested.stdout + tested.stderr
    return official, converted, metrics.groups()


def classifier_data(imagenet_root) -> list[str]:
    loader = ['num_workers=0', 'persistent_workers=False', 'batch_size=4', f'dataset.data_root={imagenet_root}']
    return ['--cfg-options', *[f'test_dataloader.{option}' for option in loader]]


def test_converted_segmentor_prints_the_metrics(released_segmentor):
    assert all(0 <= float(value) <= 100 for value in released_segmentor[3])


def test_converted_segmentor_tests_with_the_official_tta(released_segmentor, tmp_path):
    config, _, converted, _ = released_segmentor
    augmented = run_tool('test.py', str(config), str(converted), '--tta', '--work-dir', str(tmp_path))
    assert SEG_METRICS.search(augmented.stdout + augmented.stderr)


def test_released_segmentor_file_tests_as_it_is(released_segmentor, tmp_path):
    config, official, _, converted_metrics = released_segmentor
    direct = run_tool('test.py', str(config), str(official), '--work-dir', str(tmp_path))
    log = direct.stdout + direct.stderr
    assert 'missing keys' not in log and 'unexpected key' not in log
    assert SEG_METRICS.search(log).groups() == converted_metrics


def test_released_segmentor_of_another_depth_stops_with_one_line(released_segmentor, tmp_path):
    config = released_segmentor[0]
    deeper = tmp_path / 'upernet_lvvit_deeper.pth'
    torch.save({'meta': {}, 'state_dict': official_segmentor_state_dict(depth=5, grid=16, num_classes=8)}, deeper)
    result = run_tool('test.py', str(config), str(deeper), '--work-dir', str(tmp_path), expect_failure=True)
    errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
    assert len(errors) == 1 and str(deeper) in errors[0] and 'depth 5' in errors[0]


def test_converted_classifier_prints_top1_and_top5(released_classifier):
    top1, top5 = map(float, released_classifier[2])
    assert 0 <= top1 <= top5 <= 100


def test_released_classifier_file_tests_as_it_is(released_classifier, imagenet_root, tmp_path):
    official, _, converted_metrics = released_classifier
    direct = run_tool('test.py', str(CLS_EVAL_CONFIG), str(official), '--work-dir', str(tmp_path),
                      *classifier_data(imagenet_root))
    log = direct.stdout + direct.stderr
    assert 'missing keys' not in log and 'unexpected key' not in log
    assert CLS_METRICS.search(log).groups() == converted_metrics
