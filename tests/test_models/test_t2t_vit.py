"""T2T-ViT backbone: presets and published parameter counts, the Tokens-to-Token module with transformer and
Performer layers, the fixed sinusoid position table, dense outputs, loading official T2T-ViT and T2T-ViT_t
checkpoints (synthetic tensors, real key names), and token-labeling pretraining -> UperNet fine-tuning -> test end to
end (slow)."""
import math
import re

import pytest
import torch
import torch.nn.functional as F
from lvseg_testing.official_checkpoints import official_state_dict as official_lvvit_state_dict
from lvseg_testing.tool_runner import REPO, demo_overrides, pretrain_overrides, run_tool

from lvseg.checkpoints import convert_t2t_vit_checkpoint
from lvseg.checkpoints.safe_load import load_checkpoint_file
from lvseg.models import T2TViT
from lvseg.models.backbones.t2t_vit import (
    ARCH_SETTINGS,
    TokenAttention,
    TokenPerformerAttention,
    TokensToToken,
    sinusoid_position_table,
)

# Official README (T2T-ViT-14/19/24 and T2T-ViT_t-14/19/24): trunk + the 1000-class head.
PUBLISHED_PARAMS = {'14': 21.5e6, '19': 39.2e6, '24': 64.1e6, 't-14': 21.5e6, 't-19': 39.2e6, 't-24': 64.1e6}
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, mlp_ratio=3.0, token_dims=8, tokens_type='transformer')
TINY_PERFORMER = dict(TINY, tokens_type='performer')


def official_t2t_layer_shapes(in_dims, token_dims, tokens_type):
    """Key names and shapes of one official T2T layer (after ``tokens_to_token.attention{1,2}.``):
    ``Token_transformer`` (token_transformer.py: qkv without bias, ``mlp.fc1/fc2``) or ``Token_performer``
    (token_performer.py: ``kqv`` with bias, ``proj``, ``mlp`` an nn.Sequential of Linear, GELU, Linear, Dropout,
    and the random projection ``w`` of int(0.5 * token_dims) rows)."""
    d = token_dims
    if tokens_type == 'transformer':
        layer = {'attn.qkv.weight': (3 * d, in_dims), 'attn.proj.weight': (d, d), 'attn.proj.bias': (d,),
                 'mlp.fc1.weight': (d, d), 'mlp.fc1.bias': (d,), 'mlp.fc2.weight': (d, d), 'mlp.fc2.bias': (d,)}
    else:
        layer = {'kqv.weight': (3 * d, in_dims), 'kqv.bias': (3 * d,), 'proj.weight': (d, d), 'proj.bias': (d,),
                 'mlp.0.weight': (d, d), 'mlp.0.bias': (d,), 'mlp.2.weight': (d, d), 'mlp.2.bias': (d,),
                 'w': (int(0.5 * d), d)}
    return {'norm1.weight': (in_dims,), 'norm1.bias': (in_dims,), 'norm2.weight': (d,), 'norm2.bias': (d,), **layer}


def official_state_dict(embed_dims=32, depth=2, token_dims=8, grid=14, num_classes=10, seed=0,
                        tokens_type='transformer'):
    """A state dict with exactly the key names and shapes of the official ``models/t2t_vit.py`` T2T_ViT built with
    ``tokens_type`` 'transformer' (T2t_vit_t_*) or 'performer' (T2t_vit_*). Its trunk (``cls_token``, ``pos_embed``,
    ``blocks`` with MLP ratio 3 and qkv without bias, ``norm``, ``head``) is named and shaped as the official
    LV-ViT's; its T2T module replaces the LV-ViT stem, and it has no ``aux_head``. T2T tensors are N(0, 0.1^2)
    (Performer features stay finite), ``w`` is drawn as the official one: orthonormal rows times sqrt(rows)."""
    lvvit = official_lvvit_state_dict(embed_dims, depth, grid=grid, num_classes=num_classes, seed=seed)
    state = {k: v for k, v in lvvit.items() if not k.startswith(('patch_embed.', 'aux_head.'))}
    gen = torch.Generator().manual_seed(seed)
    shapes = {'tokens_to_token.project.weight': (embed_dims, token_dims * 9),
              'tokens_to_token.project.bias': (embed_dims,)}
    for layer, in_dims in (('attention1', 3 * 7 * 7), ('attention2', token_dims * 3 * 3)):
        for name, shape in official_t2t_layer_shapes(in_dims, token_dims, tokens_type).items():
            shapes[f'tokens_to_token.{layer}.{name}'] = shape
    t2t = {k: 0.1 * torch.randn(s, generator=gen) for k, s in shapes.items()}
    for name, value in t2t.items():
        if name.endswith('.w'):
            rows = value.shape[0]
            t2t[name] = torch.nn.init.orthogonal_(value, generator=gen) * math.sqrt(rows)
    return {**state, **t2t}


def official_t2t_reference(state, images):
    """The official ``T2T_module.forward`` with Performer layers, written directly from ``state`` (official names):
    soft split 7/4/2, layer, fold to the square grid, soft split 3/2/1, layer, fold, soft split 3/2/1, project. The
    Performer attention is evaluated in its quadratic form ``A = phi(q) phi(k)^T``, ``y = A v / (A 1 + 1e-8)``."""
    def layer(prefix, x):
        p = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        x = F.layer_norm(x, x.shape[-1:], p['norm1.weight'], p['norm1.bias'])
        k, q, v = F.linear(x, p['kqv.weight'], p['kqv.bias']).chunk(3, dim=-1)
        num_features = p['w'].shape[0]

        def phi(t):
            return torch.exp(t @ p['w'].T - (t * t).sum(-1, keepdim=True) / 2) / math.sqrt(num_features)
        kernel = phi(q) @ phi(k).transpose(1, 2)  # (B, N, N)
        y = v + F.linear(kernel @ v / (kernel.sum(-1, keepdim=True) + 1e-8), p['proj.weight'], p['proj.bias'])
        h = F.layer_norm(y, y.shape[-1:], p['norm2.weight'], p['norm2.bias'])
        return y + F.linear(F.gelu(F.linear(h, p['mlp.0.weight'], p['mlp.0.bias'])), p['mlp.2.weight'],
                            p['mlp.2.bias'])

    def fold(tokens):
        side = math.isqrt(tokens.shape[1])
        return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, side, side)

    x = F.unfold(images, 7, stride=4, padding=2).transpose(1, 2)
    x = F.unfold(fold(layer('tokens_to_token.attention1.', x)), 3, stride=2, padding=1).transpose(1, 2)
    x = F.unfold(fold(layer('tokens_to_token.attention2.', x)), 3, stride=2, padding=1).transpose(1, 2)
    return F.linear(x, state['tokens_to_token.project.weight'], state['tokens_to_token.project.bias'])


@pytest.mark.parametrize('arch', sorted(ARCH_SETTINGS))
def test_parameter_count_matches_published_classification_model(arch):
    """Counted as the official main.py logs it: every parameter (the fixed ``pos_embed`` table and the Performer
    layers' fixed projections ``w`` included, as they are nn.Parameters there too) plus the 1000-class head."""
    backbone = T2TViT(arch, img_size=224, pyramid='none', final_norm=True)
    head = ARCH_SETTINGS[arch]['embed_dims'] * 1000 + 1000
    count = sum(p.numel() for p in backbone.parameters()) + head
    assert abs(count - PUBLISHED_PARAMS[arch]) / PUBLISHED_PARAMS[arch] < 0.005, (arch, count)


@pytest.mark.parametrize('size, grid', [((224, 224), (14, 14)), ((512, 512), (32, 32)), ((200, 333), (13, 21))])
@pytest.mark.parametrize('tokens_type', ['performer', 'transformer'])
def test_tokens_to_token_gives_one_token_per_16_pixels(size, grid, tokens_type):
    t2t = TokensToToken(in_channels=3, embed_dims=24, token_dims=8, tokens_type=tokens_type)
    tokens, hw_shape = t2t(torch.rand(2, 3, *size))
    assert hw_shape == grid and tokens.shape == (2, grid[0] * grid[1], 24)


def test_tokens_to_token_widths_follow_the_soft_splits():
    t2t = TokensToToken(in_channels=3, embed_dims=24, token_dims=8, tokens_type='transformer')
    assert t2t.attention1.attn.qkv.in_features == 3 * 7 * 7 and t2t.attention1.attn.qkv.out_features == 3 * 8
    assert t2t.attention2.attn.qkv.in_features == 8 * 3 * 3 and t2t.project.in_features == 8 * 3 * 3
    performer = TokensToToken(in_channels=3, embed_dims=24, token_dims=8, tokens_type='performer')
    assert performer.attention1.attn.kqv.in_features == 3 * 7 * 7 and performer.attention1.attn.kqv.out_features == 24
    assert performer.attention2.attn.kqv.in_features == 8 * 3 * 3 and performer.attention2.attn.w.shape == (4, 8)


@pytest.mark.parametrize('tokens_type, official_rate', [('performer', 0.1), ('transformer', 0.0)])
def test_t2t_dropout_defaults_to_the_official_rate_of_the_layer_type(tokens_type, official_rate):
    """Dropout after the attention projection and after the MLP's second layer (not after its activation)."""
    def rates(backbone):
        return [(layer.attn.proj_drop.p, layer.mlp.drop1.p, layer.mlp.drop2.p)
                for layer in (backbone.patch_embed.attention1, backbone.patch_embed.attention2)]
    arch = dict(TINY, tokens_type=tokens_type)
    assert rates(T2TViT(arch, pyramid='none')) == [(official_rate, 0.0, official_rate)] * 2
    assert rates(T2TViT(arch, pyramid='none', t2t_drop_rate=0.3)) == [(0.3, 0.0, 0.3)] * 2


def test_token_attention_adds_the_values_and_scales_by_the_input_width():
    torch.manual_seed(0)
    attention = TokenAttention(in_dims=12, token_dims=4)
    x = torch.randn(2, 5, 12)
    q, k, v = attention.qkv(x).split(4, dim=-1)
    weights = (q @ k.transpose(1, 2) / math.sqrt(12)).softmax(dim=-1)
    assert torch.allclose(attention(x), v + attention.proj(weights @ v), atol=1e-6)


def test_performer_attention_is_the_random_feature_kernel_formula():
    """y_i = sum_j K(q_i, k_j) v_j / (sum_j K(q_i, k_j) + 1e-8) with K(q, k) = mean_r exp(w_r.q - |q|^2/2)
    exp(w_r.k - |k|^2/2), k, q, v the thirds of kqv(x) in that order; output v + proj(y). Token by token, float64."""
    torch.manual_seed(0)
    attention = TokenPerformerAttention(in_dims=12, token_dims=6)
    x = 0.5 * torch.randn(2, 5, 12)
    with torch.no_grad():
        k, q, v = attention.kqv(x).double().split(6, dim=-1)
        out = attention(x)
    w = attention.w.double()

    def kernel(a, b):
        return sum(math.exp(w[r] @ a - a @ a / 2) * math.exp(w[r] @ b - b @ b / 2) for r in range(len(w))) / len(w)
    expected = torch.empty_like(v)
    for n in range(2):
        for i in range(5):
            weights = torch.tensor([kernel(q[n, i], k[n, j]) for j in range(5)], dtype=torch.float64)
            expected[n, i] = (weights[:, None] * v[n]).sum(0) / (weights.sum() + 1e-8)
    with torch.no_grad():
        assert torch.allclose(out, v.float() + attention.proj(expected.float()), atol=1e-5)


def test_performer_projection_is_fixed_orthogonal_and_saved():
    """m = int(0.5 * token_dims) rows, orthogonal, each of norm sqrt(m); a parameter not trained but in the state
    dict, as the official ``Token_performer.w``."""
    attention = TokenPerformerAttention(in_dims=12, token_dims=10)
    w = attention.w
    assert w.shape == (5, 10) and not w.requires_grad and 'w' in attention.state_dict()
    assert torch.allclose(w @ w.T, 5 * torch.eye(5), atol=1e-5)


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
    backbone = T2TViT('t-14', out_indices=(4, 7, 10, 13), pyramid='side_layers', pyramid_out_channels=64).eval()
    with torch.no_grad():
        outs = backbone(torch.rand(1, 3, *size))
    grid = (-(-size[0] // 16), -(-size[1] // 16))
    expected = [(384, 4 * grid[0], 4 * grid[1]), (384, 2 * grid[0], 2 * grid[1]), (384, *grid), (64, *grid)]
    assert [tuple(o.shape[1:]) for o in outs] == expected


def test_backbone_keys_are_the_official_keys_renamed():
    backbone = T2TViT(TINY, pyramid='none', final_norm=True)
    official = {k.replace('tokens_to_token.', 'patch_embed.') for k in official_state_dict()} - {'head.weight',
                                                                                                 'head.bias'}
    assert set(backbone.state_dict()) == official


def test_performer_keys_convert_to_the_backbone_keys_with_their_shapes():
    converted = convert_t2t_vit_checkpoint(official_state_dict(tokens_type='performer'))
    own = T2TViT(TINY_PERFORMER, pyramid='none', final_norm=True).state_dict()
    assert {k: tuple(v.shape) for k, v in converted.items() if not k.startswith('head.')} == \
        {k: tuple(v.shape) for k, v in own.items()}


def test_official_performer_checkpoint_loads_and_its_t2t_module_computes_the_official_forward(tmp_path):
    weights = official_state_dict(grid=4, tokens_type='performer')
    torch.save({'state_dict_ema': weights, 'state_dict': official_state_dict(grid=4, seed=1,
                                                                             tokens_type='performer')},
               tmp_path / 't2t_vit_14.pth.tar')
    backbone = T2TViT(TINY_PERFORMER, img_size=64, pyramid='none', final_norm=True,
                      init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 't2t_vit_14.pth.tar'))).eval()
    backbone.init_weights()
    assert torch.equal(backbone.patch_embed.attention1.attn.w, weights['tokens_to_token.attention1.w'])
    assert torch.equal(backbone.blocks[1].attn.qkv.weight, weights['blocks.1.attn.qkv.weight'])
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        tokens, hw_shape = backbone.patch_embed(images)
        expected = official_t2t_reference(weights, images)
    assert hw_shape == (4, 4) and expected.abs().max() > 0.1
    assert torch.allclose(tokens, expected, atol=1e-5)


def test_lvseg_performer_checkpoint_round_trips(tmp_path):
    source = T2TViT(TINY_PERFORMER, pyramid='none')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in source.state_dict().items()}}, tmp_path / 'epoch_1.pth')
    target = T2TViT(TINY_PERFORMER, pyramid='none')
    report = target.load_pretrained(str(tmp_path / 'epoch_1.pth'))
    assert report['missing'] == [] and report['unexpected'] == []
    assert torch.equal(target.patch_embed.attention2.attn.w, source.patch_embed.attention2.attn.w)


@pytest.mark.parametrize('wrap', ['state_dict_ema', 'module_prefix'])
def test_official_checkpoint_loads_through_init_cfg_with_pos_embed_resized(tmp_path, wrap):
    weights = official_state_dict()
    wrapped = {'state_dict_ema': {'state_dict': official_state_dict(seed=1), 'state_dict_ema': weights},
               'module_prefix': {'state_dict': {f'module.{k}': v for k, v in weights.items()}}}[wrap]
    torch.save(wrapped, tmp_path / 't2t.pth.tar')
    backbone = T2TViT(TINY, img_size=128, out_indices=(0, 1, 0, 1), pyramid='side_layers', pyramid_out_channels=16,
                      init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 't2t.pth.tar')))
    backbone.init_weights()
    assert torch.equal(backbone.patch_embed.attention1.attn.qkv.weight,
                       weights['tokens_to_token.attention1.attn.qkv.weight'])
    assert torch.equal(backbone.blocks[1].mlp.fc2.weight, weights['blocks.1.mlp.fc2.weight'])
    grid = weights['pos_embed'][:, 1:].reshape(1, 14, 14, 32).permute(0, 3, 1, 2)
    resized = F.interpolate(grid, size=(8, 8), mode='bicubic', align_corners=False).flatten(2).transpose(1, 2)
    assert torch.allclose(backbone.pos_embed[:, 1:], resized, atol=1e-5)


def test_loading_reports_the_dropped_head_and_final_norm():
    backbone = T2TViT(TINY, out_indices=(0, 1, 0, 1), pyramid='side_layers')
    report = backbone.load_pretrained({'model': official_state_dict()})
    assert sorted(report['dropped']) == ['head.bias', 'head.weight', 'norm.bias', 'norm.weight']
    assert report['unexpected'] == [] and all(k.startswith('side_layers.') for k in report['missing'])


@pytest.mark.parametrize('checkpoint_type, arch', [('performer', TINY), ('transformer', TINY_PERFORMER)])
def test_checkpoint_with_the_other_t2t_layers_is_a_clear_error(checkpoint_type, arch):
    weights = official_state_dict(tokens_type=checkpoint_type)
    with pytest.raises(ValueError, match=f't2t.pth.tar holds a T2T-ViT with {checkpoint_type} T2T layers'):
        T2TViT(arch, pyramid='none').load_pretrained(weights, source='t2t.pth.tar')


def test_preset_checkpoint_into_another_preset_names_both():
    """An official T2T-ViT-19 file (embed dims 448, 19 blocks) into the '14' preset: shapes from the real presets,
    tensors only as large as the check needs."""
    weights = {'cls_token': torch.zeros(1, 1, 448), 'blocks.18.norm1.weight': torch.zeros(448),
               'tokens_to_token.attention1.w': torch.zeros(32, 64)}
    with pytest.raises(ValueError, match=r'81.9_T2T_ViT_19.pth.tar holds a model of depth 19 and embed dim 448.*'
                                         r'depth 14 and embed dim 384'):
        T2TViT('14', pyramid='none').load_pretrained({'state_dict_ema': weights}, source='81.9_T2T_ViT_19.pth.tar')
    with pytest.raises(ValueError, match='performer T2T layers.*pick a performer arch'):
        T2TViT('t-19', pyramid='none').load_pretrained({'state_dict_ema': weights}, source='81.9_T2T_ViT_19.pth.tar')


def test_custom_arch_names_its_t2t_layer_type():
    with pytest.raises(KeyError, match='tokens_type'):
        T2TViT({k: v for k, v in TINY.items() if k != 'tokens_type'})
    with pytest.raises(ValueError, match="tokens_type must be one of.*'linformer'"):
        T2TViT(dict(TINY, tokens_type='linformer'))


@pytest.mark.slow
@pytest.mark.parametrize('pretrain_config, tokens_type',
                         [('t2t-vit-t-14_tokenlabel_8xb128-310e_in1k-224.py', 'transformer'),
                          ('t2t-vit-14_tokenlabel_8xb128-310e_in1k-224.py', 'performer')])
def test_t2t_vit_pretrains_with_token_labeling_then_fine_tunes_and_tests(imagenet_root, ade_root,  # noqa: F811
                                                                         tmp_path, pretrain_config, tokens_type):
    """configs/pretrain/t2t-vit-(t-)14_tokenlabel_8xb128-310e_in1k-224.py at a small size ->
    configs/demo/upernet_t2t-vit-demo with the same T2T layers."""
    arch = dict(embed_dims=64, num_layers=4, num_heads=4, mlp_ratio=3.0, token_dims=16,
                tokens_type=tokens_type)  # = the demo config's, with this T2T layer type
    tiny = ['model.backbone.arch._delete_=True', *(f'model.backbone.arch.{k}={v}' for k, v in arch.items())]
    run_tool('pretrain.py', str(REPO / 'configs/pretrain' / pretrain_config), '--work-dir',
             str(tmp_path / 'pretrain'), *pretrain_overrides(imagenet_root, epochs=1), *tiny,
             'train_dataloader.dataset.label_map_root=label_maps/train')
    pretrained = tmp_path / 'pretrain/epoch_1.pth'
    weights = load_checkpoint_file(pretrained)['state_dict']
    qkv = {'transformer': 'attn.qkv.weight', 'performer': 'attn.kqv.weight'}[tokens_type]
    assert weights[f'backbone.patch_embed.attention1.{qkv}'].shape == (3 * 16, 3 * 7 * 7)
    assert torch.equal(weights['backbone.pos_embed'], sinusoid_position_table(1 + 14 * 14, 64))  # stayed fixed

    seg_config = str(REPO / 'configs/demo/upernet_t2t-vit-demo_synthetic-128.py')
    layer_type = f'model.backbone.arch.tokens_type={tokens_type}'
    trained = run_tool('train.py', seg_config, '--work-dir', str(tmp_path / 'seg'), *demo_overrides(ade_root, 2),
                       f'model.pretrained={pretrained}', layer_type)
    report = re.search(r'loaded \d+ tensors .*; dropped \d+ \((.*?)\); missing (.*?); unexpected (\d+)',
                       trained.stdout + trained.stderr)  # how many tensors, by top-level module
    assert report and report.group(3) == '0'
    assert 'blocks' not in report.group(2) and 'patch_embed' not in report.group(2)
    assert 'aux_head' in {part.split()[0] for part in report.group(1).split(', ')}
    if tokens_type == 'performer':  # the pretrained random projection reached the segmentor and stayed fixed
        fine_tuned = load_checkpoint_file(tmp_path / 'seg/iter_2.pth')['state_dict']
        name = 'backbone.patch_embed.attention2.attn.w'
        assert torch.equal(fine_tuned[name], weights[name])

    tested = run_tool('test.py', seg_config, str(tmp_path / 'seg/iter_2.pth'), '--work-dir', str(tmp_path / 'test'),
                      *demo_overrides(ade_root), layer_type)
    assert re.search(r'Iter\(test\).*mIoU: \d+\.\d+', tested.stdout + tested.stderr)
