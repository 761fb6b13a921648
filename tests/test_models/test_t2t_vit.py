"""T2T-ViT backbone: presets and published parameter counts, the Tokens-to-Token module, the fixed sinusoid
position table, dense outputs, loading official T2T-ViT_t checkpoints (synthetic tensors, real key names), and
token-labeling pretraining -> UperNet fine-tuning -> test end to end (slow)."""
import math
import re

import pytest
import torch
import torch.nn.functional as F
from lvseg_testing.official_checkpoints import official_state_dict as official_lvvit_state_dict
from lvseg_testing.tool_runner import REPO, demo_overrides, pretrain_overrides, run_tool

from lvseg.checkpoints import convert_t2t_vit_checkpoint
from lvseg.models import T2TViT
from lvseg.models.backbones.t2t_vit import ARCH_SETTINGS, TokenAttention, TokensToToken, sinusoid_position_table

# Official README (T2T-ViT_t-14/19/24): trunk + the 1000-class head.
PUBLISHED_PARAMS = {'t-14': 21.5e6, 't-19': 39.2e6, 't-24': 64.1e6}
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, mlp_ratio=3.0, token_dims=8)


def official_state_dict(embed_dims=32, depth=2, token_dims=8, grid=14, num_classes=10, seed=0):
    """A state dict with exactly the key names and shapes of the official ``models/t2t_vit.py`` T2T_ViT built with
    ``tokens_type='transformer'``. Its trunk (``cls_token``, ``pos_embed``, ``blocks`` with MLP ratio 3 and qkv
    without bias, ``norm``, ``head``) is named and shaped as the official LV-ViT's; its T2T module replaces the
    LV-ViT stem (``Token_transformer`` layers of MLP ratio 1), and it has no ``aux_head``."""
    lvvit = official_lvvit_state_dict(embed_dims, depth, grid=grid, num_classes=num_classes, seed=seed)
    state = {k: v for k, v in lvvit.items() if not k.startswith(('patch_embed.', 'aux_head.'))}
    gen = torch.Generator().manual_seed(seed)
    shapes = {'tokens_to_token.project.weight': (embed_dims, token_dims * 9),
              'tokens_to_token.project.bias': (embed_dims,)}
    for layer, in_dims in (('attention1', 3 * 7 * 7), ('attention2', token_dims * 3 * 3)):
        for name, shape in {'norm1.weight': (in_dims,), 'norm1.bias': (in_dims,),
                            'attn.qkv.weight': (3 * token_dims, in_dims), 'attn.proj.weight': (token_dims, token_dims),
                            'attn.proj.bias': (token_dims,), 'norm2.weight': (token_dims,), 'norm2.bias': (token_dims,),
                            'mlp.fc1.weight': (token_dims, token_dims), 'mlp.fc1.bias': (token_dims,),
                            'mlp.fc2.weight': (token_dims, token_dims), 'mlp.fc2.bias': (token_dims,)}.items():
            shapes[f'tokens_to_token.{layer}.{name}'] = shape
    return {**state, **{k: torch.randn(s, generator=gen) for k, s in shapes.items()}}


@pytest.mark.parametrize('arch', sorted(ARCH_SETTINGS))
def test_parameter_count_matches_published_classification_model(arch):
    backbone = T2TViT(arch, img_size=224, pyramid='none', final_norm=True)
    head = ARCH_SETTINGS[arch]['embed_dims'] * 1000 + 1000
    count = sum(p.numel() for p in backbone.parameters()) + head
    assert abs(count - PUBLISHED_PARAMS[arch]) / PUBLISHED_PARAMS[arch] < 0.005, (arch, count)


@pytest.mark.parametrize('size, grid', [((224, 224), (14, 14)), ((512, 512), (32, 32)), ((200, 333), (13, 21))])
def test_tokens_to_token_gives_one_token_per_16_pixels(size, grid):
    t2t = TokensToToken(in_channels=3, embed_dims=24, token_dims=8)
    tokens, hw_shape = t2t(torch.rand(2, 3, *size))
    assert hw_shape == grid and tokens.shape == (2, grid[0] * grid[1], 24)


def test_tokens_to_token_widths_follow_the_soft_splits():
    t2t = TokensToToken(in_channels=3, embed_dims=24, token_dims=8)
    assert t2t.attention1.attn.qkv.in_features == 3 * 7 * 7 and t2t.attention1.attn.qkv.out_features == 3 * 8
    assert t2t.attention2.attn.qkv.in_features == 8 * 3 * 3 and t2t.project.in_features == 8 * 3 * 3


def test_token_attention_adds_the_values_and_scales_by_the_input_width():
    torch.manual_seed(0)
    attention = TokenAttention(in_dims=12, token_dims=4)
    x = torch.randn(2, 5, 12)
    q, k, v = attention.qkv(x).split(4, dim=-1)
    weights = (q @ k.transpose(1, 2) / math.sqrt(12)).softmax(dim=-1)
    assert torch.allclose(attention(x), v + attention.proj(weights @ v), atol=1e-6)


def test_sinusoid_table_is_the_transformer_encoding():
    """Column 2i holds sin(p / 10000^(2i/d)), column 2i + 1 the cosine of the same angle."""
    table = sinusoid_position_table(50, 8)
    trig = (math.sin, math.cos)
    expected = [[trig[j % 2](p / 10000 ** (2 * (j // 2) / 8)) for j in range(8)] for p in range(50)]
    assert table.shape == (1, 50, 8) and torch.allclose(table[0], torch.tensor(expected), atol=1e-6)
    assert table[0, 0].tolist() == [0.0, 1.0] * 4


def test_position_embedding_is_fixed_and_survives_random_init():
    backbone = T2TViT(TINY, img_size=64, pyramid='none')
    backbone.init_weights()
    assert not backbone.pos_embed.requires_grad
    assert torch.equal(backbone.pos_embed.data, sinusoid_position_table(1 + 4 * 4, 32))


@pytest.mark.parametrize('size', [(224, 224), (200, 333)])
def test_side_layer_pyramid_shapes(size):
    backbone = T2TViT('t-14', out_indices=(4, 7, 10, 13), pyramid_out_channels=64).eval()
    with torch.no_grad():
        outs = backbone(torch.rand(1, 3, *size))
    grid = (-(-size[0] // 16), -(-size[1] // 16))
    expected = [(384, 4 * grid[0], 4 * grid[1]), (384, 2 * grid[0], 2 * grid[1]), (384, *grid), (64, *grid)]
    assert [tuple(o.shape[1:]) for o in outs] == expected


def test_classification_interface_and_layer_depths():
    backbone = T2TViT(TINY, img_size=64, pyramid='none', final_norm=True).eval()
    tokens, hw_shape = backbone.patch_embed(torch.rand(2, 3, 64, 96))
    assert hw_shape == (4, 6) and backbone.forward_tokens(tokens, hw_shape).shape == (2, 1 + 24, 32)
    assert backbone.get_layer_depth('patch_embed.attention1.attn.qkv.weight') == (0, 4)
    assert backbone.get_layer_depth('blocks.1.mlp.fc1.weight') == (2, 4)


def test_frozen_stage_zero_freezes_the_tokens_to_token_module():
    backbone = T2TViT(TINY, frozen_stages=0, pyramid='none')
    assert not any(p.requires_grad for p in backbone.patch_embed.parameters())
    assert all(p.requires_grad for p in backbone.blocks.parameters())


def test_backbone_keys_are_the_official_keys_renamed():
    backbone = T2TViT(TINY, pyramid='none', final_norm=True)
    official = {k.replace('tokens_to_token.', 'patch_embed.') for k in official_state_dict()} - {'head.weight',
                                                                                                 'head.bias'}
    assert set(backbone.state_dict()) == official


@pytest.mark.parametrize('wrap', ['state_dict_ema', 'module_prefix'])
def test_official_checkpoint_loads_through_init_cfg_with_pos_embed_resized(tmp_path, wrap):
    weights = official_state_dict()
    wrapped = {'state_dict_ema': {'state_dict': official_state_dict(seed=1), 'state_dict_ema': weights},
               'module_prefix': {'state_dict': {f'module.{k}': v for k, v in weights.items()}}}[wrap]
    torch.save(wrapped, tmp_path / 't2t.pth.tar')
    backbone = T2TViT(TINY, img_size=128, out_indices=(0, 1, 0, 1), pyramid_out_channels=16,
                      init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 't2t.pth.tar')))
    backbone.init_weights()
    assert torch.equal(backbone.patch_embed.attention1.attn.qkv.weight,
                       weights['tokens_to_token.attention1.attn.qkv.weight'])
    assert torch.equal(backbone.blocks[1].mlp.fc2.weight, weights['blocks.1.mlp.fc2.weight'])
    grid = weights['pos_embed'][:, 1:].reshape(1, 14, 14, 32).permute(0, 3, 1, 2)
    resized = F.interpolate(grid, size=(8, 8), mode='bicubic', align_corners=False).flatten(2).transpose(1, 2)
    assert torch.allclose(backbone.pos_embed[:, 1:], resized, atol=1e-5)


def test_loading_reports_the_dropped_head_and_final_norm():
    report = T2TViT(TINY, out_indices=(0, 1, 0, 1)).load_pretrained({'model': official_state_dict()})
    assert sorted(report['dropped']) == ['head.bias', 'head.weight', 'norm.bias', 'norm.weight']
    assert report['unexpected'] == [] and all(k.startswith('side_layers.') for k in report['missing'])


def test_performer_checkpoint_is_refused():
    weights = official_state_dict()
    weights['tokens_to_token.attention1.kqv.weight'] = weights.pop('tokens_to_token.attention1.attn.qkv.weight')
    weights['tokens_to_token.attention1.w'] = torch.randn(32, 64)
    with pytest.raises(ValueError, match='Performer T2T-ViT checkpoint'):
        convert_t2t_vit_checkpoint(weights)


def test_checkpoint_of_another_depth_is_a_clear_error():
    with pytest.raises(ValueError, match='depth 3'):
        T2TViT(TINY, pyramid='none').load_pretrained(official_state_dict(depth=3), source='t2t.pth.tar')


@pytest.mark.slow
def test_t2t_vit_pretrains_with_token_labeling_then_fine_tunes_and_tests(imagenet_root, ade_root,  # noqa: F811
                                                                         tmp_path):
    """configs/pretrain/t2t-vit-t-14_tokenlabel_8xb128-310e_in1k-224.py at a small size ->
    configs/demo/upernet_t2t-vit-demo."""
    arch = dict(embed_dims=64, num_layers=4, num_heads=4, mlp_ratio=3.0, token_dims=16)  # = the demo config's
    tiny = ['model.backbone.arch._delete_=True', *(f'model.backbone.arch.{k}={v}' for k, v in arch.items())]
    config = REPO / 'configs/pretrain/t2t-vit-t-14_tokenlabel_8xb128-310e_in1k-224.py'
    run_tool('pretrain.py', str(config), '--work-dir',
             str(tmp_path / 'pretrain'), *pretrain_overrides(imagenet_root, epochs=1), *tiny,
             'train_dataloader.dataset.label_map_root=label_maps/train')
    pretrained = tmp_path / 'pretrain/epoch_1.pth'
    weights = torch.load(pretrained, map_location='cpu', weights_only=True)['state_dict']
    assert weights['backbone.patch_embed.attention1.attn.qkv.weight'].shape == (3 * 16, 3 * 7 * 7)
    assert torch.equal(weights['backbone.pos_embed'], sinusoid_position_table(1 + 14 * 14, 64))  # stayed fixed

    seg_config = str(REPO / 'configs/demo/upernet_t2t-vit-demo_synthetic-128.py')
    trained = run_tool('train.py', seg_config, '--work-dir', str(tmp_path / 'seg'), *demo_overrides(ade_root, 2),
                       f'model.pretrained={pretrained}')
    report = re.search(r'loaded \d+ tensors .*; dropped (\[.*?\]); missing (\[.*?\]); unexpected (\[.*?\])',
                       trained.stdout + trained.stderr)
    assert report and report.group(3) == '[]'
    assert 'blocks' not in report.group(2) and 'patch_embed' not in report.group(2)
    assert "'aux_head.weight'" in report.group(1)

    tested = run_tool('test.py', seg_config, str(tmp_path / 'seg/iter_2.pth'), '--work-dir', str(tmp_path / 'test'),
                      *demo_overrides(ade_root))
    assert re.search(r'Iter\(test\).*mIoU: \d+\.\d+', tested.stdout + tested.stderr)
