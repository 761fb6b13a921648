"""A misspelt key stops a run before anything is built, in one line naming the key and the closest valid one: keys
of ``--cfg-options`` (which must be in the config or read by what their dict builds), and the arguments of the
hooks, loops and optimizer of the whole config."""
from pathlib import Path

import pytest
from lvseg_testing.tool_runner import DEMO_CONFIG, PRETRAIN_DEMO_CONFIG, REPO
from mmengine.config import Config

from lvseg.engine.config_checks import ConfigError
from lvseg.engine.config_keys import check_arguments, check_overrides
from lvseg.engine.runner import LvsegRunner

HEADLINE_CONFIG = REPO / 'configs/upernet_lvvit.py'
PRETRAIN_CONFIG = REPO / 'configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py'
SAVE_NOTE = ('(CheckpointHook would pass it to LvsegRunner.save_checkpoint at the first save, which takes no such '
             'argument either)')


def refused(config: Path, **options) -> list[str]:
    """The lines of the ConfigError that ``--cfg-options`` ``options`` raise on ``config``."""
    with pytest.raises(ConfigError) as error:
        check_overrides(Config.fromfile(config), options)
    return str(error.value).splitlines()


def test_a_misspelt_top_level_key_names_the_closest_one():
    assert refused(HEADLINE_CONFIG, **{'trian_cfg.max_iters': 2}) == [
        "--cfg-options trian_cfg.max_iters: the config has no key 'trian_cfg', and nothing reads one: did you mean "
        'train_cfg?']


def test_a_misspelt_argument_names_the_closest_argument_of_what_the_dict_builds():
    assert refused(HEADLINE_CONFIG, **{'train_cfg.max_iter': 2, 'model.pretrianed': 'x.pth'}) == [
        "--cfg-options train_cfg.max_iter: train_cfg builds IterBasedTrainLoop, which takes no argument 'max_iter': "
        'did you mean max_iters?',
        "--cfg-options model.pretrianed: model builds EncoderDecoder, which takes no argument 'pretrianed': did you "
        'mean pretrained?']


def test_an_iteration_count_for_the_epoch_based_pretraining_loop_names_max_epochs():
    assert refused(PRETRAIN_CONFIG, **{'train_cfg.max_iters': 4}) == [
        "--cfg-options train_cfg.max_iters: train_cfg builds ResumableEpochBasedTrainLoop, which takes no argument "
        "'max_iters': did you mean max_epochs?"]


def test_checkpoint_hook_arguments_are_checked_against_the_runners_save_checkpoint():
    """CheckpointHook takes **kwargs and hands them to Runner.save_checkpoint at the first save (iteration 16,000
    in the ADE20K configs): the check knows that LvsegRunner.save_checkpoint takes none of them."""
    assert refused(HEADLINE_CONFIG, **{'default_hooks.checkpoint.intreval': 2}) == [
        "--cfg-options default_hooks.checkpoint.intreval: default_hooks.checkpoint builds AtomicCheckpointHook, which "
        f"takes no argument 'intreval' {SAVE_NOTE}: did you mean interval?"]


def test_a_list_index_must_be_in_range_and_a_leaf_has_no_keys():
    assert refused(HEADLINE_CONFIG, **{'param_scheduler.2.end': 4, 'train_cfg.max_iters.end': 4}) == [
        '--cfg-options param_scheduler.2.end: param_scheduler is a list of 2 items: expected an index from 0 to 1 '
        'after param_scheduler.',
        '--cfg-options train_cfg.max_iters.end: train_cfg.max_iters is 160000, which has no keys: set '
        'train_cfg.max_iters=VALUE as a whole, or replace it by a dict with train_cfg.max_iters._delete_=True']


def test_a_value_that_is_not_a_dict_becomes_one_with_delete_as_mmengine_requires():
    """The T2T-ViT tests give ``arch='t-14'`` a dict of their own; its keys are the backbone's to check."""
    options = {'model.backbone.arch._delete_': True, 'model.backbone.arch.embed_dims': 64,
               'model.backbone.arch.tokens_type': 'transformer'}
    config = Config.fromfile(REPO / 'configs/pretrain/t2t-vit-t-14_tokenlabel_8xb128-310e_in1k-224.py')
    check_overrides(config, options)  # accepted
    del options['model.backbone.arch._delete_']
    assert refused(REPO / 'configs/pretrain/t2t-vit-t-14_tokenlabel_8xb128-310e_in1k-224.py', **options)[0].endswith(
        'or replace it by a dict with model.backbone.arch._delete_=True')


def test_a_variable_of_the_config_file_names_the_keys_that_hold_its_value():
    """``max_iters = 600`` in the demo config was copied into train_cfg when the file was loaded."""
    assert refused(DEMO_CONFIG, max_iters=2, **{'data_root': 'elsewhere'}) == [
        '--cfg-options max_iters: max_iters is a variable of the config file: its value was copied into the keys that '
        'use it when the file was loaded, so setting it changes nothing; set train_cfg.max_iters instead',
        '--cfg-options data_root: data_root is a variable of the config file: its value was copied into the keys that '
        'use it when the file was loaded, so setting it changes nothing; set train_dataloader.dataset.data_root, '
        'val_dataloader.dataset.data_root, test_dataloader.dataset.data_root instead']


def test_the_top_level_data_preprocessor_of_mmseg_configs_is_a_variable_too():
    """mmseg's configs name ``data_preprocessor = dict(size=crop_size)`` at the top and put it into the model; the
    Runner gives the top-level one only to a model without its own."""
    assert refused(HEADLINE_CONFIG, **{'data_preprocessor.size': (256, 256)}) == [
        '--cfg-options data_preprocessor.size: data_preprocessor is a variable of the config file: its value was '
        'copied into the keys that use it when the file was loaded, so setting it changes nothing; set '
        'model.data_preprocessor instead']


def test_a_dict_without_a_type_takes_only_its_own_keys_and_a_new_hook_needs_a_type():
    assert refused(DEMO_CONFIG, **{'model.backbone.arch.num_layer': 4, 'default_hooks.chekpoint.interval': 2,
                                   'randomness.sed': 1, 'env_cfg.cudnn_benchmak': False}) == [
        "--cfg-options model.backbone.arch.num_layer: model.backbone.arch has no key 'num_layer' (a dict without a "
        'type takes no new keys): did you mean num_layers?',
        "--cfg-options default_hooks.chekpoint.interval: the config has no hook 'chekpoint', and a new one needs a "
        'type: did you mean checkpoint?',
        "--cfg-options randomness.sed: LvsegRunner.set_randomness reads no key 'sed' in randomness: did you mean seed?",
        "--cfg-options env_cfg.cudnn_benchmak: mmengine's Runner.setup_env reads no key 'cudnn_benchmak' in env_cfg: "
        'did you mean cudnn_benchmark?']


def test_new_keys_that_something_reads_pass():
    """Arguments of what a dict builds (a data set's ``indices``, torch's DataLoader's ``pin_memory``, a scheduler's
    ``convert_to_iter_based``), top-level keys that mmengine or lvseg read, free-form dicts, a new type with its
    arguments, a new dict under a new key."""
    check_overrides(Config.fromfile(HEADLINE_CONFIG), {
        'train_dataloader.dataset.indices': 8, 'train_dataloader.pin_memory': True, 'load_strict': False,
        'param_scheduler.0.convert_to_iter_based': True, 'log_processor.window_size': 1, 'compile.backend': 'eager',
        'cpu_bf16': True, 'randomness.seed': 0, 'default_hooks.finite_loss': None, 'model.test_cfg.mode': 'whole',
        'optim_wrapper.clip_grad.max_norm': 1.0, 'optim_wrapper.paramwise_cfg.custom_keys.head.lr_mult': 10.0,
        'train_cfg.type': 'EpochBasedTrainLoop', 'train_cfg.max_epochs': 3, 'model_wrapper_cfg.broadcast_buffers': True,
        'model.backbone.init_cfg.type': 'Pretrained', 'model.backbone.init_cfg.checkpoint': 'x.pth'})


def test_the_readme_examples_pass():
    """The --cfg-options that README.md, docs/*.md and the configs' comments give, on the configs they are given for."""
    check_overrides(Config.fromfile(HEADLINE_CONFIG), {
        'model.pretrained': None, 'visualizer.vis_backends.0.type': 'TensorboardVisBackend', 'load_strict': False,
        'default_hooks.finite_loss': None, 'cpu_bf16': True, 'compile': True})
    check_overrides(Config.fromfile(PRETRAIN_CONFIG), {
        'augment_on': 'device', 'train_dataloader.dataset.label_store': 'label_store/train',
        'train_dataloader.dataset.label_map_root': None, 'test_dataloader.dataset.data_root': 'data/in',
        'auto_scale_lr.enable': True})
    check_overrides(Config.fromfile(REPO / 'configs/pretrain/lvvit-s_tokenlabel-ft_8xb64-30e_in1k-384.py'),
                    {'model.init_cfg.checkpoint': 'epoch_310.pth'})


@pytest.mark.parametrize('config', sorted(str(p.relative_to(REPO)) for p in (REPO / 'configs').rglob('*.py')
                                          if '_base_' not in p.parts))
def test_every_shipped_config_passes_the_argument_check(config):
    check_arguments(Config.fromfile(REPO / config))


def test_arguments_misspelt_in_a_config_file_stop_the_runner_before_it_is_built(tmp_path):
    """The whole config, not only --cfg-options: a hook, the train loop, the optimizer wrapper and its optimizer."""
    config = tmp_path / 'typos.py'
    config.write_text(f"_base_ = ['{HEADLINE_CONFIG}']\n"
                      "default_hooks = dict(checkpoint=dict(intreval=2), logger=dict(intervals=1))\n"
                      "custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL'),\n"
                      "                dict(type='EmptyCacheHook', after_iterr=True)]\n"
                      "train_cfg = dict(val_intreval=100)\n"
                      "optim_wrapper = dict(clip_grads=None, optimizer=dict(weight_decai=0.1))\n")
    cfg = Config.fromfile(config)
    cfg.work_dir = str(tmp_path / 'work')
    with pytest.raises(ConfigError) as error:
        LvsegRunner.from_cfg(cfg)
    assert str(error.value).splitlines() == [
        "default_hooks.logger.intervals: default_hooks.logger builds LoggerHook, which takes no argument 'intervals': "
        'did you mean interval?',
        "default_hooks.checkpoint.intreval: default_hooks.checkpoint builds AtomicCheckpointHook, which takes no "
        f"argument 'intreval' {SAVE_NOTE}: did you mean interval?",
        "custom_hooks.1.after_iterr: custom_hooks.1 builds EmptyCacheHook, which takes no argument 'after_iterr': did "
        'you mean after_iter?',
        "train_cfg.val_intreval: train_cfg builds IterBasedTrainLoop, which takes no argument 'val_intreval': did you "
        'mean val_interval?',
        "optim_wrapper.clip_grads: optim_wrapper builds AmpOptimWrapper, which takes no argument 'clip_grads': did "
        'you mean clip_grad?',
        "optim_wrapper.optimizer.weight_decai: optim_wrapper.optimizer builds AdamW, which takes no argument "
        "'weight_decai': did you mean weight_decay?"]
    assert not (tmp_path / 'work').exists()  # refused before the runner made its work dir


def test_a_train_loop_needs_a_type_or_by_epoch(tmp_path):
    cfg = Config.fromfile(PRETRAIN_DEMO_CONFIG)
    cfg.train_cfg = dict(max_epochs=2)
    with pytest.raises(ConfigError, match=r'^train_cfg: mmengine needs exactly one of type \(a loop, e\.g\. '
                       r'IterBasedTrainLoop\) and by_epoch \(True for max_epochs, False for max_iters\)$'):
        check_arguments(cfg)
    cfg.train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=1)
    check_arguments(cfg)
