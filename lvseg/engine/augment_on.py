"""The config switch ``augment_on``: where the pretraining images are decoded and augmented.

``augment_on='cpu'`` (default): the data loader workers decode and augment (the train pipeline as written).
``augment_on='device'``: the workers only read each image's bytes and its token-label map; the model's data
preprocessor decodes and augments the batch on the training device (:mod:`lvseg.datasets.device_augment`).

The augmentation stays written once, in the train pipeline: :func:`apply_augment_on` moves its
``RandomResizedCropWithBox`` -> ``RandomFlipWithBox`` -> ``RandAugmentWithAffine`` steps, with their
arguments, into ``model.data_preprocessor.device_augment``, replaces the image loading step
(``LoadImageFromFile`` or ``LoadLazyImageFromFile``) by ``LoadImageBytes`` and ``PackTokenLabelInputs`` by
``PackImageBytes``, and passes the config's
``bad_samples`` policy on for images that cannot be decoded; it adds ``DecodeStatsHook``
(:mod:`lvseg.engine.hooks`), which reports every epoch how many images each decoding path took. Validation and
test pipelines are left alone.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from mmengine.config import Config, ConfigDict

from .config_checks import ConfigError, add_custom_hook

AUGMENT_ON = ('cpu', 'device')
# train-pipeline step -> {its argument: the DeviceTokenLabelAugment argument}, whose defaults are the step's;
# RandAugmentWithAffine's arguments go as a whole into ``rand_augment``.
_MOVED_STEPS = {
    'RandomResizedCropWithBox': {'size': 'size', 'scale': 'scale', 'ratio': 'ratio', 'interpolation': 'interpolation'},
    'RandomFlipWithBox': {'prob': 'flip_prob'},
    'RandAugmentWithAffine': {},
}
_KEPT_STEPS = ('LoadTokenLabelMap',)
# CPU step -> the workers' step of the device path, and the arguments it carries over. LoadLazyImageFromFile is
# the CPU path's PIL loader that decodes at the crop's scale (lvseg.datasets.lazy_images).
_REPLACED_STEPS = {'LoadImageFromFile': 'LoadImageBytes', 'LoadLazyImageFromFile': 'LoadImageBytes',
                   'PackTokenLabelInputs': 'PackImageBytes'}
_REPLACED_ARGS = {'LoadImageFromFile': ('backend_args',), 'LoadLazyImageFromFile': (),
                  'PackTokenLabelInputs': ('meta_keys',)}


def apply_augment_on(cfg: Config) -> list[str]:
    """Rewrite ``cfg`` in place for ``cfg.augment_on`` (see the module); nothing to do for ``'cpu'`` or unset, or
    for a config already rewritten (e.g. the one a run dumps into its work dir, run again). Return one line per
    change.

    Raises :class:`ConfigError` for another value, a train data set without a pipeline, or a train pipeline
    with a step the device path does not run (the order must be the recipe's: load, crop, flip, RandAugment).
    """
    where = cfg.get('augment_on', 'cpu')
    if where not in AUGMENT_ON:
        raise ConfigError(f'augment_on must be one of {AUGMENT_ON}, got {where!r}')
    if where == 'cpu':
        return []
    dataset = _pipeline_holder(cfg.get('train_dataloader', {}).get('dataset'))
    rewritten = any(step.get('type') == 'PackImageBytes' for step in dataset['pipeline'])
    if rewritten and cfg.model.get('data_preprocessor', {}).get('device_augment') is not None:
        return []
    pipeline, augment = device_pipeline(dataset['pipeline'])
    dataset['pipeline'] = pipeline
    preprocessor = cfg.model.setdefault('data_preprocessor', ConfigDict(type='TokenLabelingDataPreprocessor'))
    preprocessor['device_augment'] = augment
    preprocessor['undecodable'] = (cfg.get('bad_samples') or {}).get('policy', 'error')
    changes = ["augment_on='device': train workers read image bytes; crop, flip and RandAugment moved to "
               'model.data_preprocessor.device_augment']
    if add_custom_hook(cfg, 'DecodeStatsHook'):
        changes.append("custom_hooks: DecodeStatsHook added (augment_on='device': images per decoding path, "
                       'per epoch)')
    return changes


def device_pipeline(pipeline: Sequence[Mapping]) -> tuple[list[dict], dict]:
    """The workers' pipeline and the ``DeviceTokenLabelAugment`` arguments for a CPU train ``pipeline``.

    Raises :class:`ConfigError` naming the step that cannot move.
    """
    workers: list[dict] = []
    augment: dict = {}
    flips = False
    moved_order = list(_MOVED_STEPS)
    last_moved = -1
    for step in pipeline:
        kind = step.get('type')
        arguments = {key: value for key, value in step.items() if key != 'type'}
        if kind in _MOVED_STEPS:
            position = moved_order.index(kind)
            if position <= last_moved:
                raise ConfigError(f"augment_on='device' runs {' -> '.join(moved_order)} in this order, once each; "
                                  f'the train pipeline has {kind} after {moved_order[last_moved]}')
            last_moved = position
            augment.update(_moved_arguments(kind, arguments))
            if kind == 'RandomFlipWithBox':
                flips = True
        elif kind in _REPLACED_STEPS:
            unknown = set(arguments) - set(_REPLACED_ARGS[kind])
            if unknown:
                raise ConfigError(f"augment_on='device' replaces {kind} by {_REPLACED_STEPS[kind]}, which does not "
                                  f'take {sorted(unknown)}')
            workers.append(dict(type=_REPLACED_STEPS[kind], **arguments))
        elif kind in _KEPT_STEPS:
            workers.append(dict(step))
        else:
            raise ConfigError(f"augment_on='device' cannot run the train pipeline step {kind!r} on the device (it "
                              f'runs {", ".join(_KEPT_STEPS + tuple(_REPLACED_STEPS) + tuple(_MOVED_STEPS))})')
    if 'RandomResizedCropWithBox' not in [step.get('type') for step in pipeline]:
        raise ConfigError("augment_on='device' needs a RandomResizedCropWithBox step in the train pipeline (the "
                          'batch is stacked at its size)')
    if not flips:
        augment['flip_prob'] = 0.0  # no flip step: no flip
    return workers, augment


def _moved_arguments(kind: str, arguments: dict) -> dict:
    """The ``DeviceTokenLabelAugment`` arguments that train-pipeline step ``kind`` with ``arguments`` sets."""
    if kind == 'RandAugmentWithAffine':
        return {'rand_augment': dict(arguments)}
    names = _MOVED_STEPS[kind]
    unknown = set(arguments) - set(names)
    if unknown:
        raise ConfigError(f"augment_on='device': {kind} arguments {sorted(unknown)} have no device version")
    return {names[name]: value for name, value in arguments.items()}


def _pipeline_holder(dataset: Mapping | None) -> Mapping:
    """The train data set config that holds the pipeline (through wrappers with one inner ``dataset``)."""
    while dataset is not None and 'pipeline' not in dataset and isinstance(dataset.get('dataset'), Mapping):
        dataset = dataset['dataset']
    if dataset is None or 'pipeline' not in dataset:
        raise ConfigError("augment_on='device' needs train_dataloader.dataset.pipeline")
    return dataset
