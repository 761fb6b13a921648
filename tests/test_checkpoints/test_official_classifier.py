"""The released LV-ViT classifiers (official layout, random tensors, tiny size) in lvseg's TokenLabelingClassifier."""
import pytest
import torch
from lvseg_testing.official_checkpoints import official_state_dict
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import lvseg  # noqa: F401
from lvseg.checkpoints import adapt_released_checkpoint, convert_classifier_checkpoint
from lvseg.checkpoints.fit import CheckpointMismatchError
from lvseg.checkpoints.official_classifier import convert_official_classifier

TINY = dict(embed_dims=32, num_layers=2, num_heads=2, mlp_ratio=3.0, stem_channels=8, skip_lam=2.0)


def classifier(num_classes: int = 10, img_size: int = 224, init_cfg: dict | None = None) -> torch.nn.Module:
    init_default_scope('mmseg')
    return MODELS.build(dict(type='TokenLabelingClassifier', num_classes=num_classes, init_cfg=init_cfg,
                             backbone=dict(type='LVViT', arch=TINY, img_size=img_size, pyramid='none',
                                           final_norm=True))).eval()


@pytest.mark.parametrize('wrap', ['plain', 'state_dict_ema', 'module_prefix'])
def test_converted_file_loads_strictly_and_scores_as_the_classifier_initialised_from_it(tmp_path, wrap):
    official = official_state_dict()
    file = {'plain': official, 'state_dict_ema': {'state_dict_ema': official},
            'module_prefix': {'state_dict': {f'module.{k}': v for k, v in official.items()}}}[wrap]
    model = classifier()
    model.load_state_dict(convert_classifier_checkpoint(file)['state_dict'], strict=True)
    path = tmp_path / 'lvvit.pth'
    torch.save(official, path)
    initialised = classifier(init_cfg=dict(type='Pretrained', checkpoint=str(path)))  # the fine-tuning path
    initialised.init_weights()
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model.predict_scores(images), initialised.predict_scores(images))


def test_a_tensor_with_no_place_is_an_error_naming_it():
    official = official_state_dict()
    official['blocks.0.attn.q_norm.weight'] = torch.ones(16)
    with pytest.raises(ValueError, match=r'1 of the \d+ tensors .*: blocks.0.attn.q_norm.weight$'):
        convert_official_classifier(official)


@pytest.mark.parametrize('sizes, differs', [
    (dict(depth=3), 'it holds an LV-ViT of depth 3 and embed dim 32, the model has depth 2 and embed dim 32'),
    (dict(grid=24), 'backbone.pos_embed: [1, 577, 32] in the checkpoint, [1, 197, 32] in the model'),
    (dict(num_classes=1000), 'head.weight: [1000, 32] in the checkpoint, [10, 32] in the model'),
])
def test_a_file_of_another_model_stops_with_one_line_saying_what_differs(sizes, differs):
    with pytest.raises(CheckpointMismatchError) as error:
        adapt_released_checkpoint(official_state_dict(**sizes), classifier(), 'lvvit_s-26M-384-84.4.pth.tar')
    assert str(error.value).startswith('lvvit_s-26M-384-84.4.pth.tar: ') and differs in str(error.value)
    assert '\n' not in str(error.value)


def test_lvseg_checkpoints_and_backbone_files_pass_unchanged():
    model = classifier()
    own = {'meta': {'epoch': 3}, 'state_dict': model.state_dict()}
    assert adapt_released_checkpoint(own, model, 'epoch_3.pth') is own
    backbone_only = {k: v for k, v in official_state_dict().items() if 'head' not in k}
    assert convert_classifier_checkpoint(backbone_only) is backbone_only  # for model.pretrained, not a classifier
