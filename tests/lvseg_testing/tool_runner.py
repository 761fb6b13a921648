"""Run lvseg's tools as a user would, each in a process of its own; helpers for the end-to-end tests.

A tool runs in a child forked from a server process that imported torch, mmengine, mmseg and lvseg once
(multiprocessing's forkserver, one per test process): a fresh process per run, with the tool's own ``__main__``,
arguments, environment, working directory and exit status, that skips the ~5 s of CPU those imports cost each
plain ``python tools/<tool>.py``. Runs under torchrun (``nproc``), and every run when ``LVSEG_TEST_SUBPROCESS=1``,
start a plain subprocess instead.
"""
import importlib.util
import multiprocessing
import os
import random
import runpy
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / 'configs/demo/upernet_lvvit-demo_synthetic-128.py'
PRETRAIN_DEMO_CONFIG = REPO / 'configs/demo/lvvit-demo_tokenlabel_synthetic-128.py'


def import_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as a module (the tools folder is no package), for tests of its functions."""
    spec = importlib.util.spec_from_file_location(f'tools_{name}', REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


# matplotlib.pyplot: mmseg's visualizer, which every Runner builds, imports it
PRELOADED = ['torch', 'torchvision', 'mmengine.runner', 'mmseg.apis', 'matplotlib.pyplot', 'lvseg',
             'lvseg_testing.tool_runner']
FORKSERVER = multiprocessing.get_context('forkserver')
FORKSERVER.set_forkserver_preload(PRELOADED)


def run_tool(*args: str, nproc: int = 0, timeout: int = 900, env: dict | None = None,
             expect_failure: bool = False) -> subprocess.CompletedProcess:
    """Run ``tools/<args[0]>`` with this interpreter (or under torchrun with ``nproc`` processes); return the
    finished process. The test fails, with the output, if the tool exits non-zero (or, with ``expect_failure``,
    if it exits 0), or if it runs past ``timeout`` seconds. ``env`` adds environment variables."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1', **(env or {}))
    tool = str(REPO / 'tools' / args[0])
    if nproc:
        command = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={nproc}',
                   tool, *args[1:], '--launcher', 'pytorch']
    else:
        command = [sys.executable, tool, *args[1:]]
    if nproc or os.environ.get('LVSEG_TEST_SUBPROCESS') == '1':
        try:
            result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as error:
            pytest.fail(f'{" ".join(command)} still ran after {timeout} s (hung?)\n{error.stdout}\n{error.stderr}')
    else:
        result = run_forked(command, env, timeout)
    if (result.returncode != 0) != expect_failure:
        expected = 'a failure' if expect_failure else 'success'
        pytest.fail(f'{" ".join(command)} exited {result.returncode}, expected {expected}\n'
                    f'{result.stdout[-4000:]}\n{result.stderr[-6000:]}')
    return result


def run_forked(command: list[str], env: dict, timeout: int) -> subprocess.CompletedProcess:
    """``command`` (``[python, script, *arguments]``) run by :func:`run_script` in a child of the forkserver;
    the finished process as ``subprocess.run`` gives it. The test fails if it runs past ``timeout`` seconds."""
    with tempfile.TemporaryDirectory(prefix='lvseg-tool-') as folder:
        stdout, stderr = Path(folder, 'stdout'), Path(folder, 'stderr')
        child = FORKSERVER.Process(target=run_script, args=(command[1], command[2:], env, str(stdout), str(stderr)))
        child.start()
        child.join(timeout)
        if child.is_alive():
            child.kill()
            child.join()
            pytest.fail(f'{" ".join(command)} still ran after {timeout} s (hung?)\n{stdout.read_text()}\n'
                        f'{stderr.read_text()}')
        return subprocess.CompletedProcess(command, child.exitcode, stdout.read_text(), stderr.read_text())


def run_script(script: str, arguments: list[str], env: dict, stdout: str, stderr: str) -> None:
    """In a forked child: run ``script`` as ``python script *arguments`` would (its folder first on ``sys.path``,
    ``__name__ == '__main__'``) in the repository with environment ``env``, its output into the files ``stdout``
    and ``stderr``; exit with its status (a traceback and 1 for an exception, as Python does)."""
    for fd, path in ((1, stdout), (2, stderr)):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    sys.stdout.reconfigure(line_buffering=True)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(REPO)
    torch.set_num_threads(int(env.get('OMP_NUM_THREADS', '1')))
    random.seed()  # fresh entropy, as a new interpreter draws it: each child would start from the server's state
    np.random.seed()
    sys.argv = [script, *arguments]
    sys.path.insert(0, str(Path(script).parent))
    status = 0
    try:
        runpy.run_path(script, run_name='__main__')
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            status = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)
            status = 1
    except BaseException:  # noqa: BLE001  (reported as Python reports it)
        traceback.print_exc()
        status = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def demo_overrides(data_root: Path, iters: int = 4) -> list[str]:
    """--cfg-options that point the demo config at ``data_root`` and shorten it to ``iters`` iterations."""
    return ['--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
            f'val_dataloader.dataset.data_root={data_root}', f'test_dataloader.dataset.data_root={data_root}',
            'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
            'val_dataloader.persistent_workers=False', 'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False', f'train_cfg.max_iters={iters}',
            f'train_cfg.val_interval={iters}', f'default_hooks.checkpoint.interval={iters // 2}',
            'default_hooks.checkpoint.max_keep_ckpts=3', 'default_hooks.logger.interval=1',
            f'param_scheduler.1.end={iters}', 'param_scheduler.0.end=1', 'param_scheduler.1.begin=1']


def pretrain_overrides(root: Path, epochs: int) -> list[str]:
    """--cfg-options that point a pretraining config at the ImageNet-layout ``root`` for ``epochs`` small epochs."""
    loader = ['num_workers=0', 'persistent_workers=False', 'batch_size=4', f'dataset.data_root={root}']
    return ['--cfg-options', *[f'{split}_dataloader.{opt}' for split in ('train', 'val', 'test') for opt in loader],
            f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=1', 'default_hooks.checkpoint.max_keep_ckpts=3',
            'default_hooks.logger.interval=1']
