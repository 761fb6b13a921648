"""Token-labeling pretraining end to end through tools/pretrain.py, and its hand-over to segmentation (slow).

A resumed run here continues the learning-rate schedule where the first run stopped: its logged rates are compared
with the schedule's formula, written out below. That the resumed run's weights, EMA and losses equal those of an
uninterrupted run is tests/test_engine/test_resume.py's.
"""
import math
import re

import pytest
import torch
from lvseg_testing.run_records import scalars_json
from lvseg_testing.tool_runner import (
    DEMO_CONFIG,
    PRETRAIN_DEMO_CONFIG,
    REPO,
    demo_overrides,
    pretrain_overrides,
    run_tool,
)
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS

import lvseg  # noqa: F401  (registers the backbones)
from lvseg.checkpoints.safe_load import load_checkpoint_file

pytestmark = pytest.mark.slow


def logged_learning_rates(work_dir) -> dict[int, float]:
    """Iteration -> learning rate, as the latest run in ``work_dir`` logged them."""
    return {record['iter']: record['lr'] for record in scalars_json(work_dir) if 'lr' in record}


def test_pretrain_evaluates_checkpoints_resumes_and_hands_over(imagenet_root, ade_root, tmp_path):
    work = tmp_path / 'pretrain'
    trained = run_tool('pretrain.py', str(PRETRAIN_DEMO_CONFIG), '--work-dir', str(work),
                       *pretrain_overrides(imagenet_root, epochs=2))
    log = trained.stdout + trained.stderr
    assert len(re.findall(r'Epoch\(val\) \[\d+\]\[\d+/\d+\]\s+accuracy/top1: [\d.]+\s+accuracy/top5: [\d.]+', log)) == 2
    assert re.search(r'loss_cls: [\d.]+\s+loss_token: [\d.]+', log)
    assert (work / 'epoch_2.pth').is_file() and list(work.glob('best_accuracy_top1_epoch_*.pth'))
    checkpoint = load_checkpoint_file(work / 'epoch_2.pth')
    assert {'backbone.pos_embed', 'head.weight', 'aux_head.weight'} <= set(checkpoint['state_dict'])
    assert 'ema_state_dict' in checkpoint  # EMAHook: state_dict holds the EMA weights

    resumed = run_tool('pretrain.py', str(PRETRAIN_DEMO_CONFIG), '--work-dir', str(work), '--resume',
                       *pretrain_overrides(imagenet_root, epochs=3))
    assert 'resumed epoch: 2' in resumed.stdout + resumed.stderr
    assert (work / 'epoch_3.pth').is_file()
    # epoch 3 = iterations 9-12 (16 images in batches of 4) on the demo's cosine from 1e-3 down to 1e-5, which
    # starts after the warm-up epoch (iteration 5) and ends with epoch 15 (iteration 60), whatever max_epochs says;
    # iteration 9 runs at the rate the optimizer's state holds, 10-12 at the rates of the resumed schedule
    cosine = {i: 1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi * (i - 5) / (60 - 4))) / 2 for i in range(9, 13)}
    assert logged_learning_rates(work) == pytest.approx(cosine, rel=1e-9)

    # The pretraining checkpoint initialises the segmentation backbone: nothing unexpected, heads dropped.
    seg = run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(tmp_path / 'seg'), *demo_overrides(ade_root, 2),
                   f'model.pretrained={work}/epoch_3.pth')
    report = re.search(r'LVViT: loaded (\d+) tensors .*; dropped \d+ \((.*?)\); missing (.*?); unexpected (\d+)',
                       seg.stdout + seg.stderr)
    assert report and report.group(4) == '0'
    assert {'head', 'aux_head'} <= {part.split()[0] for part in report.group(2).split(', ')}
    assert 'blocks' not in report.group(3) and 'pos_embed' not in report.group(3)


def test_pretrain_with_two_processes_on_gloo(imagenet_root, tmp_path):
    result = run_tool('pretrain.py', str(PRETRAIN_DEMO_CONFIG), '--work-dir', str(tmp_path),
                      *pretrain_overrides(imagenet_root, epochs=1), nproc=2)
    log = result.stdout + result.stderr
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert re.search(r'accuracy/top1: [\d.]+', log)
    assert load_checkpoint_file(tmp_path / 'epoch_1.pth')['meta']['epoch'] == 1  # rank 0's, whole


def test_full_size_lvvit_s_recipe_resumes_and_feeds_the_headline_segmentor(imagenet_root, tmp_path):
    """configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py as published (LV-ViT-S, 224, 1000 classes) on tiny
    data: an epoch, a resumed second epoch, then its checkpoint initialises configs/upernet_lvvit.py."""
    config = str(REPO / 'configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py')
    tiny = ['train_dataloader.dataset.indices=4', 'train_dataloader.batch_size=2',
            'train_dataloader.dataset.label_map_root=label_maps/train', 'val_dataloader.dataset.indices=2']
    run_tool('pretrain.py', config, '--work-dir', str(tmp_path), *pretrain_overrides(imagenet_root, epochs=1), *tiny)
    resumed = run_tool('pretrain.py', config, '--work-dir', str(tmp_path), '--resume',
                       *pretrain_overrides(imagenet_root, epochs=2), *tiny)
    assert 'resumed epoch: 1' in resumed.stdout + resumed.stderr
    # two iterations an epoch here: epoch 2 is iterations 3 and 4 of the 5 warm-up epochs' 10, whose rates rise
    # linearly from 1e-6 at the first to 1.6e-3 at the last (mmengine's LinearLR). The first iteration after a
    # resume runs at the rate the optimizer's state holds: the second shows the schedule resumed.
    warm_up = {i: 1e-6 + (1.6e-3 - 1e-6) * (i - 1) / 9 for i in (3, 4)}
    assert logged_learning_rates(tmp_path) == pytest.approx(warm_up, rel=1e-9)
    checkpoint = load_checkpoint_file(tmp_path / 'epoch_2.pth')
    assert checkpoint['state_dict']['backbone.pos_embed'].shape == (1, 1 + 14 * 14, 384)
    assert checkpoint['state_dict']['aux_head.weight'].shape == (1000, 384)

    # The hand-over, in this process: the headline segmentor's backbone (512 px) takes every trunk tensor; that
    # tools/train.py trains configs/upernet_lvvit.py from a pretrained file is tests/test_tools/test_train_test.py's.
    with DefaultScope.overwrite_default_scope('mmseg'):
        backbone = MODELS.build(Config.fromfile(REPO / 'configs/upernet_lvvit.py').model.backbone)
    report = backbone.load_pretrained(str(tmp_path / 'epoch_2.pth'))
    assert report['unexpected'] == []
    own = backbone.state_dict()
    trunk = {key.removeprefix('backbone.'): value for key, value in checkpoint['state_dict'].items()
             if key.startswith('backbone.') and key != 'backbone.pos_embed' and 'backbone.norm.' not in key}
    assert trunk and all(torch.equal(own[key], value) for key, value in trunk.items())
    assert own['pos_embed'].shape == (1, 1 + 32 * 32, 384)
