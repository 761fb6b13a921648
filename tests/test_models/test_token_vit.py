"""TokenViT (mmseg's ViT as a token backbone) and timm/DeiT checkpoints: equal to timm's DeiT-S, key conversion,
loading at other sizes, and token-labeling pretraining -> UperNet fine-tuning -> test end to end (slow)."""
import re

import pytest
import timm
import torch
from lvseg_testing.tool_runner import REPO, demo_overrides, pretrain_overrides, run_tool
from mmseg.models.backbones import VisionTransformer

from lvseg.checkpoints import convert_timm_vit_checkpoint
from lvseg.checkpoints.safe_load import load_checkpoint_file
from lvseg.models import TokenLabelingClassifier, TokenViT
from lvseg.models.backbones import attention
from lvseg.models.backbones.token_vit import ViTAttention

DEIT_S = dict(embed_dims=384, num_layers=12, num_heads=6, mlp_ratio=4, qkv_bias=True, patch_bias=True,
              norm_cfg=dict(type='LN', eps=1e-6))
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, mlp_ratio=4, qkv_bias=True, patch_bias=True,
            norm_cfg=dict(type='LN', eps=1e-6))


@pytest.fixture(scope='module')
def timm_deit_s():
    """timm's DeiT-S, randomly initialised (no download): the reference model and its real key names."""
    torch.manual_seed(0)
    return timm.create_model('deit_small_patch16_224', pretrained=False).eval()


def test_deit_s_has_the_parameters_of_timm_and_the_published_count(timm_deit_s):
    backbone = TokenViT(**DEIT_S, final_norm=True)
    count = sum(p.numel() for p in backbone.parameters()) + 384 * 1000 + 1000  # + the class head
    assert count == sum(p.numel() for p in timm_deit_s.parameters()) == 22_050_664
    assert abs(count - 22e6) / 22e6 < 0.005  # the DeiT paper: 22M


def test_timm_deit_checkpoint_loads_completely_and_gives_timm_features(timm_deit_s):
    backbone = TokenViT(**DEIT_S, final_norm=True).eval()
    report = backbone.load_pretrained({'model': timm_deit_s.state_dict()})  # DeiT's release wraps under 'model'
    assert report == dict(dropped=['head.weight', 'head.bias'], missing=[], unexpected=[])
    images = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        tokens = backbone.forward_tokens(*backbone.patch_embed(images))
        expected = timm_deit_s.forward_features(images)
    assert tokens.shape == (2, 197, 384) and torch.allclose(tokens, expected, atol=1e-4)


def test_converter_maps_timm_names_to_mmseg_names():
    weights = {name: torch.zeros(1) for name in [
        'patch_embed.proj.weight', 'norm.bias', 'norm_pre.weight', 'blocks.3.norm1.weight', 'blocks.3.attn.qkv.weight',
        'blocks.3.attn.qkv.bias', 'blocks.3.attn.proj.weight', 'blocks.3.norm2.bias', 'blocks.3.mlp.fc1.weight',
        'blocks.3.mlp.fc2.bias', 'cls_token', 'head.weight']}
    converted = convert_timm_vit_checkpoint({'state_dict': {f'module.{k}': v for k, v in weights.items()}})
    assert sorted(converted) == sorted([
        'patch_embed.projection.weight', 'ln1.bias', 'ln_pre.weight', 'layers.3.ln1.weight',
        'layers.3.attn.attn.in_proj_weight', 'layers.3.attn.attn.in_proj_bias', 'layers.3.attn.attn.out_proj.weight',
        'layers.3.ln2.bias', 'layers.3.ffn.layers.0.0.weight', 'layers.3.ffn.layers.1.bias', 'cls_token',
        'head.weight'])
    assert convert_timm_vit_checkpoint(converted) == converted  # converted keys pass unchanged


def test_converter_refuses_block_parameters_mmseg_lacks():
    with pytest.raises(ValueError, match="'blocks.0.ls1.gamma' has no counterpart"):
        convert_timm_vit_checkpoint({'blocks.0.ls1.gamma': torch.ones(4)})


def test_distilled_deit_loses_its_distillation_token():
    pos_embed = torch.arange(4.0).reshape(1, 4, 1).expand(1, 4, 3)  # class, distillation, 2 patches
    converted = convert_timm_vit_checkpoint({'cls_token': torch.zeros(1, 1, 3), 'dist_token': torch.zeros(1, 1, 3),
                                             'pos_embed': pos_embed, 'head_dist.weight': torch.zeros(5, 3)})
    assert sorted(converted) == ['cls_token', 'pos_embed']
    assert converted['pos_embed'][0, :, 0].tolist() == [0.0, 2.0, 3.0]


def test_checkpoint_at_224_loads_into_a_512_segmentation_backbone(timm_deit_s, tmp_path):
    torch.save({'model': timm_deit_s.state_dict()}, tmp_path / 'deit_s.pth')
    backbone = TokenViT(**DEIT_S, img_size=(512, 512), out_indices=(2, 5, 8, 11),
                        init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'deit_s.pth')))
    backbone.init_weights()
    assert backbone.pos_embed.shape == (1, 1 + 32 * 32, 384)
    assert torch.equal(backbone.layers[5].attn.attn.in_proj_weight, timm_deit_s.blocks[5].attn.qkv.weight)
    with torch.no_grad():
        outs = backbone.eval()(torch.rand(1, 3, 96, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 384, 6, 4)] * 4


def test_pretraining_checkpoint_hands_over_without_the_final_norm():
    classifier = TokenLabelingClassifier(dict(type='TokenViT', **TINY, img_size=64, final_norm=True), num_classes=5)
    segmentation = TokenViT(**TINY, img_size=128, out_indices=(0, 1))
    report = segmentation.load_pretrained({'state_dict': classifier.state_dict()})
    assert report['missing'] == [] and report['unexpected'] == []
    assert {'head.weight', 'aux_head.weight', 'ln1.weight'} <= set(report['dropped'])
    assert torch.equal(segmentation.layers[1].ffn.layers[1].weight, classifier.backbone.layers[1].ffn.layers[1].weight)


def test_checkpoint_of_another_depth_is_a_clear_error(timm_deit_s):
    with pytest.raises(ValueError, match='it has 12 layers'):
        TokenViT(**dict(DEIT_S, num_layers=6)).load_pretrained(timm_deit_s.state_dict(), source='deit_s.pth')


def test_forward_tokens_agree_with_mmseg_forward():
    torch.manual_seed(0)
    backbone = TokenViT(**TINY, img_size=64, final_norm=True)
    backbone.init_weights()
    images = torch.rand(2, 3, 48, 80)
    with torch.no_grad():
        (dense,) = backbone.eval()(images)
        tokens = backbone.forward_tokens(*backbone.patch_embed(images))
    assert torch.allclose(tokens[:, 1:].transpose(1, 2).reshape(dense.shape), dense, atol=1e-6)
    assert backbone.embed_dims == 32


def stock_and_token_vit(kernel: str, **kwargs) -> tuple[VisionTransformer, TokenViT]:
    """mmseg's ``VisionTransformer`` (initialised as mmseg does) and a TokenViT with its weights, both tiny."""
    torch.manual_seed(0)
    config = dict(TINY, img_size=64, out_indices=(0, 1), final_norm=True, **kwargs)
    stock = VisionTransformer(**config)
    stock.init_weights()
    ours = TokenViT(**config, attn_kernel=kernel)
    ours.load_state_dict(stock.state_dict())  # strict: the same parameter names
    return stock, ours


@pytest.mark.parametrize('kernel', ['fused', 'explicit'])
def test_each_kernel_computes_what_mmsegs_vit_computes(kernel):
    stock, ours = stock_and_token_vit(kernel)
    assert all(isinstance(layer.attn, ViTAttention) for layer in ours.layers)
    stock.eval()
    ours.eval()
    images = torch.rand(2, 3, 48, 80)
    with torch.no_grad():
        for got, want in zip(ours(images), stock(images), strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize('kernel', ['fused', 'explicit'])
def test_each_kernel_trains_as_mmsegs_vit_without_dropout(kernel):
    """Training mode, dropout and stochastic depth 0: the same outputs and the same gradients."""
    stock, ours = stock_and_token_vit(kernel)
    stock.train()
    ours.train()
    images = torch.rand(2, 3, 48, 80)
    outs = {}
    for name, model in (('stock', stock), ('ours', ours)):
        outs[name] = model(images)
        sum(out.square().mean() for out in outs[name]).backward()
    for got, want in zip(outs['ours'], outs['stock'], strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    stock_parameters = dict(stock.named_parameters())
    for name, parameter in ours.named_parameters():
        torch.testing.assert_close(parameter.grad, stock_parameters[name].grad, rtol=1e-4, atol=1e-6, msg=name)


def test_the_explicit_kernel_drops_the_attention_weights_mmsegs_vit_drops():
    """Dropout on the attention weights and stochastic depth, from the same random state: the explicit kernel
    draws the masks of ``nn.MultiheadAttention``. (``drop_rate``'s dropout after the projection draws as many
    numbers but lays them out otherwise: mmcv applies it to a transposed ``(N, B, C)`` view.)"""
    stock, ours = stock_and_token_vit('explicit', attn_drop_rate=0.2, drop_path_rate=0.1)
    stock.train()
    ours.train()
    images = torch.rand(2, 3, 48, 80)
    outs = []
    for model in (stock, ours):
        torch.manual_seed(1)
        outs.append(model(images))
    for got, want in zip(outs[1], outs[0], strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_auto_on_the_cpu_in_float32_takes_the_fused_kernel(monkeypatch):
    calls: list[str] = []
    fused = attention.KERNELS['fused']
    monkeypatch.setitem(attention.KERNELS, 'fused', lambda *args: calls.append('fused') or fused(*args))
    monkeypatch.setitem(attention.KERNELS, 'explicit', lambda *args: calls.append('explicit'))
    backbone = TokenViT(**TINY, img_size=64)
    with torch.no_grad():
        backbone.eval()(torch.rand(1, 3, 64, 64))
    assert calls == ['fused', 'fused']  # one per layer


def test_unknown_attention_kernel_is_refused():
    with pytest.raises(ValueError, match="got 'flash'"):
        TokenViT(**TINY, attn_kernel='flash')


@pytest.mark.slow
def test_deit_pretrains_with_token_labeling_then_fine_tunes_and_tests(imagenet_root, ade_root, tmp_path):  # noqa: F811
    """configs/pretrain/deit-s_tokenlabel_8xb128-310e_in1k-224.py at a small width -> configs/demo/upernet_deit-demo
    -> test."""
    tiny = ['model.backbone.embed_dims=64', 'model.backbone.num_layers=4', 'model.backbone.num_heads=4']
    run_tool('pretrain.py', str(REPO / 'configs/pretrain/deit-s_tokenlabel_8xb128-310e_in1k-224.py'), '--work-dir',
             str(tmp_path / 'pretrain'), *pretrain_overrides(imagenet_root, epochs=1), *tiny,
             'train_dataloader.dataset.label_map_root=label_maps/train')
    pretrained = tmp_path / 'pretrain/epoch_1.pth'
    weights = load_checkpoint_file(pretrained)['state_dict']
    assert weights['backbone.layers.3.attn.attn.in_proj_weight'].shape == (3 * 64, 64)
    assert weights['aux_head.weight'].shape == (1000, 64)

    seg_config = str(REPO / 'configs/demo/upernet_deit-demo_synthetic-128.py')
    trained = run_tool('train.py', seg_config, '--work-dir', str(tmp_path / 'seg'), *demo_overrides(ade_root, 2),
                       f'model.pretrained={pretrained}')
    report = re.search(r'TokenViT: loaded \d+ tensors .*; dropped \d+ \((.*?)\); missing (\d+); unexpected (\d+)',
                       trained.stdout + trained.stderr)  # dropped: how many tensors, by top-level module
    assert report and report.group(2) == '0' and report.group(3) == '0'
    assert {'ln1', 'aux_head'} <= {part.split()[0] for part in report.group(1).split(', ')}

    tested = run_tool('test.py', seg_config, str(tmp_path / 'seg/iter_2.pth'), '--work-dir', str(tmp_path / 'test'),
                      *demo_overrides(ade_root))
    assert re.search(r'Iter\(test\).*mIoU: \d+\.\d+', tested.stdout + tested.stderr)
