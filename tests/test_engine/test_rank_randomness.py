"""Two ranks under torchrun (gloo): each rank draws its own random numbers, and a run killed with SIGKILL and resumed
on the same number of ranks repeats every rank's draws and losses (slow: real tool runs).

Each run records, per rank and iteration, digests of torch's and Python's generator states as the iteration starts
drawing (after ``StepSeedHook``) and the rank's own losses (``lvseg_testing.rank_probe``). The first run kills
itself after iteration ``k``, once every rank has recorded it; the resumed run starts from the last checkpoint
before ``k``, so the iterations in between are computed twice, and must agree on every rank.
"""
from pathlib import Path

import pytest
from lvseg_testing.probed_config import probe_env, probed_config
from lvseg_testing.rank_probe import read_probe
from lvseg_testing.tool_runner import DEMO_CONFIG, PRETRAIN_DEMO_CONFIG, demo_overrides, pretrain_overrides, run_tool

pytestmark = pytest.mark.slow

LOSSES = ('loss', 'loss_cls', 'loss_token', 'decode.loss_ce', 'aux.loss_ce')


def kill_and_resume(tool: str, config: Path, work: Path, options: list[str], kill_after: int) -> str:
    """Run ``tool`` on 2 ranks until it kills itself after iteration ``kill_after``, then ``--resume`` it to the end;
    return the resumed run's output."""
    env = probe_env()
    config = probed_config(config, work.parent)  # not in the work dir, where the runner dumps the config it ran
    killed = run_tool(tool, str(config), '--work-dir', str(work), *options, 'default_hooks.rank_probe.tag=first',
                      f'default_hooks.rank_probe.kill_after={kill_after}', nproc=2, env=env, expect_failure=True)
    assert 'Signal 9 (SIGKILL)' in killed.stdout + killed.stderr  # torchrun's report: killed, not failed
    resumed = run_tool(tool, str(config), '--work-dir', str(work), '--resume', *options,
                       'default_hooks.rank_probe.tag=resumed', nproc=2, env=env)
    return resumed.stdout + resumed.stderr


def assert_ranks_differ_and_resume_repeats(work: Path, killed_at: int, resumed_from: int, last: int) -> None:
    first = [read_probe(work, 'first', rank) for rank in (0, 1)]
    resumed = [read_probe(work, 'resumed', rank) for rank in (0, 1)]
    for rank in (0, 1):
        assert sorted(first[rank]) == list(range(1, killed_at + 1))
        assert sorted(resumed[rank]) == list(range(resumed_from + 1, last + 1))
    # every iteration: the two ranks start from different generator states, so they draw other boxes, masks, crops
    for step in range(1, killed_at + 1):
        for state in ('torch_state', 'python_state'):
            assert first[0][step][state] != first[1][step][state], (step, state)
    # the iterations computed twice: the same states and the same losses, rank by rank, to the bit
    repeated = range(resumed_from + 1, killed_at + 1)
    assert len(repeated) >= 1
    for rank in (0, 1):
        for step in repeated:
            assert resumed[rank][step] == first[rank][step], (rank, step)
            assert any(name in first[rank][step] for name in LOSSES)
    # and the ranks computed different losses (different images, different draws)
    assert first[0][killed_at] != first[1][killed_at]


def test_segmentation_on_two_ranks_draws_per_rank_and_resumes_every_ranks_losses(ade_root, tmp_path):
    """train.py, demo UperNet, 6 iterations, a checkpoint every 3; killed after iteration 5, resumed from 3."""
    log = kill_and_resume('train.py', DEMO_CONFIG, tmp_path, demo_overrides(ade_root, iters=6), kill_after=5)
    assert 'resumed epoch: 0, iter: 3' in log
    assert_ranks_differ_and_resume_repeats(tmp_path, killed_at=5, resumed_from=3, last=6)


def test_pretraining_on_two_ranks_draws_per_rank_and_resumes_mid_epoch_every_ranks_losses(imagenet_root, tmp_path):
    """pretrain.py, demo token labeling with MixToken, RandAugment and erasing: 2 epochs of 4 iterations (16 images,
    2 per rank), a mid-epoch checkpoint every 2 batches; killed after iteration 7, resumed from 6 (epoch 2, batch 3)."""
    options = [*pretrain_overrides(imagenet_root, epochs=2), *[f'{split}_dataloader.batch_size=2'
                                                                for split in ('train', 'val', 'test')],
               'default_hooks.checkpoint.mid_epoch_interval=2']
    log = kill_and_resume('pretrain.py', PRETRAIN_DEMO_CONFIG, tmp_path, options, kill_after=7)
    assert 'resumed epoch: 1, iter: 6' in log and 'epoch 2 resumes at batch 3 of 4' in log
    assert_ranks_differ_and_resume_repeats(tmp_path, killed_at=7, resumed_from=6, last=8)
