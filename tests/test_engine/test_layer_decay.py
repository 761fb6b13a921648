"""Layer-wise lr decay: each backbone parameter's lr follows its depth; no decay on 1-D and named params."""
import pytest
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from lvseg.models.backbones.lvvit import LVViT

TINY = dict(embed_dims=16, num_layers=3, num_heads=2, mlp_ratio=2.0, stem_channels=8, skip_lam=1.0)


class Segmentor(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = LVViT(TINY, pyramid='none', final_norm=True)
        self.decode_head = nn.Linear(16, 4)


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')  # as in every config: lvseg registers in mmseg's registries


def test_lr_scales_by_depth_and_weight_decay_skips_norms_biases_and_embeddings():
    model = Segmentor()
    cfg = dict(type='OptimWrapper', constructor='LayerDecayOptimWrapperConstructor',
               optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05),
               paramwise_cfg=dict(layer_decay_rate=0.5))
    groups = build_optim_wrapper(model, cfg).optimizer.param_groups
    by_param = {id(g['params'][0]): g for g in groups}
    named = dict(model.named_parameters())

    def group(name):
        return by_param[id(named[name])]

    # 5 depths (stem, 3 blocks, after): scale = 0.5 ** (4 - depth)
    assert group('backbone.patch_embed.conv1.weight')['lr'] == pytest.approx(0.5 ** 4)
    assert group('backbone.blocks.0.attn.qkv.weight')['lr'] == pytest.approx(0.5 ** 3)
    assert group('backbone.blocks.2.mlp.fc1.weight')['lr'] == pytest.approx(0.5 ** 1)
    assert group('backbone.norm.weight')['lr'] == pytest.approx(1.0)
    assert group('decode_head.weight')['lr'] == pytest.approx(1.0)
    assert group('backbone.blocks.0.attn.qkv.weight')['weight_decay'] == 0.05
    for no_decay in ('backbone.pos_embed', 'backbone.cls_token', 'backbone.blocks.1.norm1.weight',
                     'backbone.blocks.1.mlp.fc1.bias', 'decode_head.bias'):
        assert group(no_decay)['weight_decay'] == 0.0, no_decay
    assert len(groups) == len([p for p in model.parameters() if p.requires_grad])


def test_a_backbone_without_layer_depths_is_refused():
    model = nn.Module()
    model.backbone = nn.Linear(2, 2)
    cfg = dict(type='OptimWrapper', constructor='LayerDecayOptimWrapperConstructor',
               optimizer=dict(type='AdamW', lr=1.0), paramwise_cfg=dict(layer_decay_rate=0.5))
    with pytest.raises(TypeError, match='get_layer_depth'):
        build_optim_wrapper(model, cfg)
