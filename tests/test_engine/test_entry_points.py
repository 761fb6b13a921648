"""One behaviour whatever the entry point: lvseg's tools, ``RUNNERS.build(cfg)`` / ``LvsegRunner.from_cfg(cfg)`` in
a Python session, and mmseg's own ``train.py`` (what ``mim train mmseg`` runs) give the same run policy, the same
losses and the same exact resume, because the config chooses ``LvsegRunner``."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from lvseg_testing.tool_runner import DEMO_CONFIG, REPO, demo_overrides, run_tool

pytestmark = pytest.mark.slow

IN_PROCESS = """
import sys
from mmengine.config import Config, DictAction
import argparse
parser = argparse.ArgumentParser()
parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
options = parser.parse_args(sys.argv[4:]).cfg_options
cfg = Config.fromfile(sys.argv[1])
cfg.merge_from_dict(options)
cfg.work_dir = sys.argv[2]
cfg.resume = sys.argv[3] == 'resume'
if sys.argv[3] == 'from_cfg':
    import lvseg.engine.runner
    runner = lvseg.engine.runner.LvsegRunner.from_cfg(cfg)
else:
    import mmseg.utils
    from mmseg.registry import RUNNERS
    mmseg.utils.register_all_modules(init_default_scope=False)
    runner = RUNNERS.build(cfg)
print('RUNNER', type(runner).__name__)
runner.train()
"""


def losses(work_dir: Path) -> dict[int, float]:
    """The training loss of each iteration, from the scalars the runs' LocalVisBackend wrote."""
    found = {}
    for scalars in sorted(work_dir.glob('*/vis_data/scalars.json')):
        for line in scalars.read_text().splitlines():
            record = json.loads(line)
            if 'loss' in record:
                found[record['step']] = record['loss']
    return found


def run_in_process(how: str, work_dir: Path, options: list[str]) -> str:
    command = [sys.executable, '-c', IN_PROCESS, str(DEMO_CONFIG), str(work_dir), how, *options]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600,
                            env={**__import__('os').environ, 'OMP_NUM_THREADS': '1'})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def mmseg_train_script() -> Path | None:
    import mmseg
    script = Path(mmseg.__file__).parent / '.mim/tools/train.py'
    return script if script.is_file() else None


def test_tools_runners_build_and_mmsegs_train_script_behave_the_same(ade_root, tmp_path):
    options = [*demo_overrides(ade_root, iters=4), 'randomness.seed=0', 'train_cfg.val_interval=100']
    tool = run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(tmp_path / 'tool'), *options)
    reference = losses(tmp_path / 'tool')
    assert sorted(reference) == [1, 2, 3, 4]

    built = run_in_process('build', tmp_path / 'build', options)
    from_cfg = run_in_process('from_cfg', tmp_path / 'from_cfg', options)
    assert 'RUNNER LvsegRunner' in built and 'RUNNER LvsegRunner' in from_cfg
    assert losses(tmp_path / 'build') == reference and losses(tmp_path / 'from_cfg') == reference

    for log in (tool.stdout + tool.stderr, built, from_cfg):  # the same policy, logged once each
        assert log.count('run policy: default_hooks.checkpoint: CheckpointHook -> AtomicCheckpointHook') == 0
        assert log.count("run policy: train_dataloader.dataset: checked sample by sample") == 1
    for work in ('tool', 'build', 'from_cfg'):
        [dumped] = (tmp_path / work).glob('*.py')
        text = dumped.read_text()
        assert "runner_type = 'LvsegRunner'" in text and 'run_policy = [' in text
        assert "type='AtomicCheckpointHook'" in text and "type='CheckedDataset'" in text

    # exact resume across entry points: 2 iterations in a session, resumed to 4 by another entry point
    half = [*demo_overrides(ade_root, iters=4), 'randomness.seed=0', 'train_cfg.val_interval=100',
            'default_hooks.checkpoint.interval=2']
    resumed = tmp_path / 'resumed'
    stop_at_two = [option.replace('train_cfg.max_iters=4', 'train_cfg.max_iters=2') for option in half]
    run_in_process('build', resumed, stop_at_two)
    script = mmseg_train_script()
    if script is not None:  # mmseg's train.py, as `mim train mmseg` runs it
        command = [sys.executable, str(script), str(DEMO_CONFIG), '--work-dir', str(resumed), '--resume', *half]
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        assert 'run policy:' in result.stdout + result.stderr
    else:
        run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(resumed), '--resume', *half)
    assert losses(resumed) == reference
