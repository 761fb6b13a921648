"""An lvseg run's console shows one line for each of mmengine's long records, and its log file keeps them whole;
the optimizer's parameter groups are counted in one line."""
import re
import uuid
from collections import Counter, OrderedDict
from types import SimpleNamespace

import torch
from mmengine.config import Config
from mmengine.hooks import IterTimerHook, RuntimeInfoHook
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.runner import Runner
from torch import nn

from lvseg.engine.console_log import HOOKS, parameter_groups_summary, quiet_logger


class TinySegmentor(nn.Module):
    def __init__(self):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, 4))
        self.backbone = nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 4, 3), bn=nn.BatchNorm2d(4)))
        self.head = nn.Linear(4, 2)


def adamw_with_paramwise_options(model: nn.Module) -> torch.optim.Optimizer:
    """lvseg's segmentation recipe (configs/_base_/schedules/adamw_poly_160k.py), and 10x the lr for the head."""
    return DefaultOptimWrapperConstructor(
        dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01)),
        paramwise_cfg=dict(norm_decay_mult=0.0, custom_keys={'pos_embed': dict(decay_mult=0.0),
                                                             'head': dict(lr_mult=10.0)}))(model).optimizer


def test_the_console_shows_a_line_per_long_record_and_the_log_file_keeps_them(tmp_path, capsys):
    log_file = tmp_path / 'run.log'
    logger = quiet_logger(MMLogger.get_instance(f'run-{uuid.uuid4()}', log_file=str(log_file)))
    # the records as mmengine's Runner makes them: environment and config (_log_env), hooks (__init__)
    runner = SimpleNamespace(logger=logger, cfg=Config(dict(model=dict(type='TinySegmentor'))), _randomness_cfg={},
                             _seed=0, _launcher='pytorch', _distributed=True, _world_size=2,
                             hooks=[RuntimeInfoHook(), IterTimerHook()])
    Runner._log_env(runner, dict(cudnn_benchmark=False))
    logger.info(f'{HOOKS}{Runner.get_hooks_info(runner)}')
    adamw_with_paramwise_options(TinySegmentor())  # its paramwise_options lines go to the latest logger: this one
    logger.info('Iter(train) [1/4]  loss: 2.7393')

    console = [line.split(' - ', 3)[-1] for line in capsys.readouterr().out.splitlines()]
    assert len(console) == 3
    assert console[0].startswith('environment: Python: ')
    assert console[0].endswith(f'(all of it: the log file {log_file})')
    assert 'Distributed launcher: pytorch, Distributed training: True, GPU number: 2' in console[0]
    assert console[1] == f'hooks: RuntimeInfoHook, IterTimerHook (their order at each stage: the log file {log_file})'
    assert console[2] == 'Iter(train) [1/4]  loss: 2.7393'
    logged = log_file.read_text()
    assert 'System environment:' in logged and 'Runtime environment:' in logged
    assert "Config:\nmodel = dict(type='TinySegmentor')" in logged
    assert '(VERY_HIGH   ) RuntimeInfoHook' in logged
    assert 'paramwise_options -- pos_embed:weight_decay=0.0' in logged


def test_the_summary_counts_the_optimizers_parameter_groups():
    model = TinySegmentor()
    optimizer = adamw_with_paramwise_options(model)
    line = parameter_groups_summary(optimizer, {id(param): name for name, param in model.named_parameters()})

    summarised = {(float(lr_mult), float(decay_mult)): int(count) for lr_mult, decay_mult, count
                  in re.findall(r'lr_mult (\S+) decay_mult (\S+): (\d+) tensors?', line)}
    actual = Counter()
    for group in optimizer.param_groups:
        actual[round(group['lr'] / 1e-3, 3), round(group['weight_decay'] / 0.01, 3)] += len(group['params'])
    assert summarised == actual == {(1.0, 0.0): 3, (1.0, 1.0): 2, (10.0, 1.0): 2}  # pos_embed and BN; conv; head
    assert line.startswith('optimizer: 7 tensors in 3 parameter groups: ')
    assert 'lr_mult 1 decay_mult 0: 3 tensors (pos_embed, backbone.bn.weight, backbone.bn.bias)' in line


def test_an_optimizer_without_paramwise_options_is_one_group_and_a_zero_default_is_given_as_it_is():
    model = TinySegmentor()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)  # weight_decay 0: no multiple of it
    line = parameter_groups_summary(optimizer, {id(param): name for name, param in model.named_parameters()})
    assert line == ('optimizer: 7 tensors in 1 parameter group: lr_mult 1 weight_decay 0: 7 tensors '
                    '(pos_embed, backbone.conv.weight, backbone.conv.bias, ...)')


def test_with_more_than_three_groups_each_shows_its_first_name():
    model = TinySegmentor()
    optimizer = DefaultOptimWrapperConstructor(
        dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01)),
        paramwise_cfg=dict(custom_keys={'pos_embed': dict(decay_mult=0.0), 'bn': dict(lr_mult=2.0),
                                        'head': dict(lr_mult=10.0)}))(model).optimizer
    line = parameter_groups_summary(optimizer, {id(param): name for name, param in model.named_parameters()})
    assert line == ('optimizer: 7 tensors in 4 parameter groups: lr_mult 1 decay_mult 0: 1 tensor (pos_embed); '
                    'lr_mult 1 decay_mult 1: 2 tensors (backbone.conv.weight, ...); '
                    'lr_mult 2 decay_mult 1: 2 tensors (backbone.bn.weight, ...); '
                    'lr_mult 10 decay_mult 1: 2 tensors (head.weight, ...)')
