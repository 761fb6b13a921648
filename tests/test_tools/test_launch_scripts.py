"""tools/dist_*.sh (through tools/torchrun.sh) and tools/slurm_*.sh (through tools/slurm_run.sh) run the
project's venv's Python ($VENV/bin/python, VENV default .venv) where there is one, else python from the PATH, and
stop with one line where that interpreter has no torch. Fake interpreters and a fake srun record how they are
called."""
import os
import subprocess

import pytest
from lvseg_testing.tool_runner import REPO

TORCHRUN_DEFAULTS = ['-m', 'torch.distributed.run', '--nnodes=1', '--node_rank=0', '--master_addr=127.0.0.1',
                     '--master_port=29500']
# Records its arguments, one call a line, fields separated by tabs, and exits with FAKE_STATUS (default 0).
RECORDER = '#!/bin/sh\nprintf "%s\\t" "$0" "$@" >> "$CALLS"\nprintf "\\n" >> "$CALLS"\nexit "${FAKE_STATUS:-0}"\n'


def write_recorder(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(RECORDER)
    path.chmod(0o755)
    return path


def run_script(tmp_path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """Run ``tools/<args[0]>`` from ``tmp_path`` with a PATH whose first folder holds a fake ``python`` and a
    fake ``srun``; return the finished process and the calls the fakes recorded."""
    calls = tmp_path / 'calls.txt'
    path_bin = tmp_path / 'path_bin'
    write_recorder(path_bin / 'python')
    write_recorder(path_bin / 'srun')
    base = {name: value for name, value in os.environ.items() if name not in ('VENV', 'PYTHON', 'FAKE_STATUS')}
    env = dict(base, PATH=f'{path_bin}:/usr/bin:/bin', CALLS=str(calls), **env)
    result = subprocess.run(['bash', str(REPO / 'tools' / args[0]), *args[1:]], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    recorded = [line.split('\t')[:-1] for line in calls.read_text().splitlines()] if calls.exists() else []
    return result, recorded


@pytest.mark.parametrize('script, args, tool_args', [
    ('dist_train.sh', ['cfg.py', '2', '--amp'], ['tools/train.py', 'cfg.py', '--amp']),
    ('dist_test.sh', ['cfg.py', 'ckpt.pth', '2', '--tta'], ['tools/test.py', 'cfg.py', 'ckpt.pth', '--tta']),
    ('dist_pretrain.sh', ['cfg.py', '2'], ['tools/pretrain.py', 'cfg.py']),
])
def test_dist_scripts_run_torchrun_with_the_venvs_python(tmp_path, script, args, tool_args):
    python = write_recorder(tmp_path / 'venv/bin/python')

    result, calls = run_script(tmp_path, script, *args, VENV=str(tmp_path / 'venv'))

    assert result.returncode == 0, result.stderr
    # first the check for torch, then torchrun, both with the venv's interpreter; PATH's python is never run
    assert [call[:2] for call in calls[:-1]] == [[str(python), '-c']]
    assert calls[-1] == [str(python), *TORCHRUN_DEFAULTS, '--nproc_per_node=2', *tool_args, '--launcher', 'pytorch']


def test_slurm_scripts_run_the_tool_with_the_venvs_python(tmp_path):
    python = write_recorder(tmp_path / 'venv/bin/python')

    result, calls = run_script(tmp_path, 'slurm_train.sh', 'part', 'job', 'cfg.py', '--amp',
                               VENV=str(tmp_path / 'venv'))

    assert result.returncode == 0, result.stderr
    assert calls[-1][0] == str(tmp_path / 'path_bin/srun')
    assert calls[-1][calls[-1].index(str(python)):] == [str(python), '-u', 'tools/train.py', 'cfg.py', '--amp',
                                                        '--launcher', 'slurm']


def test_without_the_venv_the_python_on_the_path_runs(tmp_path):
    result, calls = run_script(tmp_path, 'dist_train.sh', 'cfg.py', '1', VENV=str(tmp_path / 'missing'))

    assert result.returncode == 0, result.stderr
    path_python = str(tmp_path / 'path_bin/python')
    assert calls[-1] == [path_python, *TORCHRUN_DEFAULTS, '--nproc_per_node=1', 'tools/train.py', 'cfg.py',
                         '--launcher', 'pytorch']


@pytest.mark.skipif(not (REPO / '.venv/bin/python').is_file(), reason='no .venv in this checkout')
def test_venv_defaults_to_the_repositorys_dot_venv(tmp_path):
    result, calls = run_script(tmp_path, 'slurm_test.sh', 'part', 'job', 'cfg.py', 'ckpt.pth')  # the fake srun

    assert result.returncode == 0, result.stderr
    assert calls[-1][-7:] == ['.venv/bin/python', '-u', 'tools/test.py', 'cfg.py', 'ckpt.pth', '--launcher', 'slurm']


def test_an_interpreter_without_torch_stops_with_one_line(tmp_path):
    result, calls = run_script(tmp_path, 'dist_train.sh', 'cfg.py', '1', VENV=str(tmp_path / 'missing'),
                               FAKE_STATUS='1')  # the fake's check for torch fails

    assert result.returncode == 2
    assert result.stdout == ''
    path_python = tmp_path / 'path_bin/python'
    assert result.stderr == (f"torchrun.sh: python ({path_python}) cannot import torch: run 'make setup "
                             f"VENV={tmp_path}/missing' or activate lvseg's environment\n")
    assert [call[:2] for call in calls] == [[str(path_python), '-c']]  # torchrun was never started
