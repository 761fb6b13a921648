"""The command lines of ``tools/train.py``, ``tools/pretrain.py`` and ``tools/test.py`` (mmseg's CLI).

The tools stay thin: they parse arguments here, build a config, check it (:mod:`.config_checks`), wrap its data
sets to check every sample (:mod:`.bad_samples`) and hand it to mmengine's Runner. Mistakes the user can fix
(a bad config, a refused checkpoint, a NaN loss, a bad sample) end in ``error:`` lines, not a traceback.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner

from ..checkpoints.io import UnreadableCheckpointError, UnsafeCheckpointError, allow_unsafe_load
from .augment_on import apply_augment_on
from .bad_samples import BadSampleError, guard_datasets
from .checkpoint_hook import use_atomic_checkpoint_hook
from .config_checks import ConfigError, check_config
from .device_fallbacks import adapt_amp_to_gpu, adapt_config_to_cpu, init_cpu_process_group
from .hooks import NonFiniteLossError

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
MMENGINE_DEFAULT_HOOKS = ('runtime_info', 'timer', 'sampler_seed', 'logger', 'param_scheduler', 'checkpoint')


def _common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default: work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys, e.g. train_cfg.max_iters=4 model.backbone.arch=tiny')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='load checkpoints that hold arbitrary Python objects (weights_only=False; only for '
                        'files you trust; same as LVSEG_UNSAFE_LOAD=1)')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)


def _load_config(args: argparse.Namespace) -> Config:
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if args.unsafe_load:
        allow_unsafe_load()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    apply_augment_on(cfg)
    adapt_config_to_cpu(cfg, distributed=args.launcher != 'none')
    adapt_amp_to_gpu(cfg)
    _drop_disabled_hooks(cfg)
    use_atomic_checkpoint_hook(cfg)
    init_cpu_process_group(args.launcher)
    return cfg


def _drop_disabled_hooks(cfg: Config) -> None:
    """Remove ``default_hooks`` entries set to None (``--cfg-options default_hooks.step_seed=None``): mmengine
    accepts None only for its own six default hooks, not for those lvseg's configs add."""
    hooks = cfg.get('default_hooks') or {}
    for name in [name for name, hook in hooks.items() if hook is None and name not in MMENGINE_DEFAULT_HOOKS]:
        del hooks[name]


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn a bad config, a refused checkpoint, a NaN loss or a bad sample into a one-line-per-problem exit,
    without a traceback (the NaN loss is also in the work dir's log)."""
    try:
        yield
    except (ConfigError, UnsafeCheckpointError, UnreadableCheckpointError, NonFiniteLossError,
            BadSampleError) as error:
        lines = str(error).splitlines()
        if 'Original Traceback' in str(error):  # re-raised by a DataLoader worker: the original is the last line
            lines = [lines[-1].split(f'{type(error).__name__}: ', 1)[-1]]
        raise SystemExit('\n'.join(f'error: {line}' for line in lines)) from None


def build_runner(cfg: Config) -> Runner:
    """The Runner named by ``cfg.runner_type``, or mmengine's default."""
    if 'runner_type' in cfg:
        from mmseg.registry import RUNNERS
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def train_main(argv: Sequence[str] | None = None, description: str = 'Train a segmentor') -> None:
    """``tools/train.py CONFIG [--work-dir D] [--resume] [--amp] [--cfg-options k=v ...] [--launcher L]``."""
    parser = argparse.ArgumentParser(description=description)
    _common_args(parser)
    parser.add_argument('--resume', action='store_true', help='resume from the latest checkpoint in work_dir')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (GPU only)')
    args = parser.parse_args(argv)
    if args.amp:
        args.cfg_options.update({'optim_wrapper.type': 'AmpOptimWrapper', 'optim_wrapper.loss_scale': 'dynamic'})
    with _user_errors():
        cfg = _load_config(args)
        cfg.resume = args.resume
        check_config(cfg, splits=('train', 'val'))
        guard_datasets(cfg, splits=('train', 'val'))
        build_runner(cfg).train()


def test_main(argv: Sequence[str] | None = None) -> None:
    """``tools/test.py CONFIG CHECKPOINT [--out DIR] [--show-dir DIR] [--tta] [--cfg-options ...]``."""
    parser = argparse.ArgumentParser(description='Test (and evaluate) a segmentor')
    _common_args(parser)
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='directory for the predicted label maps (PNG), for offline evaluation')
    parser.add_argument('--show-dir', help='directory for pictures of the predictions; a relative one lies in the '
                        'work dir (they land in <show-dir>/vis_data/vis_image)')
    parser.add_argument('--tta', action='store_true', help='multi-scale + flip test-time augmentation')
    args = parser.parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint {args.checkpoint!r} does not exist')
    with _user_errors():
        _run_test(_load_config(args), args)


def _run_test(cfg: Config, args: argparse.Namespace) -> None:
    """Apply test_main's options to ``cfg``, test, and log the metrics."""
    cfg.load_from = args.checkpoint
    if args.show_dir:
        if 'visualization' not in cfg.default_hooks:
            raise SystemExit('--show-dir needs default_hooks.visualization (SegVisualizationHook) in the config')
        cfg.default_hooks.visualization.draw = True
        cfg.visualizer.save_dir = osp.join(cfg.work_dir, args.show_dir)
    if args.tta:
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    check_config(cfg, splits=('test',))
    guard_datasets(cfg, splits=('test',))
    metrics = build_runner(cfg).test()
    print_log('test metrics: ' + ', '.join(f'{k}: {float(v):.2f}' for k, v in metrics.items()), logger='current')
