"""The released ADE20K segmentors (mmseg 0.x layout, random tensors at a tiny size) in lvseg's UperNet + LV-ViT."""
from pathlib import Path

import pytest
import torch
from lvseg_testing.official_checkpoints import (
    OfficialSegBackboneReference,
    official_segmentor_state_dict,
    tiny_segmentor_config,
)
from lvseg_testing.tool_runner import run_tool
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import lvseg  # noqa: F401
from lvseg.checkpoints import adapt_released_checkpoint, convert_segmentor_checkpoint
from lvseg.checkpoints.fit import CheckpointMismatchError
from lvseg.checkpoints.official_segmentor import convert_official_segmentor, is_official_segmentor
from lvseg.checkpoints.unwrap import take_prefix

REPO = Path(__file__).resolve().parents[2]
EVAL_CONFIG = REPO / 'configs/official/upernet_lvvit-s_released_ade20k-512x512.py'


def build_tiny(tmp_path: Path, **sizes) -> torch.nn.Module:
    """The tiny version of the LV-ViT-S evaluation config's model, in eval mode."""
    path = tmp_path / f'tiny_{len(list(tmp_path.glob("tiny_*.py")))}.py'
    path.write_text(tiny_segmentor_config(EVAL_CONFIG, **sizes))
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    return MODELS.build(cfg.model).eval()


def official_file(state_dict: dict) -> dict:
    """An mmcv 1.x checkpoint as the official release holds it."""
    return {'meta': {'mmseg_version': '0.14.1', 'CLASSES': ('wall', 'building'), 'iter': 160000},
            'state_dict': state_dict,
            'optimizer': {'state': {}, 'param_groups': [{'lr': 6e-5, 'params': [0, 1]}]}}


def test_every_official_tensor_lands_in_the_eval_config_model(tmp_path):
    official = official_segmentor_state_dict()
    model = build_tiny(tmp_path)
    converted = convert_official_segmentor(official)
    model.load_state_dict(converted, strict=True)
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in converted.items()}
    assert torch.equal(model.backbone.side_layers[0][0].weight, official['backbone.side_layer1.0.weight'])
    assert torch.equal(model.backbone.side_layers[3][1].running_var, official['backbone.side_layer4.1.running_var'])
    assert torch.equal(model.decode_head.psp_modules[3][1].bn.bias, official['decode_head.psp_modules.3.1.bn.bias'])
    assert torch.equal(model.auxiliary_head.convs[0].conv.weight, official['auxiliary_head.convs.0.conv.weight'])


def test_converted_model_predicts_as_the_official_model_built_from_the_same_tensors(tmp_path):
    official = official_segmentor_state_dict()
    reference = OfficialSegBackboneReference(embed_dims=32, depth=4, num_heads=2, stem=8, grid=8, skip_lam=2.0,
                                             out_indices=(0, 1, 2, 3), pyramid_channels=64)
    reference.load_state_dict(take_prefix(official, 'backbone.'), strict=True)  # the official names, as they are
    expected_model = build_tiny(tmp_path)
    expected_model.backbone = reference.eval()
    for head in ('decode_head', 'auxiliary_head'):
        getattr(expected_model, head).load_state_dict(take_prefix(official, f'{head}.'), strict=True)
    model = build_tiny(tmp_path)
    model.load_state_dict(convert_official_segmentor(official), strict=True)

    images = torch.randn(2, 3, 136, 168)  # not multiples of 16: the official stem rounds the token grid down
    metas = [dict(img_shape=(136, 168))] * 2
    with torch.no_grad():
        for got, want in zip(model.extract_feat(images), reference(images)):
            assert got.shape == want.shape
            torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-5)
        torch.testing.assert_close(model.encode_decode(images, metas), expected_model.encode_decode(images, metas),
                                   rtol=1e-5, atol=2e-5)


def test_a_tensor_with_no_place_is_an_error_naming_each_one():
    official = official_segmentor_state_dict()
    official['backbone.side_layer5.0.weight'] = torch.zeros(1)
    official['decode_head.conv_extra.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match='2 of the .* tensors have no place') as error:
        convert_official_segmentor(official)
    assert 'backbone.side_layer5.0.weight' in str(error.value) and 'decode_head.conv_extra.weight' in str(error.value)


def test_a_missing_tensor_is_a_one_line_error_naming_the_file_and_the_tensor(tmp_path):
    official = official_segmentor_state_dict()
    del official['backbone.blocks.1.mlp.fc2.bias']
    with pytest.raises(CheckpointMismatchError) as error:
        adapt_released_checkpoint(official_file(official), build_tiny(tmp_path), 'upernet_lvvit_s.pth')
    message = str(error.value)
    assert message.startswith('upernet_lvvit_s.pth: ') and '\n' not in message
    assert 'missing from it (backbone.blocks.1.mlp.fc2.bias)' in message


@pytest.mark.parametrize('sizes, differs', [(dict(depth=5), 'depth 5 and embed dim 32, the model has depth 4'),
                                            (dict(embed_dims=48), 'depth 4 and embed dim 48, the model has depth 4 '
                                                                  'and embed dim 32'),
                                            (dict(num_classes=7), 'decode_head.conv_seg.weight: [7, 16, 1, 1] in the '
                                                                  'checkpoint, [5, 16, 1, 1] in the model')])
def test_a_file_of_another_model_stops_with_one_line_saying_what_differs(tmp_path, sizes, differs):
    official = official_segmentor_state_dict(**sizes)
    with pytest.raises(CheckpointMismatchError) as error:
        adapt_released_checkpoint(official_file(official), build_tiny(tmp_path), 'upernet_lvvit_m.pth')
    assert str(error.value).startswith('upernet_lvvit_m.pth: ') and differs in str(error.value)
    assert '\n' not in str(error.value)


def test_the_checkpoint_keeps_its_meta_and_drops_the_mmseg0_optimizer():
    official = official_segmentor_state_dict()
    converted = convert_segmentor_checkpoint(official_file(official))
    assert set(converted) == {'meta', 'state_dict'} and converted['meta']['iter'] == 160000
    assert 'backbone.side_layers.2.0.weight' in converted['state_dict']
    assert not any('side_layer1' in k for k in converted['state_dict'])


def test_lvseg_checkpoints_pass_unchanged(tmp_path):
    model = build_tiny(tmp_path)
    own = {'meta': {'iter': 4}, 'state_dict': model.state_dict()}
    assert not is_official_segmentor(own['state_dict'])
    assert convert_segmentor_checkpoint(own) is own
    assert adapt_released_checkpoint(own, model, 'iter_4.pth') is own


@pytest.mark.slow
def test_convert_tool_writes_an_mmseg1_checkpoint_that_loads_strictly(tmp_path):
    src, dst = tmp_path / 'upernet_lvvit_s.pth', tmp_path / 'upernet_lvvit_s_mmseg1.pth'
    official = official_segmentor_state_dict()
    torch.save(official_file(official), src)
    config = tmp_path / 'tiny_eval.py'
    config.write_text(tiny_segmentor_config(EVAL_CONFIG))
    run_tool('convert_checkpoint.py', str(src), str(dst), '--config', str(config))
    written = torch.load(dst, map_location='cpu', weights_only=True)
    assert written['meta']['CLASSES'] == ('wall', 'building') and 'optimizer' not in written
    model = build_tiny(tmp_path)
    model.load_state_dict(written['state_dict'], strict=True)
    assert torch.equal(model.backbone.side_layers[1][3].weight, official['backbone.side_layer2.3.weight'])


@pytest.mark.slow
def test_convert_tool_refuses_a_file_of_another_depth_and_writes_nothing(tmp_path):
    src, dst = tmp_path / 'upernet_lvvit_m.pth', tmp_path / 'out.pth'
    torch.save(official_file(official_segmentor_state_dict(depth=5)), src)
    config = tmp_path / 'tiny_eval.py'
    config.write_text(tiny_segmentor_config(EVAL_CONFIG))
    result = run_tool('convert_checkpoint.py', str(src), str(dst), '--config', str(config), expect_failure=True)
    assert not dst.exists()
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f'error: {src}: this checkpoint does not fit the model: it holds an LV-ViT of depth 5')
    assert f'Nothing written: {config} is not the config of this file' in lines[-1]
