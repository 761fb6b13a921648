"""Run lvseg's tools as a user would, in a subprocess; helpers for the end-to-end tests."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

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
    try:
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f'{" ".join(command)} still ran after {timeout} s (hung?)\n{error.stdout}\n{error.stderr}')
    if (result.returncode != 0) != expect_failure:
        expected = 'a failure' if expect_failure else 'success'
        pytest.fail(f'{" ".join(command)} exited {result.returncode}, expected {expected}\n'
                    f'{result.stdout[-4000:]}\n{result.stderr[-6000:]}')
    return result


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
