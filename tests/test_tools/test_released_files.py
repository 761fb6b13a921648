"""The released files through tools/convert_checkpoint.py and tools/test.py, on generated data (slow).

Files in the official layouts (random tensors): a tiny UperNet + LV-ViT segmentor with the LV-ViT-S evaluation
config at tiny sizes, and an LV-ViT-T classifier with its own evaluation config as it is. ``tools/test.py`` takes a
released file as it is (``LvsegRunner.load_checkpoint`` converts it) and prints what the converted file gives.
"""
import re
from pathlib import Path

import pytest
import torch
from lvseg_testing.official_checkpoints import official_segmentor_state_dict, official_state_dict, tiny_segmentor_config
from lvseg_testing.reference_lvvit_classifier import LVViTClassifierReference
from lvseg_testing.segmentation_metrics import metrics_of_written_predictions
from lvseg_testing.tool_runner import REPO, run_tool

pytestmark = pytest.mark.slow
SEG_EVAL_CONFIG = REPO / 'configs/official/upernet_lvvit-s_released_ade20k-512x512.py'
CLS_EVAL_CONFIG = REPO / 'configs/official/lvvit-t_released_in1k-224.py'
SEG_METRICS = re.compile(r'test metrics: aAcc: ([\d.]+), mIoU: ([\d.]+), mAcc: ([\d.]+)')
CLS_METRICS = re.compile(r'test metrics: accuracy/top1: ([\d.]+), accuracy/top5: ([\d.]+)')


@pytest.fixture(scope='module')
def released_segmentor(ade_root, tmp_path_factory):
    """(tiny evaluation config on the ADE20K-layout data, official segmentor file, its converted file, the metrics
    tools/test.py prints for the converted file); the label maps it predicts are in ``pred`` beside the files."""
    folder = tmp_path_factory.mktemp('released_segmentor')
    config = folder / 'upernet_lvvit-tiny_released.py'
    config.write_text(tiny_segmentor_config(SEG_EVAL_CONFIG, num_classes=8, window=256, data_root=ade_root))
    official = folder / 'upernet_lvvit_tiny.pth'
    weights = official_segmentor_state_dict(grid=16, num_classes=8)
    # class 2 (frequent in the validation annotations) raised a little: it takes part of the pixels, the random
    # weights' classes the rest, so that the metrics are far from 0 (aAcc 14.27, mIoU 5.11, mAcc 9.42)
    weights['decode_head.conv_seg.bias'][2] += 0.3
    torch.save({'meta': {'mmseg_version': '0.14.1', 'iter': 160000}, 'state_dict': weights,
                'optimizer': {'state': {}, 'param_groups': [{'lr': 6e-5, 'params': [0]}]}}, official)
    converted = folder / 'upernet_lvvit_tiny_mmseg1.pth'
    run_tool('convert_checkpoint.py', str(official), str(converted), '--config', str(config))
    tested = run_tool('test.py', str(config), str(converted), '--work-dir', str(folder / 'test'), '--out',
                      str(folder / 'pred'))
    metrics = SEG_METRICS.search(tested.stdout + tested.stderr)
    assert metrics, tested.stdout + tested.stderr
    return config, official, converted, metrics.groups()


@pytest.fixture(scope='module')
def released_classifier(imagenet_root, tmp_path_factory):
    """(official LV-ViT-T file at 224 with 1000 classes, its converted whole-classifier file, the metrics
    tools/test.py prints for the converted file with the LV-ViT-T evaluation config)."""
    folder = tmp_path_factory.mktemp('released_classifier')
    official = folder / 'lvvit_t.pth'
    weights = official_state_dict(embed_dims=240, depth=12, stem=64, grid=14, num_classes=1000)
    # the data's 8 classes (0-7) raised above the other 992, class 0 the most: top-1 and top-5 are neither 0 nor 100
    for bias in ('head.bias', 'aux_head.bias'):
        weights[bias][:8] += 5
        weights[bias][0] += 5
    torch.save(weights, official)
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


def test_converted_segmentor_prints_the_metrics_of_its_predictions(released_segmentor, ade_root):
    """aAcc, mIoU and mAcc as printed, against those counted here from the label maps tools/test.py wrote."""
    _, _, converted, printed = released_segmentor
    by_hand = metrics_of_written_predictions(converted.parent / 'pred', ade_root / 'annotations/validation',
                                             num_classes=8)
    assert dict(zip(('aAcc', 'mIoU', 'mAcc'), map(float, printed))) == pytest.approx(by_hand, abs=0.005)
    assert by_hand['aAcc'] > 1 and by_hand['mAcc'] != pytest.approx(100 / 6), by_hand  # neither none nor one class


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


def official_eval_batch(val: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The images under ``val`` (a folder per class, in sorted order) through timm's evaluation transform of
    LV-ViT-T (224, crop_pct 0.9, bicubic, ImageNet mean and std), ``(B, 3, 224, 224)``, and their labels ``(B,)``."""
    from PIL import Image
    from timm.data import create_transform

    transform = create_transform(224, interpolation='bicubic', crop_pct=0.9)
    classes = sorted(folder.name for folder in val.iterdir())
    files = [(path, label) for label, name in enumerate(classes) for path in sorted((val / name).iterdir())]
    images = torch.stack([transform(Image.open(path).convert('RGB')) for path, _ in files])
    return images, torch.tensor([label for _, label in files])


def test_converted_classifier_prints_the_top1_and_top5_of_the_official_model(released_classifier, imagenet_root):
    """top-1 and top-5 as printed, against those counted here from the scores of the independent reference of the
    official LV-ViT-T (``lvseg_testing.reference_lvvit_classifier``) with the official file's weights."""
    official, _, printed = released_classifier
    reference = LVViTClassifierReference.official('lvvit_t', img_size=224).eval()
    reference.load_state_dict(torch.load(official), strict=True)
    images, labels = official_eval_batch(imagenet_root / 'val')
    with torch.no_grad():
        scores = reference.inference_logits(images)
    above = (scores > scores.gather(1, labels[:, None])).sum(1)  # classes scored above each image's label
    by_hand = [100 * (above < k).double().mean().item() for k in (1, 5)]
    assert [float(value) for value in printed] == pytest.approx(by_hand, abs=0.005)
    assert 0 < by_hand[0] < by_hand[1] < 100


def test_released_classifier_file_tests_as_it_is(released_classifier, imagenet_root, tmp_path):
    official, _, converted_metrics = released_classifier
    direct = run_tool('test.py', str(CLS_EVAL_CONFIG), str(official), '--work-dir', str(tmp_path),
                      *classifier_data(imagenet_root))
    log = direct.stdout + direct.stderr
    assert 'missing keys' not in log and 'unexpected key' not in log
    assert CLS_METRICS.search(log).groups() == converted_metrics
