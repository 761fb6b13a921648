"""What every lvseg backbone must do, checked once over LVViT, T2TViT (both T2T layers) and TokenViT (mmseg's ViT):
the interface the classifier and the annotator use, dense and token outputs, layer depths for layer decay, refusal
of weights of another depth, and frozen stages where the backbone has them."""
from collections.abc import Callable

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from lvseg.checkpoints.fit import CheckpointMismatchError
from lvseg.models import T2TViT, TokenViT
from lvseg.models.backbones.lvvit import LVViT

WIDTH, DEPTH = 32, 2
LVVIT = dict(embed_dims=WIDTH, num_layers=DEPTH, num_heads=2, mlp_ratio=3.0, stem_channels=8, skip_lam=2.0)
T2T = dict(embed_dims=WIDTH, num_layers=DEPTH, num_heads=2, mlp_ratio=3.0, token_dims=8, tokens_type='transformer')
VIT = dict(embed_dims=WIDTH, num_layers=DEPTH, num_heads=2, mlp_ratio=4, qkv_bias=True, patch_bias=True)

# name -> builder(depth, **kwargs), the name of a parameter of the patch embedding, of block i, of the final norm
BACKBONES: dict[str, tuple[Callable[..., torch.nn.Module], str, str, str]] = {
    'LVViT': (lambda depth=DEPTH, **kw: LVViT(dict(LVVIT, num_layers=depth), pyramid='none', **kw),
              'patch_embed.conv1.weight', 'blocks.{}.mlp.fc1.weight', 'norm.weight'),
    'T2TViT-transformer': (lambda depth=DEPTH, **kw: T2TViT(dict(T2T, num_layers=depth), pyramid='none', **kw),
                           'patch_embed.attention1.attn.qkv.weight', 'blocks.{}.mlp.fc1.weight', 'norm.weight'),
    'T2TViT-performer': (lambda depth=DEPTH, **kw: T2TViT(dict(T2T, num_layers=depth, tokens_type='performer'),
                                                          pyramid='none', **kw),
                         'patch_embed.attention1.attn.kqv.weight', 'blocks.{}.mlp.fc1.weight', 'norm.weight'),
    'TokenViT': (lambda depth=DEPTH, **kw: TokenViT(**dict(VIT, num_layers=depth), **kw),
                 'patch_embed.projection.weight', 'layers.{}.ffn.layers.1.weight', 'ln1.weight'),
}
parametrize_backbones = pytest.mark.parametrize('name', sorted(BACKBONES))


def build(name: str, **kwargs) -> torch.nn.Module:
    return BACKBONES[name][0](**kwargs)


@parametrize_backbones
def test_the_token_path_and_the_dense_path_give_the_same_normed_tokens(name):
    """The classifier's path (``patch_embed`` then ``forward_tokens``) and the segmentor's (``forward``, the last
    block's map) give the same patch tokens, to the bit, after the final norm: with its initial gain 1 and bias 0,
    every token has mean 0 and variance 1 over its ``embed_dims`` channels."""
    backbone = build(name, img_size=64, out_indices=(DEPTH - 1,), final_norm=True).eval()
    images = torch.rand(2, 3, 48, 80, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        tokens = backbone.forward_tokens(*backbone.patch_embed(images))
        (dense,) = backbone(images)
    assert backbone.embed_dims == WIDTH and tokens.shape == (2, 1 + 3 * 5, WIDTH)
    assert torch.equal(dense, tokens[:, 1:].transpose(1, 2).reshape(2, WIDTH, 3, 5))
    torch.testing.assert_close(tokens.mean(-1), torch.zeros(2, 16), rtol=0, atol=1e-5)
    torch.testing.assert_close(tokens.var(-1, unbiased=False), torch.ones(2, 16), rtol=0, atol=1e-3)


@parametrize_backbones
def test_tokens_and_dense_maps_have_one_token_per_16_pixels(name):
    backbone = build(name, img_size=64, out_indices=(0, 1), final_norm=True).eval()
    images = torch.rand(2, 3, 48, 80)
    with torch.no_grad():
        tokens, grid = backbone.patch_embed(images)
        assert grid == (3, 5) and tokens.shape == (2, 15, WIDTH)
        assert backbone.forward_tokens(tokens, grid).shape == (2, 1 + 15, WIDTH)
        maps = backbone(images)
    assert [tuple(m.shape) for m in maps] == [(2, WIDTH, 3, 5)] * 2


@parametrize_backbones
def test_layer_depths_grow_from_the_patch_embedding_to_the_final_norm(name):
    backbone = build(name, final_norm=True)
    _, patch_param, block_param, norm_param = BACKBONES[name]
    names = dict(backbone.named_parameters())
    assert {patch_param, block_param.format(0), block_param.format(DEPTH - 1), norm_param} <= set(names)
    assert backbone.get_layer_depth(patch_param) == (0, DEPTH + 2)
    assert backbone.get_layer_depth('pos_embed') == backbone.get_layer_depth('cls_token') == (0, DEPTH + 2)
    assert [backbone.get_layer_depth(block_param.format(i))[0] for i in range(DEPTH)] == list(range(1, DEPTH + 1))
    assert backbone.get_layer_depth(norm_param) == (DEPTH + 1, DEPTH + 2)


@parametrize_backbones
def test_weights_of_another_depth_are_refused_naming_the_file(name):
    deeper = build(name, depth=DEPTH + 1, final_norm=True)
    with pytest.raises(CheckpointMismatchError, match='deeper.pth'):
        build(name, final_norm=True).load_pretrained({'state_dict': deeper.state_dict()}, source='deeper.pth')


@parametrize_backbones
def test_its_own_weights_load_back_completely(name):
    source = build(name, final_norm=True)
    report = build(name, final_norm=True).load_pretrained({'state_dict': source.state_dict()}, source='own.pth')
    assert report['missing'] == [] and report['unexpected'] == []


@pytest.mark.parametrize('name', [name for name in sorted(BACKBONES) if name != 'TokenViT'])  # mmseg's ViT has none
def test_frozen_stages_stop_gradients_and_keep_norms_in_eval(name):
    backbone = build(name, frozen_stages=1).train()
    frozen = [backbone.patch_embed, backbone.blocks[0]]
    assert not any(p.requires_grad for module in frozen for p in module.parameters())
    assert not backbone.pos_embed.requires_grad and not backbone.cls_token.requires_grad
    assert all(p.requires_grad for p in backbone.blocks[1].parameters())
    assert all(not m.training for module in frozen for m in module.modules() if isinstance(m, _BatchNorm))
    assert backbone.blocks[1].training
