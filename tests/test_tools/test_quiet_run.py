"""A run prints what a user reads: a 4-iteration demo run in under 60 lines without the known third-party
warnings, the config and the details in the work dir, and an error as the last line printed.

Each tool runs as a user runs it: a new interpreter, its stdout and stderr in one stream, in the order printed.
"""
import os
import re
import subprocess
import sys

import pytest
from lvseg_testing.tool_runner import DEMO_CONFIG, REPO, demo_overrides

from lvseg.utils.known_warnings import KNOWN_LOG_WARNINGS, KNOWN_WARNINGS

pytestmark = pytest.mark.slow  # each test runs a tool in a new interpreter (7 to 20 s)


def train(*args: str) -> subprocess.CompletedProcess:
    """``python tools/train.py *args``, its output as one stream (stderr into stdout)."""
    env = {key: value for key, value in os.environ.items() if key != 'PYTHONWARNINGS'}
    return subprocess.run([sys.executable, str(REPO / 'tools/train.py'), *args], cwd=REPO, text=True, timeout=900,
                          env=dict(env, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1'), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)


def test_a_four_iteration_demo_run_prints_under_60_lines(ade_root, tmp_path):
    work = tmp_path / 'work'
    result = train(str(DEMO_CONFIG), '--work-dir', str(work), *demo_overrides(ade_root, iters=4))
    assert result.returncode == 0, result.stdout[-6000:]
    printed = result.stdout.splitlines()
    assert len(printed) < 60, result.stdout
    for known in (*KNOWN_WARNINGS, *KNOWN_LOG_WARNINGS):
        assert not re.search(known.message, result.stdout), known.message
    assert not [line for line in printed if re.search(r'\w+Warning: ', line)]  # no Python warning at all
    assert not [line for line in printed if 'paramwise_options' in line or line.endswith('- Config:')]
    assert len([line for line in printed if ' - optimizer: ' in line]) == 1

    [dumped] = work.glob('*.py')  # the whole config, with the run policy's edits
    assert f'config: {dumped} (in full in the log file ' in result.stdout
    config = dumped.read_text()
    assert "runner_type = 'LvsegRunner'" in config and 'run_policy = [' in config and 'model = dict(' in config
    [log] = work.glob('*/*.log')
    logged = log.read_text()
    assert 'Config:\n' in logged and 'System environment:' in logged and 'Hooks will be executed' in logged
    assert 'paramwise_options -- backbone.pos_embed:weight_decay=0.0' in logged


@pytest.mark.parametrize('options, error', [
    (['trian_cfg.max_iters=2'], "error: --cfg-options trian_cfg.max_iters: the config has no key 'trian_cfg'"),
    ([f'{split}_dataloader.dataset.data_root=nowhere' for split in ('train', 'val', 'test')],
     "error: train_dataloader.dataset.data_root: 'nowhere' does not exist"),
], ids=['misspelt key', 'missing data'])
def test_an_error_is_the_last_line_printed(options, error, tmp_path):
    """A misspelt key stops the run before the config is merged; missing data once the runner is built."""
    result = train(str(DEMO_CONFIG), '--work-dir', str(tmp_path), '--cfg-options', *options)
    assert result.returncode != 0, result.stdout[-3000:]
    printed = result.stdout.splitlines()
    assert printed[-1].startswith('error: ') and any(line.startswith(error) for line in printed), result.stdout
    assert len(printed) < 15, result.stdout
