"""LV-ViT backbone: presets, shapes, parameter counts, position-embedding resizing, training helpers."""
import pytest
import torch
import torch.nn.functional as F
from lvseg_testing.reference_lvvit_classifier import count_parameters
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from lvseg.models.backbones.lvvit import ARCH_SETTINGS, LVViT, LVViTBlock

# docs/method.md#lv-vit-backbone (official README): trunk + class head + dense aux head, 1000 classes, at an image size.
PUBLISHED_PARAMS = {
    'tiny': (224, 8.53e6),
    'small': (224, 26.15e6),
    'medium': (224, 55.83e6),
    'large': (448, 150.47e6),
}
FOUR_LEVELS = {'tiny': (2, 5, 8, 11), 'small': (6, 9, 12, 15), 'medium': (10, 13, 16, 19),
               'large': (14, 17, 20, 23)}


@pytest.mark.parametrize('arch', sorted(ARCH_SETTINGS))
def test_parameter_count_equals_the_official_classification_model(arch):
    img_size, published = PUBLISHED_PARAMS[arch]
    init_default_scope('mmseg')
    classifier = MODELS.build(dict(type='TokenLabelingClassifier', num_classes=1000,
                                   backbone=dict(type='LVViT', arch=arch, img_size=img_size, pyramid='none',
                                                 final_norm=True)))
    count = sum(p.numel() for p in classifier.parameters())  # trunk, final norm, `head` and `aux_head`
    # exactly the official model's count (an independent reference with the official layers, same size)
    assert count == count_parameters(f'lvvit_{arch[0]}', img_size)
    assert round(count, -4) == published  # the README's figure, to its 0.01M


@pytest.mark.parametrize('arch', sorted(ARCH_SETTINGS))
@pytest.mark.parametrize('size', [(224, 224), (512, 512), (200, 333)])
def test_side_layer_pyramid_shapes(arch, size):
    backbone = LVViT(arch, img_size=224, out_indices=FOUR_LEVELS[arch], pyramid='side_layers',
                     pyramid_out_channels=64).eval()
    with torch.no_grad():
        outs = backbone(torch.rand(1, 3, *size))
    grid = (-(-size[0] // 16), -(-size[1] // 16))  # ceil: inputs are padded to whole patches
    dims = ARCH_SETTINGS[arch]['embed_dims']
    expected = [(dims, 4 * grid[0], 4 * grid[1]), (dims, 2 * grid[0], 2 * grid[1]), (dims, *grid), (64, *grid)]
    assert [tuple(o.shape[1:]) for o in outs] == expected


def test_plain_outputs_for_multilevel_neck():
    backbone = LVViT('tiny', out_indices=(3, 7, 11), pyramid='none').eval()
    with torch.no_grad():
        outs = backbone(torch.rand(2, 3, 96, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 240, 6, 4)] * 3


def test_unknown_arch_and_bad_out_indices_are_clear_errors():
    with pytest.raises(KeyError, match='unknown LV-ViT arch'):
        LVViT('huge')
    with pytest.raises(ValueError, match='needs 4 out_indices'):
        LVViT('tiny', out_indices=(1, 2), pyramid='side_layers')
    with pytest.raises(ValueError, match='out of range'):
        LVViT('tiny', out_indices=(1, 2, 3, 12))


def test_custom_arch_dict():
    arch = dict(embed_dims=32, num_layers=2, num_heads=2, mlp_ratio=2.0, stem_channels=8, skip_lam=1.5)
    backbone = LVViT(arch, pyramid='none')
    assert len(backbone.blocks) == 2 and backbone.blocks[0].mlp.fc1.out_features == 64
    with pytest.raises(KeyError, match='lacks the keys'):
        LVViT(dict(embed_dims=32))


def test_position_embedding_is_resized_bicubically_for_other_input_sizes():
    backbone = LVViT('tiny', img_size=64, pyramid='none').eval()  # 4x4 grid
    tokens = torch.zeros(1, 6 * 8, 240)
    added = backbone._add_cls_and_pos(tokens, (6, 8))
    grid = backbone.pos_embed[:, 1:].reshape(1, 4, 4, 240).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(6, 8), mode='bicubic', align_corners=False)
    assert torch.allclose(added[:, 1:], expected.flatten(2).transpose(1, 2), atol=1e-6)
    assert torch.equal(added[:, 0], backbone.cls_token[:, 0] + backbone.pos_embed[:, 0])


def test_stem_pads_to_whole_tokens_or_rounds_the_grid_down_as_the_official_seg_code():
    images = torch.rand(1, 3, 136, 168)  # 8.5 x 10.5 tokens of 16 pixels
    padded = LVViT('tiny', img_size=64, pyramid='none', out_indices=-1).eval()
    unpadded = LVViT('tiny', img_size=64, pyramid='none', out_indices=-1, patch_padding='none').eval()
    unpadded.load_state_dict(padded.state_dict())
    with torch.no_grad():
        assert padded(images)[0].shape[-2:] == (9, 11)
        assert unpadded(images)[0].shape[-2:] == (8, 10)
        # without padding the stem sees the same pixels at the same places: the first tokens agree
        torch.testing.assert_close(unpadded.patch_embed(images)[0].reshape(8, 10, -1)[:4, :4],
                                   padded.patch_embed(images)[0].reshape(9, 11, -1)[:4, :4])
    with pytest.raises(ValueError, match="padding must be one of"):
        LVViT('tiny', pyramid='none', patch_padding='same')


def test_block_divides_residual_branches_by_skip_lam():
    torch.manual_seed(0)
    block = LVViTBlock(16, num_heads=2, mlp_ratio=2.0, skip_lam=2.0).eval()
    x = torch.randn(2, 5, 16)
    y = x + block.attn(block.norm1(x)) / 2.0
    expected = y + block.mlp(block.norm2(y)) / 2.0
    assert torch.allclose(block(x), expected, atol=1e-6)


def test_drop_path_grows_linearly_over_depth():
    backbone = LVViT('tiny', drop_path_rate=0.3, pyramid='none')
    rates = [getattr(b.drop_path, 'drop_prob', 0.0) for b in backbone.blocks]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.3)
    assert rates == pytest.approx(torch.linspace(0, 0.3, 12).tolist())


def test_activation_checkpointing_gives_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = LVViT('tiny', out_indices=(2, 5, 8, 11), pyramid='side_layers', pyramid_out_channels=32)
    plain.init_weights()
    checkpointed = LVViT('tiny', out_indices=(2, 5, 8, 11), pyramid='side_layers', pyramid_out_channels=32,
                         with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 64, 64)
    grads = []
    for model in (plain, checkpointed):
        model.train()
        sum(o.sum() for o in model(x)).backward()
        grads.append(model.blocks[3].attn.qkv.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


