"""Checks of a config before the Runner is built, so that a mistake stops a job at once with one clear line.

Without them, mmengine reports these mistakes late (after building the model, or at the first batch, or at the
first checkpoint) and deep in a traceback: an ``IndexError`` of the loss for a head with too few classes, a
scan error for a missing data folder, a ``PermissionError`` at the first log line, a ``KeyError`` for an
unknown arch wrapped twice by the registry. :func:`check_config` finds them all and raises one
:class:`ConfigError` with one line per problem, each saying what was expected.
"""
from __future__ import annotations

import os
import os.path as osp
import tempfile
from collections.abc import Iterable, Iterator, Mapping

from mmengine.config import Config
from mmengine.registry import Registry
from mmseg.registry import DATASETS, MODELS

SPLITS = ('train', 'val', 'test')
_WRAPPER_KEYS = ('dataset', 'datasets')  # RepeatDataset, ClassBalancedDataset, ConcatDataset, ...


class ConfigError(ValueError):
    """A config that cannot work; ``str(error)`` is one line per problem."""


def check_config(cfg: Config, splits: Iterable[str], initialises_weights: bool = False) -> None:
    """Raise :class:`ConfigError` listing every problem found in ``cfg`` for a run that uses ``splits``.

    Checked: the work dir can be written; each used split's ``data_root`` and image folder exist; the model's
    heads have as many classes as the data set (segmentation: equal; classification: at least as many); the
    backbone's arch is known; a local ``load_from`` exists, and, for a run that initialises the weights
    (training), the ``pretrained`` / ``init_cfg`` checkpoint.

    Args:
        cfg: the final config (after ``--cfg-options``).
        splits: the dataloaders the run uses, from ``'train'``, ``'val'``, ``'test'``.
        initialises_weights: whether the run calls the model's ``init_weights`` (training does; testing loads
            the whole model from ``load_from``, so a missing pretrained file does not matter there).
    """
    model = cfg.get('model', {})
    model = model.get('module', model)  # a test-time-augmentation model wraps the segmentor
    problems = _check_work_dir(cfg.get('work_dir'))
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader or (split == 'val' and not cfg.get('val_cfg')):
            continue
        for key, dataset in leaf_datasets(loader.get('dataset'), f'{split}_dataloader.dataset'):
            folder_problems = _check_folders(key, dataset)
            problems += folder_problems
            if not folder_problems:
                problems += _check_num_classes(model, key, dataset)
    problems += _check_arch(model)
    problems += _check_checkpoints(cfg.get('load_from'), model if initialises_weights else {})
    if problems:
        raise ConfigError('\n'.join(problems))


def _is_local(path: str) -> bool:
    return '://' not in path


def _check_work_dir(work_dir: str | None) -> list[str]:
    if not work_dir or not _is_local(work_dir):
        return []
    try:
        os.makedirs(work_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=work_dir):
            pass
    except OSError as error:
        return [f'work_dir {work_dir!r} cannot be written ({error.strerror or error}): expected a folder that this '
                'user can create and write (set --work-dir)']
    return []


def add_custom_hook(cfg: Config, hook_type: str) -> bool:
    """Append ``dict(type=hook_type)`` to ``cfg.custom_hooks`` unless a hook of that type is there; return whether
    it was added (for the run policy's log line)."""
    hooks = list(cfg.get('custom_hooks') or [])
    if any(isinstance(hook, Mapping) and hook.get('type') == hook_type for hook in hooks):
        return False
    cfg.custom_hooks = [*hooks, dict(type=hook_type)]
    return True


def leaf_datasets(dataset: Mapping | None, key: str) -> Iterator[tuple[str, Mapping]]:
    """The data set configs below ``dataset``, through mmengine's wrappers, with their config keys (as the user
    wrote them: the ``CheckedDataset`` that the runner wraps around every data set adds nothing to a key)."""
    if not isinstance(dataset, Mapping):
        return
    if dataset.get('type') == 'CheckedDataset':
        yield from leaf_datasets(dataset.get('dataset'), key)
        return
    for wrapper_key in _WRAPPER_KEYS:
        inner = dataset.get(wrapper_key)
        if isinstance(inner, Mapping):
            yield from leaf_datasets(inner, f'{key}.{wrapper_key}')
            return
        if isinstance(inner, (list, tuple)):
            for i, item in enumerate(inner):
                yield from leaf_datasets(item, f'{key}.{wrapper_key}.{i}')
            return
    yield key, dataset


def _under_root(dataset: Mapping, path: str) -> str:
    """``path`` under the data set's ``data_root`` unless absolute, as mmengine's ``BaseDataset`` joins it."""
    return osp.join(dataset.get('data_root') or '', path)


def _check_folders(key: str, dataset: Mapping) -> list[str]:
    data_root = dataset.get('data_root')
    if data_root and _is_local(data_root) and not osp.isdir(data_root):
        return [f'{key}.data_root: {data_root!r} does not exist or is not a folder: expected the data set '
                f'folder (set {key}.data_root=PATH)']
    image_dir = (dataset.get('data_prefix') or {}).get('img_path')
    if image_dir is not None and _is_local(_under_root(dataset, image_dir)) \
            and not osp.isdir(_under_root(dataset, image_dir)):
        return [f'{key}.data_prefix.img_path: image folder {_under_root(dataset, image_dir)!r} does not exist']
    return []


def _head_num_classes(model: Mapping) -> Iterator[tuple[str, int]]:
    """``(config key, num_classes)`` of each segmentation head of ``model``."""
    for name in ('decode_head', 'auxiliary_head'):
        heads = model.get(name)
        heads = heads if isinstance(heads, (list, tuple)) else [heads]
        for i, head in enumerate(heads):
            if isinstance(head, Mapping) and 'num_classes' in head:
                yield (f'model.{name}' + (f'.{i}' if len(heads) > 1 else '') + '.num_classes', head['num_classes'])


def _registered(registry: Registry, type_name: object) -> type | None:
    """The class that ``type_name`` (a registered name, or the class itself) builds in ``registry``; None when
    unknown (the builder reports that)."""
    if isinstance(type_name, type):
        return type_name
    if not isinstance(type_name, str):
        return None
    try:
        return registry.get(type_name)
    except (KeyError, ImportError):
        return None


def _dataset_classes(dataset: Mapping) -> tuple[int, str] | None:
    """How many classes the data set ``dataset`` has, and where that number comes from; None if unknown.

    Its ``metainfo.classes``; else what its class counts from the config without being built
    (``count_classes(cfg)``, e.g. :meth:`lvseg.datasets.imagenet.ImageNetTokenLabelDataset.count_classes`);
    else the class's ``METAINFO`` (mmseg's ``ADE20KDataset``, ...)."""
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes:
        return len(classes), 'its metainfo.classes'
    dataset_class = _registered(DATASETS, dataset.get('type'))
    if hasattr(dataset_class, 'count_classes'):
        return dataset_class.count_classes(dataset)
    classes = getattr(dataset_class, 'METAINFO', {}).get('classes')
    if classes:
        return len(classes), dataset_class.__name__
    return None


def _check_num_classes(model: Mapping, key: str, dataset: Mapping) -> list[str]:
    """A segmentor's heads have as many classes as the data set; a classifier (no heads, ``model.num_classes``)
    at least as many (a subset of ImageNet's classes is fine)."""
    found = _dataset_classes(dataset)
    if found is None:
        return []
    num_classes, source = found
    heads = list(_head_num_classes(model))
    outputs = model.get('num_classes')
    if not heads and isinstance(outputs, int) and num_classes > outputs:
        return [f'model.num_classes={outputs} but {key} has {num_classes} classes ({source}): expected '
                f'model.num_classes >= {num_classes}']
    return [f'{head}={value} but {key} has {num_classes} classes ({source}): expected {head}={num_classes}'
            for head, value in heads if value != num_classes]


def _check_arch(model: Mapping) -> list[str]:
    """The backbone's ``arch`` is one its class knows (``resolve_arch``, beside the class's table of presets:
    :meth:`lvseg.models.backbones.lvvit.LVViT.resolve_arch`, ...)."""
    backbone = model.get('backbone')
    if not isinstance(backbone, Mapping) or 'arch' not in backbone:
        return []
    backbone_class = _registered(MODELS, backbone.get('type'))
    if not hasattr(backbone_class, 'resolve_arch'):
        return []
    try:
        backbone_class.resolve_arch(backbone['arch'])
    except (KeyError, ValueError) as error:
        return [f'model.backbone.arch: {error.args[0]}']
    return []


def _missing(path: object) -> bool:
    return isinstance(path, str) and _is_local(path) and not osp.isfile(osp.expanduser(path))


def _check_checkpoints(load_from: str | None, model: Mapping) -> list[str]:
    """``load_from`` exists; so do the pretrained weights that ``model`` names (pass ``{}`` to skip those)."""
    problems = [f'load_from: checkpoint {load_from!r} does not exist'] if _missing(load_from) else []
    backbone = model.get('backbone') if isinstance(model.get('backbone'), Mapping) else {}
    candidates = [('model.pretrained', model.get('pretrained')),
                  ('model.backbone.pretrained', backbone.get('pretrained'))]
    init_cfg = backbone.get('init_cfg')
    if isinstance(init_cfg, Mapping) and init_cfg.get('type') == 'Pretrained':
        candidates.append(('model.backbone.init_cfg.checkpoint', init_cfg.get('checkpoint')))
    return problems + [_missing_pretrained(key, path) for key, path in candidates if _missing(path)]


def _missing_pretrained(key: str, path: str) -> str:
    """What to do about a pretrained backbone file that is not there (one line)."""
    return (f'{key}: the pretrained weights {path!r} do not exist. Put the ImageNet weights there (the official '
            f'release file {osp.basename(path)!r}, or a checkpoint of tools/pretrain.py with a config of '
            f'configs/pretrain/), or point to them with --cfg-options {key}=PATH; to train from random '
            f'initialisation on purpose, --cfg-options {key}=None (the published figures assume pretrained '
            'weights)')
