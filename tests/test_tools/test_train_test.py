"""End to end through tools/train.py and tools/test.py on generated ADE20K-layout data (slow)."""
import re

import pytest
import torch
from lvseg_testing.official_checkpoints import official_state_dict
from lvseg_testing.tool_runner import DEMO_CONFIG, REPO, demo_overrides, run_tool

from lvseg.checkpoints.safe_load import load_checkpoint_file

pytestmark = pytest.mark.slow


def test_train_test_and_resume(ade_root, tmp_path):
    work = tmp_path / 'work'
    trained = run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(work), *demo_overrides(ade_root, iters=4))
    assert (work / 'iter_2.pth').is_file() and (work / 'iter_4.pth').is_file()
    # the demo config opts out of pretrained weights on purpose: said once, as a warning
    assert (trained.stdout + trained.stderr).count('training the segmentor from random initialisation') == 1
    assert re.search(r'Iter\(val\).*mIoU: \d+\.\d+', trained.stdout + trained.stderr)

    # only the test data at hand: the pictures (mmseg's VisualizationHook reads runner.iter) need no training set;
    # a picture of each test image, though the config, as the ADE20K ones, draws every 50th batch without --show-dir
    sparse = tmp_path / 'every_50th.py'
    sparse.write_text(f"_base_ = ['{DEMO_CONFIG}']\ndefault_hooks = dict(visualization=dict(interval=50))\n")
    elsewhere = [f'{split}_dataloader.dataset.data_root={tmp_path / "absent"}' for split in ('train', 'val')]
    tested = run_tool('test.py', str(sparse), str(work / 'iter_4.pth'), '--work-dir', str(tmp_path / 'test'),
                      '--out', str(tmp_path / 'pred'), '--show-dir', str(tmp_path / 'pictures'), *demo_overrides(ade_root),
                      *elsewhere)
    assert re.search(r'Iter\(test\).*mIoU: \d+\.\d+', tested.stdout + tested.stderr)
    assert len(list((tmp_path / 'pred').glob('*.png'))) == 2
    pictures = tmp_path / 'pictures/vis_data/vis_image'
    assert f'--show-dir: 2 pictures, one per test image, go to {pictures}' in tested.stdout + tested.stderr
    assert len(list(pictures.glob('*.png'))) == 2

    augmented = run_tool('test.py', str(DEMO_CONFIG), str(work / 'iter_4.pth'), '--tta', '--work-dir',
                         str(tmp_path / 'tta'), *demo_overrides(ade_root))
    assert re.search(r'Iter\(test\).*mIoU: \d+\.\d+', augmented.stdout + augmented.stderr)

    resumed = run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(work), '--resume',
                       *demo_overrides(ade_root, iters=6))
    assert 'resumed epoch: 0, iter: 4' in resumed.stdout + resumed.stderr
    checkpoint = load_checkpoint_file(work / 'iter_6.pth')
    assert checkpoint['meta']['iter'] == 6


def test_two_processes_with_torchrun_on_gloo(ade_root, tmp_path):
    work = tmp_path / 'ddp'
    result = run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(work), *demo_overrides(ade_root, iters=2),
                      nproc=2)
    log = result.stdout + result.stderr
    # mmengine reports the world size as 'GPU number', GPUs or not
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert (work / 'iter_2.pth').is_file()


def test_full_size_headline_config_trains_an_iteration_and_slide_tests(ade_root, tmp_path):
    """configs/upernet_lvvit.py as published (LV-ViT-S, UperNet, 512x512, slide 512/341), one iteration, from a
    file in the official LV-ViT-S layout (224, 1000 classes, two heads) as the pretrained weights."""
    official = tmp_path / 'lvvit_s-26M-224-83.3.pth.tar'
    weights = official_state_dict(embed_dims=384, depth=16, stem=64, num_classes=1000)
    torch.save({'state_dict_ema': weights}, official)
    trunk = [key for key in weights if not key.startswith(('head.', 'aux_head.', 'norm.'))]  # heads, final norm dropped
    loader = ['num_workers=0', 'persistent_workers=False', f'dataset.data_root={ade_root}']
    options = [f'{split}_dataloader.{opt}' for split in ('train', 'val', 'test') for opt in loader]
    options += ['train_cfg.max_iters=1', 'train_cfg.val_interval=1', f'model.pretrained={official}',
                'default_hooks.checkpoint.interval=1', 'val_dataloader.dataset.indices=1']
    trained = run_tool('train.py', str(REPO / 'configs/upernet_lvvit.py'), '--work-dir', str(tmp_path),
                       '--cfg-options', *options)
    log = trained.stdout + trained.stderr
    assert f'LVViT: loaded {len(trunk)} tensors from {official}' in log and 'from random initialisation' not in log
    checkpoint = load_checkpoint_file(tmp_path / 'iter_1.pth')
    assert checkpoint['state_dict']['backbone.pos_embed'].shape == (1, 1 + 32 * 32, 384)
    assert checkpoint['state_dict']['decode_head.conv_seg.weight'].shape[0] == 150


def test_flops_tool_counts_the_headline_model():
    result = run_tool('analysis/get_flops.py', str(REPO / 'configs/upernet_lvvit.py'), '--shape', '512', '512')
    params = int(re.search(r'params: .*\((\d+)\)', result.stdout).group(1))
    flops = float(re.search(r'flops: .*\(([\d.e+]+)\)', result.stdout).group(1))
    # the official README: 44M parameters for UperNet + LV-ViT-S
    assert abs(params - 44e6) / 44e6 < 0.05, params
    assert flops > 1e11
