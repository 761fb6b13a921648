"""The command lines of ``tools/train.py``, ``tools/pretrain.py`` and ``tools/test.py`` (mmseg's CLI).

The tools stay thin: they parse arguments here, build a config and hand it to the runner it names
(``runner_type``; :class:`~lvseg.engine.runner.LvsegRunner` for a config that names none), which applies the run
policy, so that a tool and ``RUNNERS.build(cfg)`` in a notebook behave the same. Mistakes the user can fix (a
bad config, a ``--cfg-options`` key that nothing reads (:mod:`.config_keys`, checked before the config is
merged), a missing config or checkpoint file, a refused or ill-fitting checkpoint, a NaN loss, a bad sample) end
in ``error:`` lines and exit status 2, not a traceback, unless ``--debug`` (:mod:`lvseg.utils.user_errors`).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
from collections.abc import Sequence
from contextlib import AbstractContextManager

from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmseg.registry import RUNNERS
from torch import distributed as dist

from ..checkpoints.fit import CheckpointMismatchError
from ..checkpoints.safe_load import UnreadableCheckpointError, UnsafeCheckpointError, allow_unsafe_load
from ..datasets.bad_sample import BadSampleError
from ..utils.user_errors import add_debug_argument, require_file, user_errors
from .config_checks import ConfigError
from .config_keys import check_overrides
from .hooks import NonFiniteLossError

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
DEFAULT_RUNNER = 'LvsegRunner'
# The --cfg-options examples of the tools' --help, each valid for the tool's configs (configs/upernet_lvvit.py,
# configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py; tests/test_tools/test_cfg_options.py applies them).
TRAIN_EXAMPLE = 'train_dataloader.batch_size=4 default_hooks.checkpoint.interval=8000'
PRETRAIN_EXAMPLE = 'train_cfg.max_epochs=4 train_dataloader.batch_size=64'
TEST_EXAMPLE = 'test_dataloader.num_workers=2 model.test_cfg.mode=whole'


PATHS_NOTE = ('Relative paths (the config, the checkpoint, --work-dir, --out, --show-dir and the paths given in '
              '--cfg-options) are taken from the current directory.')


def _common_args(parser: argparse.ArgumentParser, example: str) -> None:
    parser.epilog = PATHS_NOTE
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default: work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={}, metavar='KEY=VALUE',
                        help='override config keys: each must be in the config, or an argument of what its dict '
                        f'builds (checked before anything runs), e.g. --cfg-options {example}')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='load checkpoints that hold arbitrary Python objects (weights_only=False; only for '
                        'files you trust; same as LVSEG_UNSAFE_LOAD=1)')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    add_debug_argument(parser)


def _load_config(args: argparse.Namespace) -> Config:
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if args.unsafe_load:
        allow_unsafe_load()
    require_file(args.config, 'config')
    cfg = Config.fromfile(args.config)
    check_overrides(cfg, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.setdefault('runner_type', DEFAULT_RUNNER)
    return cfg


# Mistakes a user can fix, besides those of lvseg.utils.user_errors (UserError, a missing file, ...).
USER_ERRORS = (ConfigError, UnsafeCheckpointError, UnreadableCheckpointError, CheckpointMismatchError,
               NonFiniteLossError, BadSampleError)


def _user_errors() -> AbstractContextManager[None]:
    """Turn a bad config, a missing file, a refused checkpoint, a NaN loss or a bad sample into ``error:`` lines
    and exit status 2, without a traceback unless ``--debug`` (the NaN loss is also in the work dir's log); see
    :mod:`lvseg.utils.user_errors`."""
    return user_errors(*USER_ERRORS)


def leave_process_group() -> None:
    """After a finished run, meet the other ranks and destroy the process group (a no-op in one process).

    mmengine leaves the group to the interpreter's exit, where a rank that tears gloo down while a peer has already
    closed its connections can abort (``terminate called without an active exception``, SIGABRT): torchrun then
    reports a finished run as failed.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def build_runner(cfg: Config) -> Runner:
    """The runner named by ``cfg.runner_type``, built as mmseg's tools build it."""
    return RUNNERS.build(cfg)


def train_main(argv: Sequence[str] | None = None, description: str = 'Train a segmentor',
               example: str = TRAIN_EXAMPLE) -> None:
    """``tools/train.py CONFIG [--work-dir D] [--resume] [--amp] [--cfg-options k=v ...] [--launcher L]``;
    ``example``: the ``--cfg-options`` of the help text."""
    parser = argparse.ArgumentParser(description=description)
    _common_args(parser, example)
    parser.add_argument('--resume', action='store_true', help='resume from the latest checkpoint in work_dir')
    parser.add_argument('--amp', action='store_true', help="automatic mixed precision (GPU only): the config's "
                        "optim_wrapper.dtype (bfloat16 in lvseg's configs, else float16); loss scaling for float16 "
                        'only')
    args = parser.parse_args(argv)
    with _user_errors():
        cfg = _load_config(args)
        if args.amp:
            use_amp(cfg)
        cfg.resume = args.resume
        build_runner(cfg).train()
    leave_process_group()


def pretrain_main(argv: Sequence[str] | None = None) -> None:
    """``tools/pretrain.py``: :func:`train_main` for the epoch-based classification configs."""
    train_main(argv, description='Pretrain a classifier with token labeling', example=PRETRAIN_EXAMPLE)


def use_amp(cfg: Config) -> None:
    """``--amp``: make ``cfg.optim_wrapper`` an ``AmpOptimWrapper`` in its own dtype (float16 where it names none,
    mmengine's default), with dynamic loss scaling for float16 only: bfloat16 has float32's range, and a scaler
    would only add a host sync per step for its inf check."""
    optim_wrapper = cfg.optim_wrapper
    optim_wrapper.type = 'AmpOptimWrapper'
    if optim_wrapper.get('dtype') in (None, 'float16', 'half'):
        optim_wrapper.loss_scale = 'dynamic'


def test_main(argv: Sequence[str] | None = None) -> None:
    """``tools/test.py CONFIG CHECKPOINT [--out DIR] [--show-dir DIR] [--tta] [--cfg-options ...]``."""
    parser = argparse.ArgumentParser(description='Test (and evaluate) a segmentor')
    _common_args(parser, TEST_EXAMPLE)
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='directory for the predicted label maps (PNG), for offline evaluation')
    parser.add_argument('--show-dir', help='directory for a picture of the prediction of every test image (they land '
                        'in <show-dir>/vis_data/vis_image; --cfg-options default_hooks.visualization.interval=N draws '
                        'every N-th batch instead)')
    parser.add_argument('--tta', action='store_true', help='multi-scale + flip test-time augmentation')
    args = parser.parse_args(argv)
    with _user_errors():
        require_file(args.checkpoint, 'checkpoint')
        _run_test(_load_config(args), args)
    leave_process_group()


def _run_test(cfg: Config, args: argparse.Namespace) -> None:
    """Apply test_main's options to ``cfg``, test, and log the metrics."""
    cfg.load_from = args.checkpoint
    show = _show_predictions(cfg, args) if args.show_dir else None
    if args.tta:
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    runner = build_runner(cfg)
    if show is not None:
        runner.register_hook(show, priority='VERY_LOW')
    metrics = runner.test()
    print_log('test metrics: ' + ', '.join(f'{k}: {float(v):.2f}' for k, v in metrics.items()), logger='current')


def _show_predictions(cfg: Config, args: argparse.Namespace) -> ShowDirReport:
    """``--show-dir``: make the config's visualization hook draw every test image (mmseg's SegVisualizationHook
    draws every ``interval``-th batch, 50 by default) into the folder, unless ``--cfg-options`` sets the
    interval; return the hook that says, as testing starts, how many pictures go where."""
    if not cfg.default_hooks.get('visualization'):
        raise SystemExit('--show-dir needs default_hooks.visualization (SegVisualizationHook) in the config')
    hook = cfg.default_hooks.visualization
    hook.draw = True
    if 'default_hooks.visualization.interval' not in args.cfg_options:
        hook.interval = 1
    cfg.visualizer.save_dir = osp.abspath(args.show_dir)  # as every path option: from the current directory
    return ShowDirReport(osp.join(cfg.visualizer.save_dir, 'vis_data', 'vis_image'), hook.interval)


class ShowDirReport(Hook):
    """Log, as testing starts, how many pictures ``--show-dir`` writes (one per image of every ``interval``-th
    test batch) and into which folder."""

    def __init__(self, folder: str, interval: int) -> None:
        self.folder = folder
        self.interval = interval

    def before_test(self, runner) -> None:
        images = len(runner.test_dataloader.dataset)
        which = (f'{images} pictures, one per test image,' if self.interval == 1 else
                 f'pictures of every {self.interval}-th test batch (default_hooks.visualization.interval) of '
                 f'{images} images')
        runner.logger.info(f'--show-dir: {which} go to {self.folder}')
