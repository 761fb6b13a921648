"""lvseg's checkpoint reading (lvseg/checkpoints/safe_load.py): mmengine's checkpoints load weights-only, arbitrary
pickles stay refused, and nothing outside lvseg's own loads is changed."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub

from lvseg.checkpoints.safe_load import UnsafeCheckpointError, load_checkpoint_file


def mmengine_like_checkpoint(path):
    """What mmengine 0.10.7's CheckpointHook writes: weights plus the MessageHub's HistoryBuffers."""
    hub = MessageHub('compat-test')
    hub.update_scalar('train/loss', np.float64(0.25))
    hub.update_scalar('train/lr', 1e-3)
    hub.update_info('iter', 4)
    torch.save({'meta': {'iter': 4, 'seed': np.int64(0)}, 'message_hub': hub.state_dict(),
                'state_dict': {'w': torch.ones(2)}}, path)


def test_mmengine_checkpoints_load_with_weights_only(tmp_path):
    path = tmp_path / 'iter_4.pth'
    mmengine_like_checkpoint(path)
    checkpoint = load_checkpoint_file(path)
    assert checkpoint['message_hub']['log_scalars']['train/loss'].current() == 0.25
    assert checkpoint['meta']['iter'] == 4


def test_the_allow_list_holds_inside_lvseg_loads_only(tmp_path):
    """torch's own weights-only load still refuses them after lvseg was imported: nothing global changed."""
    path = tmp_path / 'iter_4.pth'
    mmengine_like_checkpoint(path)
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(path, weights_only=True)


def test_arbitrary_pickles_stay_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'payload': subprocess.CompletedProcess(['true'], 0)}, path)
    with pytest.raises(UnsafeCheckpointError, match='CompletedProcess'):
        load_checkpoint_file(path)


def test_getattr_in_a_checkpoint_reaches_only_history_buffer_statistics(tmp_path):
    class Evil:
        def __reduce__(self):
            return getattr, (np.ndarray, 'tofile')

    path = tmp_path / 'getattr.pth'
    torch.save({'x': Evil()}, path)
    with pytest.raises(UnsafeCheckpointError, match='builtins.getattr'):
        load_checkpoint_file(path)


IMPORT_CHANGES_NOTHING = """
import mmengine.runner, mmengine.runner.runner, torch
def outside_torch():  # the allow-list's entries but those torch registers itself as its modules load
    return [g for g in torch.serialization.get_safe_globals() if not getattr(g, '__module__', '').startswith('torch.')]
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.runner.checkpoint import CheckpointLoader
before = (mmengine.runner.runner.save_checkpoint, mmengine.runner.save_checkpoint,
          DefaultOptimWrapperConstructor.__call__, dict(CheckpointLoader._schemes),
          outside_torch(), mmengine.runner.Runner.from_cfg)
import os
umask = os.umask(0o022); os.umask(umask)
import lvseg, lvseg.engine.runner
after = (mmengine.runner.runner.save_checkpoint, mmengine.runner.save_checkpoint,
         DefaultOptimWrapperConstructor.__call__, dict(CheckpointLoader._schemes),
         outside_torch(), mmengine.runner.Runner.from_cfg)
assert before == after, [name for name, b, a in zip(
    ['runner.runner.save_checkpoint', 'runner.save_checkpoint', 'DefaultOptimWrapperConstructor.__call__',
     'CheckpointLoader schemes', 'torch safe globals', 'Runner.from_cfg'], before, after) if b != a]
now = os.umask(0o022); os.umask(now)
assert now == umask
print('UNCHANGED')
"""


def test_importing_lvseg_patches_nothing():
    """mmengine's checkpoint saving and loading, optimizer construction, torch's allow-list (but for the types
    torch registers itself when its own modules load) and the umask are as they were before ``import lvseg`` (run
    in a fresh interpreter, so no other test has imported it yet)."""
    result = subprocess.run([sys.executable, '-c', IMPORT_CHANGES_NOTHING], capture_output=True, text=True)
    assert result.returncode == 0 and 'UNCHANGED' in result.stdout, result.stderr[-3000:]
