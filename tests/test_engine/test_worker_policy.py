"""Data loader workers follow the cores a process may use: min(config, cores), said in one run-policy line."""
import os

from lvseg_testing.tool_runner import DEMO_CONFIG
from mmengine.config import Config

from lvseg.engine.run_policy import apply_run_policy, fit_workers_to_cores


def test_a_loader_that_asks_for_more_workers_than_cores_gets_the_cores(ade_root, tmp_path, monkeypatch):
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0, 1})
    cfg = Config.fromfile(DEMO_CONFIG)  # 2 workers for validation and testing
    cfg.merge_from_dict({f'{split}_dataloader.dataset.data_root': str(ade_root) for split in ('train', 'val', 'test')})
    cfg.merge_from_dict({'train_dataloader.num_workers': 4, 'work_dir': str(tmp_path)})
    changes = apply_run_policy(cfg)
    assert [line for line in changes if 'num_workers' in line] == ['train_dataloader.num_workers 4 -> 2 (2 cores)']
    assert (cfg.train_dataloader.num_workers, cfg.val_dataloader.num_workers) == (2, 2)


def test_the_ranks_that_torchrun_starts_on_a_node_share_its_cores(monkeypatch):
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: set(range(16)))
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '8')
    loaders = dict(train_dataloader=dict(num_workers=4), val_dataloader=dict(num_workers=4),
                   test_dataloader=dict(num_workers=0))
    distributed = Config(dict(launcher='pytorch', **loaders))
    assert fit_workers_to_cores(distributed) == [
        'train_dataloader.num_workers 4 -> 2, val_dataloader.num_workers 4 -> 2 '
        '(16 cores shared by 8 processes on this node: 2 each)']
    assert fit_workers_to_cores(Config(dict(launcher='none', **loaders))) == []  # one process: 16 cores for it
