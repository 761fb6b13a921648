"""Loading official LV-ViT checkpoints (synthetic tensors, real key names) and lvseg's own."""
from pathlib import Path

import pytest
import torch
from lvseg_testing.official_checkpoints import official_state_dict
from lvseg_testing.tool_runner import run_tool

from lvseg.checkpoints import convert_lvvit_checkpoint
from lvseg.checkpoints.fit import CheckpointMismatchError
from lvseg.models.backbones.lvvit import LVViT

REPO = Path(__file__).resolve().parents[2]
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, mlp_ratio=3.0, stem_channels=8, skip_lam=2.0)


def test_backbone_keys_are_the_official_keys_without_heads():
    backbone = LVViT(TINY, pyramid='none', final_norm=True)
    official = set(official_state_dict()) - {'head.weight', 'head.bias', 'aux_head.weight', 'aux_head.bias'}
    assert set(backbone.state_dict()) == official


@pytest.mark.parametrize('wrap', ['plain', 'state_dict', 'model', 'state_dict_ema', 'module_prefix'])
def test_pretrained_init_cfg_loads_every_wrapper(tmp_path, wrap):
    weights = official_state_dict()
    wrapped = {
        'plain': weights,
        'state_dict': {'state_dict': weights, 'epoch': 3},
        'model': {'model': weights},
        'state_dict_ema': {'state_dict': official_state_dict(seed=1), 'state_dict_ema': weights},
        'module_prefix': {'state_dict': {f'module.{k}': v for k, v in weights.items()}},
    }[wrap]
    path = tmp_path / 'lvvit.pth'
    torch.save(wrapped, path)
    backbone = LVViT(TINY, pyramid='none', final_norm=True,
                     init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    backbone.init_weights()
    loaded = backbone.state_dict()
    for key in ('blocks.1.attn.qkv.weight', 'pos_embed', 'patch_embed.bn2.running_var', 'norm.bias'):
        assert torch.equal(loaded[key], weights[key]), key


def test_pos_embed_resized_at_load_equals_resizing_on_the_fly(tmp_path):
    torch.manual_seed(0)
    at_224 = LVViT(TINY, img_size=224, pyramid='none', out_indices=(0, 1)).eval()
    at_224.init_weights()
    path = tmp_path / 'lvvit_224.pth'
    torch.save(at_224.state_dict(), path)
    at_320 = LVViT(TINY, img_size=320, pyramid='none', out_indices=(0, 1),
                   init_cfg=dict(type='Pretrained', checkpoint=str(path))).eval()
    at_320.init_weights()
    assert at_320.pos_embed.shape == (1, 1 + 20 * 20, 32)
    x = torch.rand(1, 3, 320, 320)
    with torch.no_grad():
        for a, b in zip(at_224(x), at_320(x)):
            assert torch.allclose(a, b, atol=1e-5)


def test_load_reports_the_dropped_heads_and_refuses_weights_that_do_not_fill_the_backbone(tmp_path):
    weights = official_state_dict()
    path = tmp_path / 'official.pth'
    torch.save(weights, path)
    report = LVViT(TINY, pyramid='none', final_norm=True).load_pretrained(str(path))
    assert report == dict(dropped=['head.weight', 'head.bias', 'aux_head.weight', 'aux_head.bias'],
                          missing=[], unexpected=[])
    weights['blocks.0.attn.extra'] = torch.zeros(1)
    del weights['norm.bias']
    torch.save(weights, tmp_path / 'odd.pth')
    with pytest.raises(CheckpointMismatchError) as refused:
        LVViT(TINY, pyramid='none', final_norm=True).load_pretrained(str(tmp_path / 'odd.pth'))
    assert str(refused.value).startswith(f'{tmp_path}/odd.pth: these pretrained weights do not fit LVViT: ')
    assert 'missing from it (norm.bias)' in str(refused.value)
    assert 'no place in the model (blocks.0.attn.extra)' in str(refused.value)


def test_wrong_embed_dim_or_depth_is_a_clear_error(tmp_path):
    path = tmp_path / 'lvvit_m.pth'
    torch.save(official_state_dict(embed_dims=48), path)
    backbone = LVViT(TINY, pyramid='none', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(ValueError, match=r'lvvit_m.pth holds a model of depth 2 and embed dim 48.*embed dim 32'):
        backbone.init_weights()
    torch.save(official_state_dict(depth=3), path)
    with pytest.raises(ValueError, match='depth 3'):
        backbone.init_weights()


def test_lvseg_classifier_and_segmentor_checkpoints_keep_only_the_backbone():
    weights = official_state_dict()
    body = {k: v for k, v in weights.items() if not k.startswith(('head.', 'aux_head.'))}
    checkpoint = {'state_dict': {**{f'backbone.{k}': v for k, v in body.items()},
                                 'head.weight': weights['head.weight'], 'decode_head.conv_seg.weight': torch.zeros(1)},
                  'meta': {}}
    state_dict, dropped = convert_lvvit_checkpoint(checkpoint)
    assert set(state_dict) == set(body)
    assert set(dropped) == {'head.weight', 'decode_head.conv_seg.weight'}


def test_convert_checkpoint_tool_writes_a_loadable_backbone_file(tmp_path):
    src, dst = tmp_path / 'official.pth.tar', tmp_path / 'converted.pth'
    weights = official_state_dict()
    torch.save({'state_dict_ema': weights, 'state_dict': official_state_dict(seed=2)}, src)
    result = run_tool('convert_checkpoint.py', str(src), str(dst), '--img-size', '512')
    assert 'dropped 4' in result.stdout
    converted = torch.load(dst, weights_only=True)['state_dict']
    assert converted['pos_embed'].shape == (1, 1 + 32 * 32, 32)
    assert torch.equal(converted['blocks.0.mlp.fc1.weight'], weights['blocks.0.mlp.fc1.weight'])
    backbone = LVViT(TINY, img_size=512, pyramid='none', init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    backbone.init_weights()
    assert torch.equal(backbone.pos_embed, converted['pos_embed'])


def test_official_checkpoint_into_a_segmentation_backbone_drops_only_heads_and_final_norm(tmp_path):
    path = tmp_path / 'official.pth'
    torch.save(official_state_dict(), path)
    # side layers, no final norm: the official seg layout
    seg_backbone = LVViT(TINY, out_indices=(0, 1, 1, 1), pyramid='side_layers')
    report = seg_backbone.load_pretrained(str(path))
    assert sorted(report['dropped']) == sorted(['head.weight', 'head.bias', 'aux_head.weight', 'aux_head.bias',
                                                'norm.weight', 'norm.bias'])
    assert report['unexpected'] == []
    assert all(k.startswith('side_layers.') for k in report['missing'])


def test_pretrained_argument_is_short_for_a_pretrained_init_cfg(tmp_path):
    path = tmp_path / 'lvvit.pth'
    weights = official_state_dict()
    torch.save(weights, path)
    backbone = LVViT(TINY, pyramid='none', pretrained=str(path))
    backbone.init_weights()
    assert torch.equal(backbone.state_dict()['blocks.0.attn.qkv.weight'], weights['blocks.0.attn.qkv.weight'])
    with pytest.raises(ValueError, match='not both'):
        LVViT(TINY, pretrained=str(path), init_cfg=dict(type='Pretrained', checkpoint=str(path)))
