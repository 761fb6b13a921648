"""How every lvseg run treats its config: the edits :class:`~lvseg.engine.runner.LvsegRunner` makes before the
Runner is built, whatever the entry point (``tools/*.py``, ``RUNNERS.build(cfg)``, ``LvsegRunner.from_cfg(cfg)``,
mmseg's or mim's ``train.py`` with an lvseg config).

Each edit is logged once by the runner and listed under ``run_policy`` in the config it dumps to the work dir:

- ``default_hooks`` entries set to None are removed (mmengine accepts None for its own six default hooks only);
- ``augment_on='device'``: the train pipeline's augmentation moves to the model's data preprocessor
  (:mod:`.augment_on`);
- without CUDA: AMP off, and for distributed runs gloo, BN for SyncBN, DDP without device ids; on a GPU without
  bfloat16: fp16 AMP with loss scaling (:mod:`.device_fallbacks`);
- mmengine's ``CheckpointHook`` becomes :class:`~.checkpoint_hook.AtomicCheckpointHook` (same arguments);
- every data set is checked sample by sample (:func:`.bad_samples.guard_datasets`);
- a data loader's ``num_workers`` is at most the cores this process may use (:func:`fit_workers_to_cores`);
- a ``ResumableSampler`` must feed a data set that honours its per-sample seeds
  (:class:`~lvseg.datasets.sample_seed.PerSampleSeeding`), or a resumed run would augment differently.
"""
from __future__ import annotations

import os

from mmengine.config import Config

from .augment_on import apply_augment_on
from .bad_samples import guard_datasets
from .checkpoint_hook import use_atomic_checkpoint_hook
from .config_checks import SPLITS, ConfigError, leaf_datasets
from .device_fallbacks import adapt_amp_to_gpu, adapt_config_to_cpu

MMENGINE_DEFAULT_HOOKS = ('runtime_info', 'timer', 'sampler_seed', 'logger', 'param_scheduler', 'checkpoint')


def drop_disabled_hooks(cfg: Config) -> list[str]:
    """Remove ``default_hooks`` entries set to None (``--cfg-options default_hooks.step_seed=None``): mmengine
    accepts None only for its own six default hooks, not for those lvseg's configs add."""
    hooks = cfg.get('default_hooks') or {}
    disabled = [name for name, hook in hooks.items() if hook is None and name not in MMENGINE_DEFAULT_HOOKS]
    for name in disabled:
        del hooks[name]
    return [f'default_hooks.{name}: None, removed' for name in disabled]


def process_cores(distributed: bool) -> tuple[int, str]:
    """The cores each process of this run may use, and the reason in words: those this process may run on
    (``os.sched_getaffinity``, which honours taskset, cgroup cpusets and a scheduler's per-task binding;
    ``os.cpu_count`` where it is missing); in a ``distributed`` run, shared by the ``LOCAL_WORLD_SIZE`` processes
    that torchrun starts on this node, which all inherit the same set. At least one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1
    local_processes = max(1, int(os.environ.get('LOCAL_WORLD_SIZE', '1'))) if distributed else 1
    if local_processes == 1:
        return cores, f'{cores} cores'
    share = max(1, cores // local_processes)
    return share, f'{cores} cores shared by {local_processes} processes on this node: {share} each'


def fit_workers_to_cores(cfg: Config) -> list[str]:
    """Lower each data loader's ``num_workers`` to :func:`process_cores` where the config asks for more; return
    one line for all of them (none when nothing changes).

    More worker processes than cores only queue for them, and torch's DataLoader warns ("This DataLoader will
    create 4 worker processes in total. Our suggested max number of worker in current system is 2"): the ADE20K
    configs ask for 4 per GPU, the published machines' share. torch compares a process's workers with the cores
    it may use; under torchrun every rank starts its own workers on the same cores, so each rank gets its share.
    """
    cores, reason = process_cores(distributed=cfg.get('launcher', 'none') != 'none')
    changes = []
    for split in SPLITS:
        loader = cfg.get(f'{split}_dataloader') or {}
        workers = loader.get('num_workers') or 0
        if workers > cores:
            loader['num_workers'] = cores
            changes.append(f'{split}_dataloader.num_workers {workers} -> {cores}')
    return [f'{", ".join(changes)} ({reason})'] if changes else []


def check_seeded_sampling(cfg: Config) -> None:
    """Raise :class:`ConfigError` if ``train_dataloader`` pairs a ``ResumableSampler`` with a data set that
    does not reseed from its indices."""
    loader = cfg.get('train_dataloader') or {}
    sampler = loader.get('sampler') or {}
    if sampler.get('type') != 'ResumableSampler':
        return
    from mmseg.registry import DATASETS
    for key, dataset in leaf_datasets(loader.get('dataset'), 'train_dataloader.dataset'):
        dataset_class = DATASETS.get(dataset.get('type')) if isinstance(dataset.get('type'), str) else None
        if dataset_class is not None and not getattr(dataset_class, 'seeds_samples', False):
            raise ConfigError(f"train_dataloader.sampler: ResumableSampler hands out per-sample seeds, but {key} "
                              f"({dataset['type']}) does not apply them, so a resumed run would augment "
                              'differently: use a data set that mixes in lvseg.datasets.sample_seed.'
                              "PerSampleSeeding, or sampler=dict(type='DefaultSampler')")


def apply_run_policy(cfg: Config) -> list[str]:
    """Edit ``cfg`` in place as the module describes; return one line per change."""
    changes = drop_disabled_hooks(cfg)
    changes += apply_augment_on(cfg)
    changes += adapt_config_to_cpu(cfg, distributed=cfg.get('launcher', 'none') != 'none')
    changes += adapt_amp_to_gpu(cfg)
    changes += use_atomic_checkpoint_hook(cfg)
    changes += guard_datasets(cfg, splits=SPLITS)
    changes += fit_workers_to_cores(cfg)
    check_seeded_sampling(cfg)
    return changes
