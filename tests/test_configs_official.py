"""configs/official/: each released file's own evaluation recipe and model."""
from pathlib import Path

import numpy as np
import pytest
from lvseg_testing.official_checkpoints import tiny_segmentor_config
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS, TRANSFORMS
from PIL import Image

import lvseg  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
OFFICIAL = REPO / 'configs/official'
# config -> (img_size, crop_pct) of the official evaluation (official README and default_cfgs)
CLASSIFIERS = {'lvvit-t_released_in1k-224.py': (224, 0.9), 'lvvit-s_released_in1k-224.py': (224, 0.9),
               'lvvit-s_released_in1k-384.py': (384, 0.9), 'lvvit-m_released_in1k-224.py': (224, 1.0),
               'lvvit-m_released_in1k-384.py': (384, 1.0), 'lvvit-m_released_in1k-448.py': (448, 1.0),
               'lvvit-l_released_in1k-448.py': (448, 1.0), 'lvvit-l_released_in1k-512.py': (512, 1.0)}
SEGMENTORS = ['upernet_lvvit-s_released_ade20k-512x512.py', 'upernet_lvvit-m_released_ade20k-512x512.py',
              'upernet_lvvit-l_released_ade20k-512x512.py']


def test_every_official_config_is_listed_here():
    assert sorted(p.name for p in OFFICIAL.glob('*.py')) == sorted([*CLASSIFIERS, *SEGMENTORS])


def run_pipeline(pipeline: list[dict], results: dict) -> dict:
    init_default_scope('mmseg')
    for transform in pipeline:
        results = TRANSFORMS.build(transform)(results)
    return results


@pytest.mark.parametrize('name', sorted(CLASSIFIERS))
def test_classifier_test_transform_is_timms_official_eval_transform_pixel_for_pixel(tmp_path, name):
    from timm.data import create_transform

    img_size, crop_pct = CLASSIFIERS[name]
    rng = np.random.default_rng(0)
    path = tmp_path / 'val.JPEG'
    coarse = rng.integers(0, 256, (24, 31, 3), dtype=np.uint8)  # a smooth picture of an odd aspect ratio
    Image.fromarray(coarse).resize((613, 457), Image.BILINEAR).save(path, quality=90)
    cfg = Config.fromfile(OFFICIAL / name)
    pipeline = cfg.test_dataloader.dataset.pipeline
    assert pipeline[-1].type == 'PackTokenLabelInputs'
    got = run_pipeline(pipeline[:-1], dict(img_path=str(path)))['img'][..., ::-1]  # BGR -> RGB
    official = create_transform(img_size, interpolation='bicubic', crop_pct=crop_pct)  # timm, as validate.py
    resize_and_crop = official.transforms[:2]
    expected = Image.open(path).convert('RGB')
    for transform in resize_and_crop:
        expected = transform(expected)
    assert got.shape == (img_size, img_size, 3)
    np.testing.assert_array_equal(got, np.asarray(expected))
    assert cfg.model.backbone.img_size == img_size and cfg.custom_hooks == []


def rescaled_size(height: int, width: int, scale: tuple[int, int]) -> tuple[int, int]:
    """mmcv's keep-ratio rule (mmseg 0.x's ``Resize`` too): fit the long side in max(scale), the short one in
    min(scale), round."""
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


@pytest.mark.parametrize('name', SEGMENTORS)
def test_segmentor_eval_config_is_the_official_test(name):
    cfg = Config.fromfile(OFFICIAL / name)
    assert cfg.model.backbone.norm_cfg == dict(type='LN', eps=1e-6)
    assert cfg.model.backbone.patch_padding == 'none'
    assert cfg.model.test_cfg == dict(mode='slide', crop_size=(512, 512), stride=(341, 341))
    image = np.zeros((300, 400, 3), np.uint8)
    single = run_pipeline(cfg.test_pipeline[1:2], dict(img=image, img_shape=image.shape[:2]))
    assert single['img'].shape[:2] == rescaled_size(300, 400, (2048, 512))
    # the official --aug-test: mmseg 0.x's MultiScaleFlipAug with img_ratios scales the (2048, 512) target
    resizes, flips = cfg.tta_pipeline[1].transforms[:2]
    for ratio, resize in zip([0.5, 0.75, 1.0, 1.25, 1.5, 1.75], resizes):
        resized = run_pipeline([resize], dict(img=image, img_shape=image.shape[:2]))
        assert resized['img'].shape[:2] == rescaled_size(300, 400, (int(2048 * ratio), int(512 * ratio)))
    assert [flip.prob for flip in flips] == [0.0, 1.0]


def test_large_eval_config_builds_the_model_its_official_config_built():
    backbone = Config.fromfile(OFFICIAL / 'upernet_lvvit-l_released_ade20k-512x512.py').model.backbone
    assert backbone.arch['skip_lam'] == 1.0 and backbone.img_size == (448, 448)
    assert backbone.out_indices == (14, 17, 20, 23)


def test_training_configs_keep_the_pretraining_layer_norm(tmp_path):
    init_default_scope('mmseg')
    train = MODELS.build(Config.fromfile(REPO / 'configs/upernet_lvvit.py').model.backbone)
    assert {m.eps for m in train.blocks.modules() if m.__class__.__name__ == 'LayerNorm'} == {1e-5}
    path = tmp_path / 'tiny.py'
    path.write_text(tiny_segmentor_config(OFFICIAL / SEGMENTORS[0]))
    released = MODELS.build(Config.fromfile(path).model.backbone)
    assert {m.eps for m in released.blocks.modules() if m.__class__.__name__ == 'LayerNorm'} == {1e-6}


# published parameter counts (official README): classifiers with both heads, to 0.01M; UperNet models, to 1M
PUBLISHED_PARAMS = {'lvvit-t_released_in1k-224.py': (8.53, 0.005), 'lvvit-s_released_in1k-224.py': (26.15, 0.005),
                    'lvvit-s_released_in1k-384.py': (26.30, 0.005), 'lvvit-m_released_in1k-224.py': (55.83, 0.005),
                    'lvvit-m_released_in1k-384.py': (56.03, 0.005), 'lvvit-m_released_in1k-448.py': (56.13, 0.005),
                    'lvvit-l_released_in1k-448.py': (150.47, 0.005), 'lvvit-l_released_in1k-512.py': (150.66, 0.005),
                    'upernet_lvvit-s_released_ade20k-512x512.py': (44, 0.5),
                    'upernet_lvvit-m_released_ade20k-512x512.py': (77, 0.5),
                    'upernet_lvvit-l_released_ade20k-512x512.py': (209, 0.5)}


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(PUBLISHED_PARAMS))
def test_each_config_builds_a_model_of_the_published_size(name):
    init_default_scope('mmseg')
    model = MODELS.build(Config.fromfile(OFFICIAL / name).model)
    published, tolerance = PUBLISHED_PARAMS[name]
    assert abs(sum(p.numel() for p in model.parameters()) / 1e6 - published) <= tolerance
