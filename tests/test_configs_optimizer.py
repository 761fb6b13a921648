"""The optimizer each segmentation config builds, parameter by parameter, against the recipe it follows.

The official LV-ViT segmentation configs (TokenLabeling seg/configs/lvvit/upernet_lvvit_{s,m,l}_512x512_160k_ade20k.py)
set ``optimizer = dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01)`` and no ``paramwise_cfg``:
every parameter, norms, ``pos_embed`` and ``cls_token`` included, has lr 6e-5 and weight decay 0.01. The optimizer
is built as the runner builds it: the config's model, its ``optim_wrapper`` through mmengine's optimizer wrapper
constructor, after lvseg's CPU fallback (which changes the wrapper's precision, not its parameter groups).
"""
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import lvseg  # noqa: F401
from lvseg.engine.console_log import parameter_groups_summary
from lvseg.engine.device_fallbacks import adapt_config_to_cpu

REPO = Path(__file__).resolve().parents[1]
OFFICIAL = dict(lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01)
# The configs that follow the official recipe's optimizer: the headline, its other sizes and backbones, its other
# data sets.
OFFICIAL_RECIPE = [
    'upernet_lvvit.py',
    'upernet_lvvit-m_8xb2-160k_ade20k-512x512.py',
    'fpn_lvvit-s_8xb2-80k_ade20k-512x512.py',
    'upernet_t2t-vit-t-14_8xb2-160k_ade20k-512x512.py',
    'upernet_lvvit-s_8xb2-90k_cityscapes-512x1024.py',
    'upernet_lvvit-s_8xb2-80k_pascal-context-59-480x480.py',
    'upernet_lvvit-s_8xb2-80k_coco-stuff164k-512x512.py',
    'upernet_lvvit-s_8xb2-40k_voc12aug-512x512.py',
    'upernet_lvvit-s_8xb2-40k_own-data-512x512.py',
]
NORMS = (nn.LayerNorm, nn.modules.batchnorm._BatchNorm, nn.GroupNorm)


def build(config: str) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The model of ``configs/<config>`` and its optimizer, as the runner builds them (on this machine)."""
    cfg = Config.fromfile(REPO / 'configs' / config)
    init_default_scope(cfg.default_scope)
    adapt_config_to_cpu(cfg, distributed=False)  # AmpOptimWrapper -> OptimWrapper without CUDA; nothing with it
    model = MODELS.build(cfg.model)
    return model, build_optim_wrapper(model, cfg.optim_wrapper).optimizer


def settings(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, tuple[float, float]]:
    """``{parameter name: (lr, weight_decay)}`` for every parameter the optimizer updates; fails on a parameter
    of the model that it misses or holds twice."""
    names = {id(param): name for name, param in model.named_parameters()}
    found = {}
    for group in optimizer.param_groups:
        for param in group['params']:
            assert names[id(param)] not in found, names[id(param)]
            found[names[id(param)]] = (group['lr'], group['weight_decay'])
    assert sorted(found) == sorted(names.values())
    return found


def norm_parameters(model: nn.Module) -> set[str]:
    return {f'{module_name}.{name}' for module_name, module in model.named_modules() if isinstance(module, NORMS)
            for name, _ in module.named_parameters(recurse=False)}


def test_the_headline_optimizer_is_the_official_one_for_every_parameter():
    model, optimizer = build('upernet_lvvit.py')
    assert type(optimizer) is torch.optim.AdamW
    assert {key: optimizer.defaults[key] for key in OFFICIAL} == OFFICIAL
    per_param = settings(model, optimizer)
    assert set(per_param.values()) == {(6e-5, 0.01)}
    # the ones mmseg's ViT configs exempt decay too
    for name in ('backbone.pos_embed', 'backbone.cls_token', 'backbone.blocks.0.norm1.weight',
                 'backbone.patch_embed.bn1.bias', 'decode_head.bottleneck.bn.weight'):
        assert per_param[name] == (6e-5, 0.01), name
    names = {id(param): name for name, param in model.named_parameters()}
    summary = parameter_groups_summary(optimizer, names)  # the console's line about it
    assert summary.startswith(f'optimizer: {len(per_param)} tensors in 1 parameter group: lr_mult 1 decay_mult 1: ')


@pytest.mark.parametrize('config', OFFICIAL_RECIPE[1:])
def test_configs_that_follow_the_recipe_decay_every_parameter(config):
    model, optimizer = build(config)
    assert set(settings(model, optimizer).values()) == {(6e-5, 0.01)}


@pytest.mark.parametrize('config, lr', [('upernet_lvvit-s_no-decay-norm-pos_8xb2-160k_ade20k-512x512.py', 6e-5),
                                        ('demo/upernet_lvvit-demo_synthetic-128.py', 1e-3)])  # the demo's figures'
def test_the_no_decay_variant_exempts_norms_pos_embed_and_cls_token(config, lr):
    model, optimizer = build(config)
    per_param = settings(model, optimizer)
    exempt = norm_parameters(model) | {'backbone.pos_embed', 'backbone.cls_token'}
    assert {name for name, (_, decay) in per_param.items() if decay == 0.0} == exempt
    assert {per_param[name] for name in per_param if name not in exempt} == {(lr, 0.01)}
    assert {lr_ for lr_, _ in per_param.values()} == {lr}
    assert 'backbone.blocks.3.norm2.weight' in exempt and 'backbone.side_layers.0.1.weight' in exempt


def test_the_deit_baseline_keeps_mmseg_s_vit_optimizer():
    """mmseg's vit_deit-s16_mln_upernet config: custom_keys pos_embed, cls_token and 'norm' at decay 0; 'norm' names
    no parameter of mmseg's VisionTransformer (its LayerNorms are ln1, ln2), so two tensors are exempt."""
    model, optimizer = build('upernet_deit-s-tokenlabel_8xb2-160k_ade20k-512x512.py')
    per_param = settings(model, optimizer)
    assert {name for name, (_, decay) in per_param.items() if decay == 0.0} == {'backbone.pos_embed',
                                                                                'backbone.cls_token'}
    assert {lr for lr, _ in per_param.values()} == {6e-5}


def test_the_layer_decay_variant_is_beit_s_optimizer_on_the_headline_model():
    model, optimizer = build('upernet_lvvit-s_layer-decay_8xb2-160k_ade20k-512x512.py')
    per_param = settings(model, optimizer)
    exempt = {name for name, param in model.named_parameters() if param.ndim == 1}
    exempt |= {'backbone.pos_embed', 'backbone.cls_token'}
    assert {name for name, (_, decay) in per_param.items() if decay == 0.0} == exempt
    assert per_param['backbone.blocks.15.attn.qkv.weight'][0] == pytest.approx(6e-5 * 0.9)
    assert per_param['backbone.blocks.0.attn.qkv.weight'][0] == pytest.approx(6e-5 * 0.9 ** 16)
    assert per_param['decode_head.conv_seg.weight'] == (6e-5, 0.01)
