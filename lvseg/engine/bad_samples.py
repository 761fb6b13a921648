"""What a run does with a sample that cannot be read or does not fit its data set: stop and name its files, or
skip it and count.

mmcv and mmseg let some bad samples through silently and report others without the file: an empty image file
fails inside OpenCV (``!buf.empty()``); an annotation of another size than its image, a 16-bit annotation (cast
to uint8, so 300 becomes 44) or labels beyond the classes train on wrong targets, or end in an ``IndexError``
of the loss, or a CUDA assert. :class:`CheckedDataset` wraps a data set (``LvsegRunner`` wraps every data set
of a run, see :func:`guard_datasets`) and runs each sample through :class:`CheckedPipeline`:

- before loading: the image (and annotation, token-label map) files exist and are not empty; an annotation
  PNG is 8-bit single-channel (mode ``L``, ``P`` or ``1``, read from its header only);
- any transform that raises: the error is re-raised as :class:`BadSampleError` naming the sample's files;
- after the annotation is loaded: one label per pixel, the image's size, and values in ``[0, num_classes)``
  or ``ignore_index`` (after ``reduce_zero_label``);
- when the data set is built (folder-layout segmentation data sets): every image has an annotation and every
  annotation an image.

Policies (config key ``bad_samples``): ``policy='error'`` (default) stops at the first bad sample with its
files named; ``policy='skip'`` (training data only: validation and test always stop) replaces a bad training
sample by the next good one (in index order), and :class:`SkippedSamplesHook` logs each bad sample once, sums
up the skips per epoch, and stops the run once more than ``max_skipped`` distinct samples were skipped
(counted per process). The words for a bad sample (:class:`~lvseg.datasets.bad_sample.BadSampleError`, the
policies, the metainfo key of the skipped ones) are the data sets' (:mod:`lvseg.datasets.bad_sample`).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from mmengine.config import Config
from mmengine.dataset import BaseDataset
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import DATASETS, HOOKS

from ..datasets.bad_sample import POLICIES, SKIPPED_KEY, BadSampleError
from ..utils.compat import subset_indices
from .config_checks import ConfigError, add_custom_hook

FILE_KEYS = (('img_path', 'image'), ('seg_map_path', 'annotation'), ('token_label_path', 'token-label map'))
LABEL_PNG_MODES = ('L', 'P', '1')  # 8-bit single-channel: one class index per pixel
_MAX_IN_A_ROW = 100  # bad samples in a row before 'skip' gives up (a broken data set, not a few bad files)
_EXAMPLES = 3


def _files(results: dict) -> str:
    return ', '.join(f'{name} {results[key]}' for key, name in FILE_KEYS if results.get(key))


def _file_problem(results: dict) -> str | None:
    """What is wrong with the sample's files before anything decodes them, or None."""
    for key, name in FILE_KEYS:
        path = results.get(key)
        if not path or '://' in str(path):
            continue
        if not os.path.isfile(path):
            return f'the {name} file does not exist'
        if os.path.getsize(path) == 0:
            return f'the {name} file is empty (0 bytes)'
    seg_map = results.get('seg_map_path')
    if seg_map and '://' not in str(seg_map):
        from PIL import Image
        try:
            with Image.open(seg_map) as image:
                mode = image.mode
        except OSError:
            return None  # not a format PIL reads from its header; the loader will tell
        if mode not in LABEL_PNG_MODES:
            return (f'the annotation is a {mode} image; expected an 8-bit single-channel label image (mode '
                    f'{"/".join(LABEL_PNG_MODES)}): mmseg casts to uint8, so 16-bit labels would wrap around')
    return None


class CheckedPipeline:
    """A data set's pipeline that checks each sample and turns every failure into a :class:`BadSampleError`.

    Args:
        pipeline: the data set's ``Compose`` (its ``transforms`` are run one by one).
        num_classes: classes of the data set, for the label check; None skips it.
        ignore_index: the label that marks pixels to ignore (mmseg: 255).
    """

    def __init__(self, pipeline: Any, num_classes: int | None, ignore_index: int = 255) -> None:
        self.pipeline = pipeline
        self.transforms = list(getattr(pipeline, 'transforms', [pipeline]))
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def __call__(self, results: dict) -> dict | None:
        files = _files(results)
        problem = _file_problem(results)
        if problem:
            raise BadSampleError(f'{files}: {problem}')
        for transform in self.transforms:
            had_seg_map = 'gt_seg_map' in results
            try:
                results = transform(results)
            except BadSampleError:
                raise
            except Exception as error:
                message = str(error).strip().splitlines()[-1] if str(error).strip() else ''
                raise BadSampleError(f'{files}: {type(transform).__name__} failed: {type(error).__name__}: '
                                     f'{message}') from error
            if results is None:
                return None
            if not had_seg_map and 'gt_seg_map' in results:
                problem = self._seg_map_problem(results)
                if problem:
                    raise BadSampleError(f'{files}: {problem}')
        return results

    def _seg_map_problem(self, results: dict) -> str | None:
        seg_map = results['gt_seg_map']
        if seg_map.ndim != 2:
            return f'the annotation has shape {seg_map.shape}; expected one label per pixel (a single-channel image)'
        image_shape = tuple(results.get('ori_shape', seg_map.shape))[:2]
        if seg_map.shape != image_shape:
            return f'the annotation is {seg_map.shape[0]}x{seg_map.shape[1]} but the image is ' \
                   f'{image_shape[0]}x{image_shape[1]} (height x width)'
        if self.num_classes is None:
            return None
        values = (np.flatnonzero(np.bincount(seg_map.ravel(), minlength=256)) if seg_map.dtype == np.uint8
                  else np.unique(seg_map))
        labels = [int(v) for v in values if not 0 <= v < self.num_classes and v != self.ignore_index]
        if labels:
            reduced = ' after reduce_zero_label' if results.get('reduce_zero_label') else ''
            return (f'the annotation has labels {labels[:10]}{reduced}; expected 0..{self.num_classes - 1} '
                    f'({self.num_classes} classes) or {self.ignore_index} (ignore)')
        return None

    def __repr__(self) -> str:
        return f'CheckedPipeline({self.pipeline!r})'


def _leaves(dataset: Any) -> Iterator[BaseDataset]:
    """The data sets holding pipelines below ``dataset`` (through mmengine's wrappers)."""
    inner = getattr(dataset, 'datasets', None) or ([dataset.dataset] if hasattr(dataset, 'dataset') else None)
    if inner:
        for item in inner:
            yield from _leaves(item)
    elif hasattr(dataset, 'pipeline'):
        yield dataset


def _unpaired(dataset: BaseDataset) -> tuple[list[str], list[str]]:
    """Images without their annotation file and annotation files without an image (unless the data set is a
    subset), of a folder-layout mmseg data set (``data_prefix`` with ``img_path`` and ``seg_map_path``, no
    ``ann_file``); empty otherwise."""
    prefix = getattr(dataset, 'data_prefix', {}) or {}
    ann_dir, suffix = prefix.get('seg_map_path'), getattr(dataset, 'seg_map_suffix', None)
    if not ann_dir or not suffix or getattr(dataset, 'ann_file', '') or '://' in ann_dir or not os.path.isdir(ann_dir):
        return [], []
    expected = {}
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        if info.get('seg_map_path'):
            expected[os.path.normpath(info['seg_map_path'])] = info['img_path']
    present = {os.path.normpath(os.path.join(folder, name)) for folder, _, names in os.walk(ann_dir)
               for name in names if name.endswith(suffix)}
    # A subset (``indices=...``) leaves the other annotation files out on purpose.
    no_image = sorted(present - set(expected)) if subset_indices(dataset) is None else []
    return [expected[path] for path in sorted(set(expected) - present)], no_image


@DATASETS.register_module()
class CheckedDataset:
    """A data set whose samples are checked (see the module), with the ``policy`` for bad ones.

    Args:
        dataset: the data set, or its config.
        policy: ``'error'`` (raise :class:`BadSampleError` naming the files) or ``'skip'`` (return the next good
            sample instead, recording the skipped ones in its ``metainfo['skipped_bad_samples']`` for
            :class:`SkippedSamplesHook`).
        max_skipped: with ``'skip'``, how many distinct bad samples :class:`SkippedSamplesHook` allows before it
            stops the run.
        lazy_init: build the data list on first use, as mmengine's ``BaseDataset``.
    """

    def __init__(self, dataset: dict | BaseDataset, policy: str = 'error', max_skipped: int = 100,
                 lazy_init: bool = False) -> None:
        if policy not in POLICIES:
            raise ValueError(f'bad_samples policy must be one of {POLICIES}, got {policy!r}')
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.policy = policy
        self.max_skipped = max_skipped
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        return self.dataset.metainfo

    def full_init(self) -> None:
        """Build the inner data list, check images and annotations pair up, and put in the checked pipelines."""
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        for leaf in _leaves(self.dataset):
            self._check_pairs(leaf)
            if not isinstance(leaf.pipeline, CheckedPipeline):
                classes = leaf.metainfo.get('classes') if hasattr(leaf, 'seg_map_suffix') else None
                leaf.pipeline = CheckedPipeline(leaf.pipeline, len(classes) if classes else None,
                                                getattr(leaf, 'ignore_index', 255))
        self._fully_initialized = True

    def _check_pairs(self, leaf: BaseDataset) -> None:
        no_annotation, no_image = _unpaired(leaf)
        if not no_annotation and not no_image:
            return
        parts = []
        if no_annotation:
            parts.append(f'{len(no_annotation)} images have no annotation file, e.g. {no_annotation[:_EXAMPLES]}')
        if no_image:
            parts.append(f'{len(no_image)} annotation files have no image, e.g. {no_image[:_EXAMPLES]}')
        message = f'{leaf.data_prefix["img_path"]}: ' + '; '.join(parts)
        if self.policy == 'error':
            raise BadSampleError(message + " (bad_samples=dict(policy='skip') trains on the others)")
        print_log(message + ' (skipped: policy skip)', logger='current', level=logging.WARNING)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        """The sample at ``index`` (per the policy); a :class:`~lvseg.datasets.sample_seed.SeededIndex` goes to
        the data set as it is."""
        if not self._fully_initialized:
            self.full_init()
        if self.policy == 'error':
            return self.dataset[index]
        skipped = []
        for attempt in range(_MAX_IN_A_ROW):
            try:
                data = self.dataset[(index + attempt) % len(self)]
            except BadSampleError as error:
                skipped.append(str(error))
                continue
            samples = data.get('data_samples') if isinstance(data, dict) else None
            if skipped and hasattr(samples, 'set_metainfo'):
                samples.set_metainfo({SKIPPED_KEY: skipped})
            return data
        raise BadSampleError(f'{_MAX_IN_A_ROW} samples in a row are bad, e.g. {skipped[-1]}')

    def __getattr__(self, name: str) -> Any:
        if name == 'dataset':  # not set yet (while unpickling)
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __repr__(self) -> str:
        return f'CheckedDataset(policy={self.policy!r}, max_skipped={self.max_skipped}, dataset={self.dataset!r})'


@HOOKS.register_module()
class SkippedSamplesHook(Hook):
    """Log each bad training sample that :class:`CheckedDataset` skipped (once per sample), sum up the skips per
    epoch, and stop the run (``BadSampleError``) once more than the data set's ``max_skipped`` distinct samples
    were skipped in this process."""

    priority = 'NORMAL'

    def __init__(self) -> None:
        self.bad: set[str] = set()  # the messages (which name the files) of the distinct bad samples
        self.in_epoch = 0

    def before_train_epoch(self, runner) -> None:
        self.in_epoch = 0

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        samples = data_batch.get('data_samples', []) if isinstance(data_batch, dict) else []
        skipped = [m for s in samples if hasattr(s, 'metainfo') for m in s.metainfo.get(SKIPPED_KEY, ())]
        self.in_epoch += len(skipped)
        for message in skipped:
            if message not in self.bad:
                self.bad.add(message)
                runner.logger.warning(f'skipped a bad training sample: {message}')
        cap = getattr(runner.train_dataloader.dataset, 'max_skipped', None)
        if skipped and cap is not None and len(self.bad) > cap:
            raise BadSampleError(f'{len(self.bad)} bad training samples skipped, more than max_skipped={cap}; the '
                                 f'last: {skipped[-1]}')

    def after_train_epoch(self, runner) -> None:
        if self.in_epoch:
            runner.logger.warning(f'epoch {runner.epoch + 1}: skipped bad training samples {self.in_epoch} times '
                                  f'({len(self.bad)} distinct samples in this run so far)')


def guard_datasets(cfg: Config, splits: Sequence[str]) -> list[str]:
    """Wrap the data sets of ``splits`` in ``cfg`` in :class:`CheckedDataset`, with ``cfg.bad_samples``
    (``dict(policy='error'|'skip', max_skipped=N)``, default ``policy='error'``) for training data and
    ``policy='error'`` for validation and test data; with ``'skip'``, add :class:`SkippedSamplesHook`.
    Return one line per change."""
    settings = dict(policy='error', max_skipped=100)
    settings.update(cfg.get('bad_samples') or {})
    if settings['policy'] not in POLICIES or set(settings) != {'policy', 'max_skipped'}:
        raise ConfigError(f"bad_samples: expected dict(policy='error' or 'skip', max_skipped=N), got {settings}")
    changes = []
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader or not isinstance(loader.get('dataset'), dict) or loader.dataset.get('type') == 'CheckedDataset':
            continue
        policy = settings['policy'] if split == 'train' else 'error'
        loader.dataset = dict(type='CheckedDataset', dataset=loader.dataset, policy=policy,
                              max_skipped=settings['max_skipped'])
        changes.append(f'{split}_dataloader.dataset: checked sample by sample (CheckedDataset, policy {policy!r})')
    if 'train' in splits and settings['policy'] == 'skip':
        if add_custom_hook(cfg, 'SkippedSamplesHook'):
            changes.append('custom_hooks: SkippedSamplesHook added (bad_samples policy skip)')
    return changes
