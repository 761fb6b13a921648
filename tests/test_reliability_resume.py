"""--resume after a kill continues exactly as the uninterrupted run: same losses, lr, metrics, EMA weights."""
import json
import os
import signal
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from tool_runner import DEMO_CONFIG, REPO, demo_overrides, run_tool

from lvseg.engine.step_seed import StepSeedHook

PRETRAIN_DEMO_CONFIG = REPO / 'configs/demo/lvvit-demo_tokenlabel_synthetic-128.py'


def scalars(work_dir) -> list[dict]:
    """The per-iteration records (training and validation) of the latest run's vis_data/scalars.json in
    ``work_dir`` (a resumed run writes its own timestamped folder)."""
    path = sorted(work_dir.glob('*/vis_data/scalars.json'))[-1]
    return [json.loads(line) for line in path.read_text().splitlines()]


def without_timings(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ('time', 'data_time')} for r in records]


def test_step_seed_hook_makes_draws_depend_on_seed_and_step_only():
    runner = SimpleNamespace(seed=7, iter=3, epoch=1)
    hook = StepSeedHook()
    hook.before_train_iter(runner, 0)
    first = torch.rand(3)
    torch.rand(100)  # whatever ran in between
    hook.before_train_iter(runner, 0)
    assert torch.equal(torch.rand(3), first)
    runner.iter = 4
    hook.before_train_iter(runner, 0)
    assert not torch.equal(torch.rand(3), first)


@pytest.mark.slow
def test_segmentation_run_killed_mid_training_resumes_exactly(ade_root, tmp_path):
    # 6 iterations, a checkpoint at 3, validation at 6; the loss of each iteration is logged (window 1)
    options = [*demo_overrides(ade_root, iters=6), 'default_hooks.checkpoint.interval=3', 'log_processor.window_size=1']
    uninterrupted = tmp_path / 'uninterrupted'
    run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(uninterrupted), *options)

    killed = tmp_path / 'killed'
    command = [sys.executable, str(REPO / 'tools/train.py'), str(DEMO_CONFIG), '--work-dir', str(killed), *options]
    run = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1'))
    for line in run.stdout:
        if 'Iter(train) [5/6]' in line:  # iter_3.pth is written; iteration 6 is under way
            run.send_signal(signal.SIGKILL)
            break
    assert run.wait(timeout=60) == -signal.SIGKILL
    assert (killed / 'iter_3.pth').is_file() and not (killed / 'iter_6.pth').exists()

    resumed = run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(killed), '--resume', *options)
    assert 'resumed epoch: 0, iter: 3' in resumed.stdout + resumed.stderr
    # the resumed run logs iterations 4..6 and the validation: all equal to the uninterrupted run's, to the bit
    expected = [r for r in scalars(uninterrupted) if r['step'] >= 4]
    assert len(expected) == 4 and 'mIoU' in expected[-1]
    assert without_timings(scalars(killed)) == without_timings(expected)


@pytest.mark.slow
def test_pretraining_resumed_at_an_epoch_ends_with_the_same_weights_and_ema(imagenet_root, tmp_path):
    """Token labeling with MixToken, RandAugment, random erasing and EMA: 2 epochs, or 1 epoch and a resumed one."""
    loader = ['num_workers=0', 'persistent_workers=False', 'batch_size=4', f'dataset.data_root={imagenet_root}']
    options = ['--cfg-options', *[f'{split}_dataloader.{o}' for split in ('train', 'val', 'test') for o in loader],
               'train_cfg.val_interval=1', 'default_hooks.checkpoint.max_keep_ckpts=3',
               'default_hooks.logger.interval=1', 'log_processor.window_size=1']
    run_tool('pretrain.py', str(PRETRAIN_DEMO_CONFIG), '--work-dir', str(tmp_path / 'a'), *options,
             'train_cfg.max_epochs=2')
    run_tool('pretrain.py', str(PRETRAIN_DEMO_CONFIG), '--work-dir', str(tmp_path / 'b'), *options,
             'train_cfg.max_epochs=1')
    run_tool('pretrain.py', str(PRETRAIN_DEMO_CONFIG), '--work-dir', str(tmp_path / 'b'), '--resume', *options,
             'train_cfg.max_epochs=2')
    a, b = (torch.load(tmp_path / run / 'epoch_2.pth', weights_only=True) for run in 'ab')
    assert a['meta']['iter'] == b['meta']['iter'] == 8
    for key in ('state_dict', 'ema_state_dict'):
        assert all(torch.equal(a[key][name], b[key][name]) for name in a[key]), key
    a_epoch_2, b_epoch_2 = ([r for r in without_timings(scalars(tmp_path / run)) if r['step'] > 4 and 'loss' in r]
                            for run in 'ab')
    assert len(a_epoch_2) == 4 and a_epoch_2 == b_epoch_2
