"""The ``augment_on`` switch: the train pipeline's augmentation moves, with its arguments, to the data preprocessor;
and a short ``tools/pretrain.py`` run on the device path (slow). The device path's benchmark runs in the dry run of
``make gpu-check`` (tests/test_tools/test_gpu_check.py)."""
import inspect
import re

import pytest
from lvseg_testing.tool_runner import PRETRAIN_DEMO_CONFIG as PRETRAIN_CONFIG
from lvseg_testing.tool_runner import pretrain_overrides, run_tool
from mmengine.config import Config
from mmseg.registry import MODELS

import lvseg  # noqa: F401  (registers the transforms and the model)
from lvseg.datasets.device_augment import DeviceTokenLabelAugment
from lvseg.datasets.token_label_transforms import RandomFlipWithBox, RandomResizedCropWithBox
from lvseg.engine.augment_on import apply_augment_on
from lvseg.engine.config_checks import ConfigError


def demo_config(**options) -> Config:
    cfg = Config.fromfile(PRETRAIN_CONFIG)
    cfg.merge_from_dict(options)
    return cfg


def test_device_moves_the_augmentation_with_its_arguments():
    cfg = demo_config(augment_on='device', bad_samples=dict(policy='skip', max_skipped=5))
    cpu_steps = {step['type']: step for step in cfg.train_dataloader.dataset.pipeline}
    val_pipeline = list(cfg.val_dataloader.dataset.pipeline)
    apply_augment_on(cfg)
    assert [step['type'] for step in cfg.train_dataloader.dataset.pipeline] == [
        'LoadImageBytes', 'LoadTokenLabelMap', 'PackImageBytes']
    crop, rand_augment = cpu_steps['RandomResizedCropWithBox'], cpu_steps['RandAugmentWithAffine']
    preprocessor = cfg.model.data_preprocessor
    assert preprocessor.device_augment == dict(
        size=crop['size'], scale=crop['scale'], interpolation=crop['interpolation'],
        flip_prob=cpu_steps['RandomFlipWithBox']['prob'],
        rand_augment={key: value for key, value in rand_augment.items() if key != 'type'})
    assert preprocessor.undecodable == 'skip'
    assert list(cfg.val_dataloader.dataset.pipeline) == val_pipeline
    model = MODELS.build(cfg.model)
    assert model.data_preprocessor.device_augment.size == [crop['size']] * 2


def test_a_config_already_rewritten_stays_as_it_is():
    cfg = demo_config(augment_on='device')
    apply_augment_on(cfg)
    rewritten = cfg.pretty_text
    apply_augment_on(cfg)  # e.g. the config a device run dumped, run again
    assert cfg.pretty_text == rewritten


def test_cpu_and_unset_leave_the_config_alone():
    for options in ({}, {'augment_on': 'cpu'}):
        cfg = demo_config(**options)
        before = cfg.pretty_text
        apply_augment_on(cfg)
        assert cfg.pretty_text == before


@pytest.mark.parametrize('options, problem', [
    ({'augment_on': 'gpu'}, "augment_on must be one of \\('cpu', 'device'\\), got 'gpu'"),
    ({'augment_on': 'device', 'train_dataloader.dataset.pipeline.4': dict(type='PhotoMetricDistortion')},
     "cannot run the train pipeline step 'PhotoMetricDistortion'"),
    ({'augment_on': 'device', 'train_dataloader.dataset.pipeline.2': dict(type='RandomFlipWithBox'),
      'train_dataloader.dataset.pipeline.3': dict(type='RandomResizedCropWithBox')},
     'has RandomResizedCropWithBox after RandomFlipWithBox'),
    ({'augment_on': 'device', 'train_dataloader.dataset.pipeline.0': dict(type='LoadImageFromFile', to_float32=True)},
     "LoadImageBytes, which does not take \\['to_float32'\\]"),
])
def test_what_cannot_move_is_refused_naming_it(options, problem):
    cfg = demo_config()
    for key, value in options.items():  # list items by index, which merge_from_dict does not do
        if '.pipeline.' in key:
            cfg.train_dataloader.dataset.pipeline[int(key.rsplit('.', 1)[1])] = value
        else:
            cfg[key] = value
    with pytest.raises(ConfigError, match=problem):
        apply_augment_on(cfg)


def test_device_defaults_are_the_cpu_transforms_defaults():
    device = inspect.signature(DeviceTokenLabelAugment).parameters
    crop = inspect.signature(RandomResizedCropWithBox).parameters
    for name in ('size', 'scale', 'ratio', 'interpolation'):
        assert device[name].default == crop[name].default, name
    assert device['flip_prob'].default == inspect.signature(RandomFlipWithBox).parameters['prob'].default


@pytest.mark.slow
def test_pretrain_runs_on_the_device_path(imagenet_root, tmp_path):
    result = run_tool('pretrain.py', str(PRETRAIN_CONFIG), '--work-dir', str(tmp_path),
                      *pretrain_overrides(imagenet_root, epochs=1), 'augment_on=device')
    log = result.stdout + result.stderr
    assert re.search(r'loss_cls: [\d.]+\s+loss_token: [\d.]+', log)
    assert re.search(r'accuracy/top1: [\d.]+', log) and (tmp_path / 'epoch_1.pth').is_file()
    dumped = Config.fromfile(next(tmp_path.glob('*/vis_data/config.py')))  # the config the run used
    assert "type='LoadImageBytes'" in dumped.pretty_text
    assert dumped.model.data_preprocessor.device_augment.rand_augment.config_str == 'rand-m9-mstd0.5-inc1'
