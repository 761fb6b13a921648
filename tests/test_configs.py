"""Every config parses and builds its model; the headline config carries the published recipe."""
from pathlib import Path

import numpy as np
import pytest
import torch
from lvseg_testing.official_checkpoints import official_segmentor_state_dict
from lvseg_testing.reference_lvvit_classifier import count_parameters
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import lvseg  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
SEG_CONFIGS = sorted([*(REPO / 'configs').glob('*.py'), *(REPO / 'configs/demo').glob('upernet*.py')])


def test_headline_config_is_the_published_recipe():
    cfg = Config.fromfile(REPO / 'configs/upernet_lvvit.py')
    assert cfg.model.backbone.arch == 'small' and cfg.model.backbone.out_indices == (6, 9, 12, 15)
    assert cfg.model.decode_head.type == 'UPerHead' and cfg.model.auxiliary_head.loss_decode.loss_weight == 0.4
    assert cfg.optim_wrapper.optimizer.lr == 6e-5 and cfg.optim_wrapper.optimizer.weight_decay == 0.01
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.param_scheduler[0].end == 1500 and cfg.param_scheduler[1].power == 1.0
    assert cfg.train_cfg.max_iters == 160000 and cfg.train_dataloader.batch_size == 2
    assert cfg.test_cfg.type == 'TestLoop'
    assert cfg.model.test_cfg == dict(mode='slide', crop_size=(512, 512), stride=(341, 341))
    assert cfg.train_dataloader.dataset.type == 'ADE20KDataset' and cfg.model.decode_head.num_classes == 150
    assert cfg.model.decode_head.norm_cfg.type == 'SyncBN'


@pytest.mark.parametrize('path', SEG_CONFIGS, ids=lambda p: p.name)
def test_config_builds_a_model_that_segments(path):
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 64, 96), mode='tensor')
    assert logits.shape == (1, cfg.model.decode_head.num_classes, 64 // 4, 96 // 4)  # heads predict at stride 4


# UperNet + LV-ViT training configs -> the official segmentor (docs/method.md#segmentation-recipe): embed dims, blocks,
# stem channels, UperNet channels, FCN channels; side layers to 2048 channels, 150 classes. The position embedding
# is built at 512 (32x32) for every size, lvseg's choice (the official L's is at 448). upernet_lvvit.py stands for
# the S configs: they share the model of upernet_lvvit-s_8xb2-160k_ade20k-512x512.py.
OFFICIAL_SEGMENTORS = {'upernet_lvvit.py': (384, 16, 64, 256, 256),
                       'upernet_lvvit-m_8xb2-160k_ade20k-512x512.py': (512, 20, 64, 256, 256),
                       'upernet_lvvit-l_8xb2-160k_ade20k-512x512.py': (768, 24, 128, 512, 512)}
BN_STATISTICS = ('running_mean', 'running_var', 'num_batches_tracked')


@pytest.mark.parametrize('name', sorted(OFFICIAL_SEGMENTORS))
def test_lvvit_upernet_config_has_the_parameters_of_the_official_segmentor(name):
    """As many as the official file holds (mmseg 0.x names and shapes, ``official_segmentor_state_dict``), BN
    statistics aside."""
    embed_dims, depth, stem, channels, aux_channels = OFFICIAL_SEGMENTORS[name]
    with torch.device('meta'):
        official = official_segmentor_state_dict(embed_dims, depth, stem, grid=32, pyramid_channels=2048,
                                                 channels=channels, aux_channels=aux_channels, num_classes=150)
    cfg = Config.fromfile(REPO / 'configs' / name)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) == \
        sum(value.numel() for key, value in official.items() if not key.endswith(BN_STATISTICS))


def test_mmseg_inference_api_on_the_headline_config():
    from mmseg.apis import inference_model, init_model

    cfg = Config.fromfile(REPO / 'configs/upernet_lvvit.py')
    cfg.model.decode_head.num_classes = cfg.model.auxiliary_head.num_classes = 5
    model = init_model(cfg, device='cpu')
    image = np.random.default_rng(0).integers(0, 256, (100, 120, 3), dtype=np.uint8)
    result = inference_model(model, image)
    prediction = result.pred_sem_seg.data
    assert prediction.shape == (1, 100, 120) and int(prediction.max()) < 5


PRETRAIN_CONFIGS = sorted([*(REPO / 'configs/pretrain').glob('*.py'), *(REPO / 'configs/demo').glob('*tokenlabel*.py')])


def test_pretrain_config_is_the_published_recipe():
    cfg = Config.fromfile(REPO / 'configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py')
    assert cfg.model.type == 'TokenLabelingClassifier' and cfg.model.mix_token
    assert (cfg.model.loss.cls_weight, cfg.model.loss.dense_weight, cfg.model.loss.label_smoothing) == (1.0, 1.0, 0.1)
    assert cfg.optim_wrapper.optimizer.lr == 1.6e-3 and cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.auto_scale_lr.base_batch_size == 1024 and cfg.train_dataloader.batch_size == 128
    assert cfg.train_cfg.max_epochs == 310 and cfg.param_scheduler[1].eta_min == 1e-5
    assert cfg.custom_hooks[0].type == 'EMAHook' and cfg.custom_hooks[0].momentum == 8e-5
    assert cfg.model.data_preprocessor.random_erasing_prob == 0.25
    augment = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    assert augment['RandAugmentWithAffine'].config_str == 'rand-m9-mstd0.5-inc1'
    assert augment['RandomResizedCropWithBox'].scale == (0.08, 1.0)


# pretraining config -> the official LV-ViT classifier it trains (name, image size), both heads, 1000 classes
OFFICIAL_CLASSIFIERS = {'lvvit-t_tokenlabel_8xb128-310e_in1k-224.py': ('lvvit_t', 224),
                        'lvvit-s_tokenlabel_8xb128-310e_in1k-224.py': ('lvvit_s', 224),
                        'lvvit-s_tokenlabel-ft_8xb64-30e_in1k-384.py': ('lvvit_s', 384),
                        'lvvit-m_tokenlabel_8xb128-310e_in1k-224.py': ('lvvit_m', 224),
                        'lvvit-l_tokenlabel_8xb128-310e_in1k-224.py': ('lvvit_l', 224)}


def official_parameters(name: str) -> int | None:
    """Parameters of the official model that the pretraining config ``name`` trains: the reference LV-ViT
    (``lvseg_testing.reference_lvvit_classifier``), or timm's DeiT-S with the dense ``aux_head`` (384 -> 1000); None
    for the T2T-ViT configs (timm has no T2T-ViT) and the demo."""
    if name in OFFICIAL_CLASSIFIERS:
        return count_parameters(*OFFICIAL_CLASSIFIERS[name])
    if name.startswith('deit-s_'):
        import timm

        with torch.device('meta'):
            deit = timm.create_model('deit_small_patch16_224', num_classes=1000)
        return sum(p.numel() for p in deit.parameters()) + 384 * 1000 + 1000
    return None


@pytest.mark.parametrize('path', PRETRAIN_CONFIGS, ids=lambda p: p.name)
def test_pretrain_config_builds_a_classifier(path):
    """Its scores are the official evaluation's, ``softmax(head(cls) + 0.5 * max over tokens of aux_head)``
    (docs/method.md), written here on the model's own tokens and heads; its parameters are the official model's."""
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    cfg.model.pop('init_cfg', None)  # the 384 config starts from a 224 run's checkpoint
    model = MODELS.build(cfg.model).eval()
    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        scores = model(images, mode='tensor')
        tokens = model.backbone.forward_tokens(*model.backbone.patch_embed(images))
        official = model.head(tokens[:, 0]) + 0.5 * model.aux_head(tokens[:, 1:]).amax(dim=1)
    assert scores.shape == (1, cfg.model.num_classes)
    torch.testing.assert_close(scores.log(), official.log_softmax(-1), rtol=0, atol=1e-5)  # log: scores near 1/K
    if (count := official_parameters(path.name)) is not None:
        assert sum(p.numel() for p in model.parameters()) == count


def test_the_model_index_lists_every_config_and_only_configs_that_exist():
    import yaml

    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    listed = []
    for metafile in index['Import']:
        models = yaml.safe_load((REPO / metafile).read_text())['Models']
        for model in models:
            assert (REPO / model['Config']).is_file(), model['Config']
            assert model['Name'] == Path(model['Config']).stem
            listed.append(model['Config'])
    experiments = sorted(str(path.relative_to(REPO)) for path in (REPO / 'configs').rglob('*.py')
                         if not ({'_base_', 'demo', 'official'} & set(path.parts)) and path.name != 'upernet_lvvit.py')
    assert sorted(listed) == experiments
