"""Checkpoints load safely (weights only, or a clear refusal) and are written so that kill -9 loses nothing."""
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import mmengine.dist.utils
import pytest
import torch
from lvseg_testing.reliability_runner import run_failing_tool, save_with_foreign_object
from lvseg_testing.tool_runner import DEMO_CONFIG, REPO, demo_overrides, run_tool
from torch.utils.data import DataLoader

import lvseg.checkpoints.safe_load as safe_load
from lvseg.checkpoints.safe_load import (
    UnreadableCheckpointError,
    UnsafeCheckpointError,
    load_checkpoint,
    load_checkpoint_file,
)
from lvseg.engine.runner import LvsegRunner
from lvseg.models.backbones.lvvit import LVViT
from lvseg.utils.atomic_write import atomic_write_path, write_text_atomically

WRITER = REPO / 'tests/lvseg_testing/checkpoint_writer.py'
TINY_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, mlp_ratio=2.0, stem_channels=8, skip_lam=1.0)


@pytest.fixture
def foreign_checkpoint(tmp_path):
    path = tmp_path / 'foreign.pth'
    offender = save_with_foreign_object({'state_dict': {'w': torch.ones(2)}}, path)
    return path, offender


# ---------------------------------------------------------------- safe loading

def test_lvseg_loads_refuse_foreign_objects_naming_file_and_object(foreign_checkpoint):
    path, offender = foreign_checkpoint
    for load in (lambda: load_checkpoint(str(path)),  # LvsegRunner's load_from / resume, backbones' pretrained
                 lambda: load_checkpoint_file(path, map_location='cpu')):  # the converters
        with pytest.raises(UnsafeCheckpointError) as refused:
            load()
        assert str(path) in str(refused.value) and offender in str(refused.value)
        assert '--unsafe-load' in str(refused.value) and 'LVSEG_UNSAFE_LOAD=1' in str(refused.value)


def test_torch_force_no_weights_only_load_does_not_bypass_the_refusal(foreign_checkpoint, monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')  # overrides torch.load calls without weights_only
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(str(foreign_checkpoint[0]))


def test_unsafe_load_env_loads_it_with_a_warning(foreign_checkpoint, monkeypatch):
    path, offender = foreign_checkpoint
    warnings = []
    monkeypatch.setattr(safe_load, 'print_log', lambda message, **kwargs: warnings.append(message))
    monkeypatch.setenv('LVSEG_UNSAFE_LOAD', '1')
    checkpoint = load_checkpoint(str(path))
    assert str(checkpoint['meta']['note']) == '1/3'
    assert len(warnings) == 1 and 'weights_only=False' in warnings[0] and offender in warnings[0]


def test_plain_checkpoints_load_without_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(safe_load, 'print_log', lambda *a, **k: pytest.fail('warned for a safe file'))
    torch.save({'state_dict': {'w': torch.ones(2)}}, tmp_path / 'plain.pth')
    assert load_checkpoint_file(tmp_path / 'plain.pth')['state_dict']['w'].sum() == 2


def test_a_truncated_checkpoint_is_named(tmp_path):
    path = tmp_path / 'iter_4.pth'
    torch.save({'state_dict': {'w': torch.ones(1000)}}, path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(UnreadableCheckpointError, match=f'{path}: not a readable checkpoint, truncated'):
        load_checkpoint(str(path))


def test_backbone_init_cfg_pretrained_refuses_it(foreign_checkpoint):
    backbone = LVViT(arch=TINY_ARCH, img_size=32, out_indices=(0, 1, 1, 1), pyramid='side_layers',
                     init_cfg=dict(type='Pretrained', checkpoint=str(foreign_checkpoint[0])))
    with pytest.raises(UnsafeCheckpointError, match='fractions.Fraction'):
        backbone.init_weights()


def test_convert_checkpoint_refuses_then_loads_with_unsafe_load(tmp_path):
    source = tmp_path / 'official.pth'
    backbone = LVViT(arch=TINY_ARCH, img_size=32, out_indices=(0, 1, 1, 1), pyramid='side_layers', final_norm=True)
    save_with_foreign_object({'state_dict': backbone.state_dict()}, source)
    command = ['convert_checkpoint.py', str(source), str(tmp_path / 'out.pth')]
    refused = run_tool(*command, expect_failure=True)
    assert not (tmp_path / 'out.pth').exists()
    assert refused.stderr.strip().splitlines()[-1].startswith(f'error: {source}: refusing to load')
    loaded = run_tool(*command, '--unsafe-load')
    assert 'weights_only=False' in loaded.stdout + loaded.stderr
    assert 'blocks.1.attn.qkv.weight' in torch.load(tmp_path / 'out.pth', weights_only=True)['state_dict']


@pytest.mark.slow
def test_test_tool_refuses_a_foreign_checkpoint_unless_unsafe_load(ade_root, tmp_path):
    work = tmp_path / 'work'
    run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(work), *demo_overrides(ade_root, iters=2),
             'train_cfg.val_interval=100')
    foreign = tmp_path / 'foreign.pth'
    save_with_foreign_object(load_checkpoint_file(work / 'iter_2.pth'), foreign)

    refused = run_failing_tool('test.py', str(DEMO_CONFIG), str(foreign), '--work-dir', str(tmp_path / 'test'),
                               *demo_overrides(ade_root))
    assert f'error: {foreign}: refusing to load this checkpoint' in refused.stderr
    assert 'fractions.Fraction' in refused.stderr and 'Traceback' not in refused.stderr

    tested = run_tool('test.py', str(DEMO_CONFIG), str(foreign), '--unsafe-load', '--work-dir',
                      str(tmp_path / 'test'), *demo_overrides(ade_root))
    assert 'mIoU' in tested.stdout + tested.stderr and 'weights_only=False' in tested.stdout + tested.stderr


# ---------------------------------------------------------------- atomic writes

def test_a_failed_write_leaves_the_old_file_and_no_part(tmp_path):
    target = tmp_path / 'iter_2.pth'
    target.write_bytes(b'old')
    with pytest.raises(RuntimeError), atomic_write_path(target) as tmp:
        tmp.write_bytes(b'half of the n')
        raise RuntimeError('disk full')
    assert target.read_bytes() == b'old' and os.listdir(tmp_path) == ['iter_2.pth']
    write_text_atomically('/work/iter_4.pth', tmp_path / 'last_checkpoint')
    assert (tmp_path / 'last_checkpoint').read_text() == '/work/iter_4.pth'
    assert oct((tmp_path / 'last_checkpoint').stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def test_only_rank_0_writes_a_checkpoint(tmp_path, monkeypatch):
    """Every rank calls ``save_checkpoint``; ranks > 0 must leave the file rank 0 wrote as it is. (They once made
    a temporary file each and renamed it, empty, over it: a 0-byte ``epoch_1.pth`` whenever rank 1 came last.)"""
    runner = LvsegRunner(model=torch.nn.Linear(3, 2), work_dir=str(tmp_path / 'work'), default_scope='mmseg',
                         train_dataloader=DataLoader([torch.zeros(3)]), train_cfg=dict(by_epoch=True, max_epochs=1),
                         optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)))
    runner.save_checkpoint(str(tmp_path), 'epoch_1.pth', save_optimizer=False, save_param_scheduler=False)
    written = (tmp_path / 'epoch_1.pth').read_bytes()
    assert load_checkpoint_file(tmp_path / 'epoch_1.pth')['state_dict']['weight'].shape == (2, 3)

    monkeypatch.setattr(mmengine.dist.utils, 'get_rank', lambda group=None: 1)
    runner.save_checkpoint(str(tmp_path), 'epoch_1.pth', save_optimizer=False, save_param_scheduler=False)
    runner.save_checkpoint(str(tmp_path), 'epoch_2.pth', save_optimizer=False, save_param_scheduler=False)
    assert (tmp_path / 'epoch_1.pth').read_bytes() == written
    assert sorted(path.name for path in tmp_path.iterdir() if path.is_file()) == ['epoch_1.pth']


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_and_kill(work_dir: Path, iters: int, stall: str, plain: bool = False) -> None:
    """Run the toy training of checkpoint_writer.py until the last write stalls halfway, then kill -9 it."""
    command = [sys.executable, str(WRITER), str(work_dir), '--iters', str(iters), '--stall', stall]
    writer = subprocess.Popen(command + (['--plain'] if plain else []), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=dict(os.environ, OMP_NUM_THREADS='1'))
    lines = []
    for line in writer.stdout:
        lines.append(line)
        if line.strip() == 'STALLED':
            writer.send_signal(signal.SIGKILL)
            break
    writer.wait(timeout=60)
    assert writer.returncode == -signal.SIGKILL, ''.join(lines[-30:])


def _resume(work_dir: Path, iters: int) -> list[str]:
    result = subprocess.run([sys.executable, str(WRITER), str(work_dir), '--iters', str(iters), '--resume'],
                            capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS='1'), timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout.splitlines()


@pytest.mark.slow
def test_kill_during_a_checkpoint_write_keeps_the_previous_one_and_resume_works(tmp_path):
    _write_and_kill(tmp_path, iters=2, stall='checkpoint')  # max_keep_ckpts=1: iter_1 is the one to keep
    assert not (tmp_path / 'iter_2.pth').exists()  # nothing half-written under the final name
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_1.pth')
    assert load_checkpoint_file(tmp_path / 'iter_1.pth')['meta']['iter'] == 1
    assert len(list(tmp_path.glob('.iter_2.pth.*.part'))) == 1  # the interrupted write

    lines = _resume(tmp_path, iters=2)
    assert 'LOSS 2' in ' '.join(lines) and 'DONE' in lines
    assert not list(tmp_path.glob('.*.part'))  # removed when training starts again
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_2.pth']


@pytest.mark.slow
def test_kill_during_the_pointer_write_keeps_a_valid_pointer(tmp_path):
    _write_and_kill(tmp_path, iters=2, stall='pointer')
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_1.pth')
    assert (tmp_path / 'iter_1.pth').is_file()  # the outdated checkpoint goes only after the pointer moved on
    assert load_checkpoint_file(tmp_path / 'iter_2.pth')['meta']['iter'] == 2


@pytest.mark.slow
@pytest.mark.parametrize('stall', ['checkpoint', 'pointer'])
def test_without_lvseg_mmengine_loses_the_checkpoint_to_resume_from(tmp_path, stall):
    """Why AtomicCheckpointHook exists: remove this test (and the hook) when mmengine's hook passes the above."""
    _write_and_kill(tmp_path, iters=2, stall=stall, plain=True)
    assert not (tmp_path / 'iter_1.pth').exists()  # deleted before the new one was complete
    pointer = (tmp_path / 'last_checkpoint').read_text()
    if stall == 'checkpoint':
        assert pointer == str(tmp_path / 'iter_1.pth')  # points at the deleted file
        assert 0 < (tmp_path / 'iter_2.pth').stat().st_size  # half a file under the final name
        with pytest.raises(RuntimeError):  # torch: failed finding central directory
            torch.load(tmp_path / 'iter_2.pth', weights_only=True)
    else:
        assert pointer != str(tmp_path / 'iter_2.pth')  # empty or half a path



@pytest.mark.parametrize('hook_type', ['AtomicCheckpointHook', 'mmengine'])
def test_a_new_best_checkpoint_is_written_before_the_previous_best_is_deleted(tmp_path, hook_type):
    """The hook's calls as an epoch-based run makes them (a checkpoint per epoch, then validation), the
    accuracy of 3 epochs 0.5, 0.4, 0.7; mmengine's own hook shows why lvseg's exists."""
    from mmengine.hooks import CheckpointHook
    from mmengine.logging import MessageHub, MMLogger

    from lvseg.engine import AtomicCheckpointHook

    hook_class = AtomicCheckpointHook if hook_type == 'AtomicCheckpointHook' else CheckpointHook
    hook = hook_class(interval=1, save_best='acc', rule='greater', max_keep_ckpts=1)
    present_during_write = {}

    def save_checkpoint(out_dir, filename, *args, **kwargs):
        present_during_write[filename] = sorted(p.name for p in tmp_path.glob('*.pth'))
        (tmp_path / filename).write_bytes(b'weights')

    runner = SimpleNamespace(work_dir=str(tmp_path), save_checkpoint=save_checkpoint, epoch=0, iter=0,
                             logger=MMLogger.get_current_instance(),
                             message_hub=MessageHub.get_instance(f'best-order-{hook_type}'))
    hook.before_train(runner)
    for epoch, accuracy in enumerate((0.5, 0.4, 0.7)):
        runner.epoch = runner.iter = epoch
        hook._save_checkpoint(runner)  # what after_train_epoch does
        runner.epoch += 1
        hook.after_val_epoch(runner, {'acc': accuracy})
    if hook_type == 'mmengine':
        assert present_during_write['best_acc_epoch_3.pth'] == ['epoch_3.pth']  # a kill here: no best at all
    else:
        assert present_during_write['best_acc_epoch_3.pth'] == ['best_acc_epoch_1.pth', 'epoch_3.pth']
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['best_acc_epoch_3.pth', 'epoch_3.pth']
