"""The compatibility shims (lvseg/compat.py): each test fails without its shim."""
import subprocess
import sys

import numpy as np
import torch
from mmengine.logging import MessageHub

import lvseg  # noqa: F401  (applies the shims)


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
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint['message_hub']['log_scalars']['train/loss'].current() == 0.25
    assert checkpoint['meta']['iter'] == 4


def test_without_the_shim_torch_refuses_them(tmp_path):
    path = tmp_path / 'iter_4.pth'
    mmengine_like_checkpoint(path)
    code = f'import torch; torch.load({str(path)!r}, weights_only=True)'
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert result.returncode != 0 and 'Weights only load failed' in result.stderr


def test_arbitrary_pickles_stay_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'payload': subprocess.CompletedProcess(['true'], 0)}, path)
    try:
        torch.load(path, weights_only=True)
    except Exception as error:  # torch raises UnpicklingError
        assert 'CompletedProcess' in str(error)
    else:
        raise AssertionError('a non-allow-listed class was unpickled')


def test_getattr_in_a_checkpoint_reaches_only_history_buffer_statistics(tmp_path):
    class Evil:
        def __reduce__(self):
            return getattr, (np.ndarray, 'tofile')

    path = tmp_path / 'getattr.pth'
    torch.save({'x': Evil()}, path)
    try:
        torch.load(path, weights_only=True)
    except Exception as error:
        assert 'allows getattr only for HistoryBuffer statistics' in str(error)
    else:
        raise AssertionError('getattr on a non-HistoryBuffer object was allowed')
