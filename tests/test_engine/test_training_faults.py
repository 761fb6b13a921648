"""Training runs that go wrong stop with the reason: a NaN loss, a failing rank (slow: real tool runs)."""
import os
import re
from pathlib import Path

import pytest
from lvseg_testing.reliability_runner import run_failing_tool
from lvseg_testing.tool_runner import DEMO_CONFIG, demo_overrides

pytestmark = pytest.mark.slow


def test_a_nan_loss_stops_the_run_naming_iteration_last_loss_and_files(ade_root, tmp_path):
    # lr 1e30: iteration 1 computes a finite loss, its update sends the weights to inf, iteration 2's loss is NaN
    failed = run_failing_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(tmp_path), *demo_overrides(ade_root),
                              'optim_wrapper.optimizer.lr=1e30', 'param_scheduler.0.start_factor=1.0')
    error = failed.stderr.strip().splitlines()[-1]
    found = re.match(r'error: non-finite loss at iteration 2: loss=nan, decode.loss_ce=nan, aux.loss_ce=nan; '
                     r'last finite loss (\S+) at iteration 1; batch of 2 images: (\S+), (\S+)\. ', error)
    assert found, error
    assert float(found.group(1)) > 0
    assert all(Path(name).is_file() and 'images/training' in name for name in found.group(2, 3))
    assert 'Traceback' not in failed.stderr
    assert not list(tmp_path.glob('*.pth'))  # stopped before the checkpoint of iteration 2
    log = next(tmp_path.glob('*/*.log')).read_text()
    assert 'non-finite loss at iteration 2' in log


def test_a_rank_that_raises_stops_every_rank_without_a_hang(ade_root, tmp_path):
    config = tmp_path / 'fault.py'
    config.write_text(f"_base_ = ['{DEMO_CONFIG}']\n"
                      "custom_imports = dict(imports=['lvseg', 'lvseg_testing.reliability_fault_hook'],\n"
                      "                      allow_failed_imports=False)\n"
                      "custom_hooks = [dict(type='RaiseOnRankHook', rank=1, iteration=2)]\n")
    tests = str(Path(__file__).parents[1])
    # a hang guard only: the 6 iterations take well under a minute, gloo's own timeout (30 min) far more
    failed = run_failing_tool('train.py', str(config), '--work-dir', str(tmp_path / 'work'),
                              *demo_overrides(ade_root, iters=6), nproc=2, timeout=600,
                              env={'PYTHONPATH': os.pathsep.join(filter(None, [tests, os.environ.get('PYTHONPATH')]))})
    output = failed.stdout + failed.stderr
    assert 'RuntimeError: injected fault on rank 1 at iteration 2' in output
    # torchrun's summary (ChildFailedError) lists every rank that ended non-zero: rank 1 by its error; rank 0, which
    # would otherwise wait for rank 1 in the next all-reduce, by the group's closed connection (gloo's error) or
    # by torchrun's SIGTERM. Neither process is left.
    assert 'ChildFailedError' in output
    ranks = {int(rank): (int(code), int(pid)) for rank, code, pid in re.findall(
        r'rank +: (\d+) \(local_rank: \d+\)\n +exitcode +: (-?\d+) \(pid: (\d+)\)', output)}
    assert sorted(ranks) == [0, 1] and ranks[1][0] == 1 and ranks[0][0] != 0, output[-3000:]
    assert not [pid for _, pid in ranks.values() if is_running(pid)]


def is_running(pid: int) -> bool:
    """Whether a process ``pid`` exists (torchrun reaps its ranks: one it stopped leaves no zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
