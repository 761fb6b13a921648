"""--resume after a kill continues exactly as the uninterrupted run: same losses, lr, metrics, EMA weights."""
import json
import pickle
import random
import signal
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from lvseg_testing.probed_config import probe_env, probed_config
from lvseg_testing.rank_probe import read_probe
from lvseg_testing.tool_runner import DEMO_CONFIG, PRETRAIN_DEMO_CONFIG, demo_overrides, run_tool
from mmengine.dataset import DefaultSampler
from mmengine.dataset import sampler as mmengine_sampler

from lvseg.checkpoints.safe_load import load_checkpoint_file
from lvseg.datasets.sample_seed import PerSampleSeeding, SeededIndex, seed_all, seed_sample
from lvseg.engine.bad_samples import CheckedDataset
from lvseg.engine.config_checks import ConfigError
from lvseg.engine.mid_epoch_resume import ResumableEpochBasedTrainLoop, ResumableSampler
from lvseg.engine.step_seed import StepSeedHook


def scalars(work_dir) -> list[dict]:
    """The per-iteration records (training and validation) of the latest run's vis_data/scalars.json in
    ``work_dir`` (a resumed run writes its own timestamped folder)."""
    path = sorted(work_dir.glob('*/vis_data/scalars.json'))[-1]
    return [json.loads(line) for line in path.read_text().splitlines()]


def without_timings(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ('time', 'data_time')} for r in records]


def test_step_seed_hook_makes_draws_depend_on_seed_rank_and_step_only():
    runner = SimpleNamespace(seed=7, rank=0, iter=3, epoch=1)
    hook = StepSeedHook()
    hook.before_train_iter(runner, 0)
    first = torch.rand(3)
    torch.rand(100)  # whatever ran in between
    hook.before_train_iter(runner, 0)
    assert torch.equal(torch.rand(3), first)
    runner.iter = 4
    hook.before_train_iter(runner, 0)
    assert not torch.equal(torch.rand(3), first)
    # another rank at the same step, seed and epoch draws other numbers, in the iteration and in the data stream
    runner.iter = 3
    hook.before_train_epoch(runner)
    rank_0_data = torch.rand(3)
    runner.rank = 1
    hook.before_train_iter(runner, 0)
    assert not torch.equal(torch.rand(3), first)
    hook.before_train_epoch(runner)
    assert not torch.equal(torch.rand(3), rank_0_data)
    runner.rank = 0
    # the main process's data augmentations draw on as if no iteration had run in between (timm's random
    # erasing in the model's pre-processor draws from Python's random)
    seed_all(5)
    expected = random.random(), np.random.rand(), float(torch.rand(()))
    seed_all(5)
    hook.before_train_iter(runner, 0)
    random.random(), np.random.rand(), torch.rand(3)  # the iteration's draws
    hook.after_train_iter(runner, 0)
    assert (random.random(), np.random.rand(), float(torch.rand(()))) == expected


def test_resumable_sampler_keeps_mmengine_order_starts_part_way_and_seeds_each_sample(monkeypatch):
    dataset = list(range(10))
    for rank in (0, 1):
        monkeypatch.setattr(mmengine_sampler, 'get_dist_info', lambda: (rank, 2))  # noqa: B023
        ours = ResumableSampler(dataset, shuffle=True, seed=3)
        theirs = DefaultSampler(dataset, shuffle=True, seed=3)
        for sampler in (ours, theirs):
            sampler.set_epoch(1)
        assert list(ours) == list(theirs) and len(list(ours)) == 5
    monkeypatch.undo()
    sampler = ResumableSampler(dataset, shuffle=True, seed=3)
    sampler.set_epoch(1)
    whole = list(sampler)
    sampler.start_at(4)
    rest = list(sampler)
    assert rest == whole[4:] and [i.seed for i in rest] == [i.seed for i in whole[4:]]
    assert list(sampler) == whole  # the next pass is whole again
    assert len({i.seed for i in whole}) == 10
    sampler.set_epoch(2)
    again = {int(i): i.seed for i in sampler}
    assert all(again[int(i)] != i.seed for i in whole)  # a sample's seed changes with the epoch
    with pytest.raises(ValueError, match='this rank has 10'):
        sampler.start_at(10)


def test_a_seeded_index_is_an_int_that_keeps_its_seed_through_pickling():
    index = SeededIndex(7, seed=12345)
    assert list(range(10))[index] == 7
    copy = pickle.loads(pickle.dumps(index))
    assert copy == 7 and copy.seed == 12345 and isinstance(copy, SeededIndex)


def _loop_at(epoch: int, iteration: int, sampler_type: type) -> ResumableEpochBasedTrainLoop:
    """The loop's state right after ``--resume``: 16 samples in batches of 4, so 4 iterations per epoch."""
    from mmengine.logging import MMLogger
    from torch.utils.data import DataLoader

    loop = ResumableEpochBasedTrainLoop.__new__(ResumableEpochBasedTrainLoop)
    loop._epoch, loop._iter = epoch, iteration
    loop._runner = SimpleNamespace(logger=MMLogger.get_current_instance())
    data = list(range(16))
    loop.dataloader = DataLoader(data, batch_size=4, sampler=sampler_type(data, shuffle=True, seed=0))
    return loop


def test_the_loop_starts_a_resumed_epoch_after_the_trained_batches_or_says_why_it_cannot():
    loop = _loop_at(epoch=1, iteration=6, sampler_type=ResumableSampler)
    loop._start_epoch_at(6 - 4)
    assert [len(batch) for batch in loop.dataloader] == [4, 4]  # batches 3 and 4 of the epoch
    with pytest.raises(ConfigError, match='batch 9 of an epoch that has 4 batches here; was it written with '
                                          'another batch size'):
        _loop_at(epoch=1, iteration=13, sampler_type=ResumableSampler).run_epoch()
    with pytest.raises(ConfigError, match="needs train_dataloader.sampler=dict\\(type='ResumableSampler'"):
        _loop_at(epoch=1, iteration=6, sampler_type=DefaultSampler).run_epoch()


class RandomSamples:
    """A data set whose samples are draws of Python's, numpy's and torch's generators (as augmentations)."""

    pipeline = None

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> tuple:
        return random.random(), float(np.random.rand()), float(torch.rand(()))


class SeededRandomSamples(PerSampleSeeding, RandomSamples):
    """The same, honouring per-sample seeds."""


def test_a_seeding_data_set_augments_a_seeded_sample_alike_whatever_was_drawn_before_even_when_checked():
    for dataset in (SeededRandomSamples(), CheckedDataset(SeededRandomSamples())):
        first = dataset[SeededIndex(2, seed=99)]
        random.random(), np.random.rand(3), torch.rand(5)
        assert dataset[SeededIndex(2, seed=99)] == first
        assert dataset[SeededIndex(2, seed=100)] != first
        assert dataset[2] != dataset[2]  # a plain index leaves the generators alone


def test_the_bad_sample_guard_does_not_seed_a_data_set_that_does_not_seed():
    dataset = CheckedDataset(RandomSamples())
    assert dataset[SeededIndex(2, seed=99)] != dataset[SeededIndex(2, seed=99)]


def test_the_runner_refuses_a_resumable_sampler_over_a_data_set_that_ignores_its_seeds():
    from mmengine.config import Config

    from lvseg.engine.config_checks import ConfigError
    from lvseg.engine.run_policy import check_seeded_sampling

    cfg = Config(dict(train_dataloader=dict(sampler=dict(type='ResumableSampler'),
                                            dataset=dict(type='ADE20KDataset', data_root='x'))))
    with pytest.raises(ConfigError, match=r'train_dataloader.dataset \(ADE20KDataset\) does not apply them'):
        check_seeded_sampling(cfg)
    cfg.train_dataloader.dataset.type = 'ImageNetTokenLabelDataset'
    check_seeded_sampling(cfg)


def test_a_seeded_sample_reseeds_the_cpu_generators_without_queueing_accelerator_reseeds(monkeypatch):
    seed_all(99)
    expected = random.random(), float(np.random.rand()), float(torch.rand(()))
    monkeypatch.setattr(torch, 'manual_seed', lambda seed: pytest.fail('torch.manual_seed formats a stack trace'))
    seed_sample(SeededIndex(0, seed=99))
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == expected


@pytest.mark.slow
def test_segmentation_run_killed_mid_training_resumes_exactly(ade_root, tmp_path):
    # 6 iterations, a checkpoint at 3, validation at 6; the loss of each iteration is logged (window 1)
    options = [*demo_overrides(ade_root, iters=6), 'default_hooks.checkpoint.interval=3', 'log_processor.window_size=1']
    uninterrupted = tmp_path / 'uninterrupted'
    run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(uninterrupted), *options)

    # killed by the run itself after iteration 5, iter_3.pth on disk: -9, where a run that finished would exit 0
    killed = tmp_path / 'killed'
    run = run_tool('train.py', str(probed_config(DEMO_CONFIG, tmp_path)), '--work-dir', str(killed), *options,
                   'default_hooks.rank_probe.kill_after=5', env=probe_env(), expect_failure=True)
    assert run.returncode == -signal.SIGKILL, run.stderr[-3000:]
    assert sorted(read_probe(killed, 'run', rank=0)) == [1, 2, 3, 4, 5]
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
    a, b = (load_checkpoint_file(tmp_path / run / 'epoch_2.pth') for run in 'ab')
    assert a['meta']['iter'] == b['meta']['iter'] == 8
    for key in ('state_dict', 'ema_state_dict'):
        assert all(torch.equal(a[key][name], b[key][name]) for name in a[key]), key
    a_epoch_2, b_epoch_2 = ([r for r in without_timings(scalars(tmp_path / run)) if r['step'] > 4 and 'loss' in r]
                            for run in 'ab')
    assert len(a_epoch_2) == 4 and a_epoch_2 == b_epoch_2


@pytest.mark.slow
def test_pretraining_killed_mid_epoch_resumes_exactly(imagenet_root, tmp_path):
    """2 epochs of 4 iterations, a mid-epoch checkpoint every 2 iterations, training data from 2 persistent
    workers; killed in epoch 2 after iteration 7, iteration 6's checkpoint on disk, then resumed: the resumed run
    trains iterations 7 and 8 on the same data with the same random numbers, and ends with the same weights, EMA
    and accuracy."""
    eval_loader = ['num_workers=0', 'persistent_workers=False', 'batch_size=4', f'dataset.data_root={imagenet_root}']
    train_loader = ['num_workers=2', 'persistent_workers=True', 'batch_size=4', f'dataset.data_root={imagenet_root}']
    options = ['--cfg-options', *[f'train_dataloader.{o}' for o in train_loader],
               *[f'{split}_dataloader.{o}' for split in ('val', 'test') for o in eval_loader],
               'train_cfg.max_epochs=2', 'train_cfg.val_interval=1', 'default_hooks.checkpoint.mid_epoch_interval=2',
               'default_hooks.logger.interval=1', 'log_processor.window_size=1']
    uninterrupted = tmp_path / 'uninterrupted'
    run_tool('pretrain.py', str(PRETRAIN_DEMO_CONFIG), '--work-dir', str(uninterrupted), *options)
    kept = sorted(p.name for p in uninterrupted.glob('*.pth'))  # no mid-epoch checkpoint is left behind
    assert len(kept) == 2 and kept[0].startswith('best_accuracy_top1_epoch_') and kept[1] == 'epoch_2.pth'

    # killed by the run itself after iteration 7 (epoch 2, batch 3), iter_6.pth on disk
    killed = tmp_path / 'killed'
    run = run_tool('pretrain.py', str(probed_config(PRETRAIN_DEMO_CONFIG, tmp_path)), '--work-dir', str(killed),
                   *options, 'default_hooks.rank_probe.kill_after=7', env=probe_env(), expect_failure=True)
    assert run.returncode == -signal.SIGKILL, run.stderr[-3000:]
    assert sorted(read_probe(killed, 'run', rank=0)) == list(range(1, 8))
    assert (killed / 'last_checkpoint').read_text() == str(killed / 'iter_6.pth')
    assert not (killed / 'iter_2.pth').exists()  # replaced by epoch_1.pth
    assert not (killed / 'epoch_2.pth').exists()
    meta = load_checkpoint_file(killed / 'iter_6.pth')['meta']
    assert (meta['epoch'], meta['iter']) == (1, 6)

    resumed = run_tool('pretrain.py', str(PRETRAIN_DEMO_CONFIG), '--work-dir', str(killed), '--resume', *options)
    log = resumed.stdout + resumed.stderr
    assert 'resumed epoch: 1, iter: 6' in log and 'epoch 2 resumes at batch 3 of 4' in log
    assert 'Epoch(train) [2][3/4]' in log and 'Epoch(train) [2][1/4]' not in log
    assert not (killed / 'iter_6.pth').exists()  # replaced by epoch_2.pth
    expected = [r for r in without_timings(scalars(uninterrupted)) if r['step'] > 6 and 'loss' in r]
    assert len(expected) == 2 and expected == [r for r in without_timings(scalars(killed)) if 'loss' in r]
    last_accuracy = [[r for r in without_timings(scalars(run)) if 'accuracy/top1' in r][-1]
                     for run in (uninterrupted, killed)]
    assert last_accuracy[0] == last_accuracy[1]
    a, b = (load_checkpoint_file(run / 'epoch_2.pth') for run in (uninterrupted, killed))
    assert a['meta']['iter'] == b['meta']['iter'] == 8
    for key in ('state_dict', 'ema_state_dict'):
        assert all(torch.equal(a[key][name], b[key][name]) for name in a[key]), key
