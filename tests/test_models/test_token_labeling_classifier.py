"""TokenLabelingClassifier on a tiny LV-ViT: losses, MixToken, prediction, hand-over, pre-processing."""
import math
import random

import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.structures import BaseDataElement
from mmseg.registry import METRICS, MODELS
from scipy import stats

import lvseg  # noqa: F401  (registers the modules)
from lvseg.datasets.token_label_transforms import PackTokenLabelInputs
from lvseg.models import LVViT
from lvseg.models.classifiers import token_labeling
from lvseg.models.classifiers.data_preprocessor import TokenLabelBatch, stack_token_labels
from lvseg.models.classifiers.mix_token import TokenBox, box_lam, mix_class_target, swap_in_box
from lvseg.models.classifiers.token_labels import dense_token_targets

ARCH = {'embed_dims': 32, 'num_layers': 2, 'num_heads': 2, 'mlp_ratio': 2.0, 'stem_channels': 8,
        'skip_lam': 2.0}
NUM_CLASSES = 5
GRID = (4, 4)  # 64x64 images, patch 16
# A 2x2 annotator map, top-2 per cell: logits, then class indices (stored as floats).
TOPK = torch.tensor([[[[4.0, 1.0], [0.5, 3.0]], [[1.0, 0.5], [0.2, 2.0]]],
                     [[[1, 2], [3, 4]], [[0, 0], [0, 1]]]], dtype=torch.float16)


def make_model(head_std: float = 0.02, final_norm: bool = True, **kwargs) -> torch.nn.Module:
    """A tiny classifier; ``head_std`` > 0.02 makes its predictions far from uniform."""
    torch.manual_seed(0)
    cfg = ConfigDict(type='TokenLabelingClassifier', num_classes=NUM_CLASSES,
                     backbone={'type': 'LVViT', 'arch': ARCH, 'img_size': 64, 'pyramid': 'none',
                               'final_norm': final_norm},
                     data_preprocessor={'type': 'TokenLabelingDataPreprocessor', 'random_erasing_prob': 0.0},
                     **kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    for head in (model.head, model.aux_head):
        torch.nn.init.normal_(head.weight, std=head_std)
    return model


def make_sample(label: int, with_map: bool = True) -> BaseDataElement:
    """An image of class ``label`` whose map is TOPK with the classes shifted by ``label``."""
    sample = BaseDataElement(gt_label=torch.tensor(label))
    if with_map:
        topk = torch.stack([TOPK[0], (TOPK[1] + label) % NUM_CLASSES])
        sample.set_data({'token_label_topk': topk, 'token_label_box': torch.tensor([0.25, 0.0, 1.0, 0.75]),
                             'token_label_flip': torch.tensor(label % 2 == 1),
                             'token_label_affine': torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])})
    return sample


def make_batch(with_map: bool = True) -> dict:
    generator = torch.Generator().manual_seed(1)
    images = [torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8, generator=generator) for _ in range(4)]
    return {'inputs': images, 'data_samples': [make_sample(label, with_map) for label in (0, 3, 1, 4)]}


@pytest.mark.parametrize('with_map', [True, False])
def test_loss_mode_gives_finite_losses_that_reach_backbone_and_both_heads(with_map):
    model = make_model().train()
    data = model.data_preprocessor(make_batch(with_map), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_token'}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    for name in ('backbone.patch_embed.conv1.weight', 'backbone.blocks.0.attn.qkv.weight', 'head.weight',
                 'aux_head.weight'):
        assert model.get_parameter(name).grad.abs().sum() > 0, name


def test_samples_packed_by_the_pipeline_train_the_classifier():
    pack = PackTokenLabelInputs()
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    packed = [pack({'img': image, 'gt_label': label, 'token_label_topk': TOPK}) for label in (0, 1)]
    model = make_model().train()
    data = model.data_preprocessor(pseudo_collate(packed), training=True)
    assert data['token_labels'].topk.shape == (2, *TOPK.shape)
    assert torch.equal(data['token_labels'].boxes, torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 2))
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())


def expected_losses(model, inputs, token_labels, box):
    """The token labeling objective composed by hand from the model's parts, for a given MixToken box."""
    tokens, grid = model.backbone.patch_embed(inputs)
    x = model.backbone.forward_tokens(swap_in_box(tokens, box, grid), grid)
    token_targets, crop_targets = dense_token_targets(*token_labels[1:], grid, NUM_CLASSES)
    return model.loss_module(model.head(x[:, 0]), swap_in_box(model.aux_head(x[:, 1:]), box, grid),
                             mix_class_target(crop_targets, box_lam(box, grid)), token_targets)


@pytest.mark.parametrize('box', [TokenBox(1, 3, 0, 2), TokenBox(0, 4, 0, 4)])
def test_training_loss_applies_mix_token_with_the_sampled_box(monkeypatch, box):
    model = make_model(head_std=1.0).train()
    monkeypatch.setattr(token_labeling, 'sample_token_box', lambda grid: box)
    data = model.data_preprocessor(make_batch(), training=True)
    losses = model(**data, mode='loss')
    expected = expected_losses(model, data['inputs'], data['token_labels'], box)
    for key in losses:
        assert torch.allclose(losses[key], expected[key], atol=1e-6), key
    model.eval()  # no MixToken outside training
    assert torch.allclose(model(**data, mode='loss')['loss_token'],
                          expected_losses(model, data['inputs'], data['token_labels'],
                                          TokenBox(0, 0, 0, 0))['loss_token'], atol=1e-6)


def test_mixing_the_whole_grid_only_permutes_the_batch():
    # Every token from the partner, lam = 0: the losses equal those of the unmixed batch.
    model = make_model(head_std=1.0).train()
    data = model.data_preprocessor(make_batch(), training=True)
    unmixed = expected_losses(model, data['inputs'], data['token_labels'], TokenBox(0, 0, 0, 0))
    mixed = expected_losses(model, data['inputs'], data['token_labels'], TokenBox(0, 4, 0, 4))
    for key in unmixed:
        assert torch.allclose(mixed[key], unmixed[key], atol=1e-5), key


def test_class_targets_annotator_ground_truth_and_the_official_blend():
    labels = torch.tensor([1, 0])
    batch = TokenLabelBatch(labels, TOPK.expand(2, -1, -1, -1, -1), torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 2),
                            torch.zeros(2, dtype=torch.bool), torch.eye(2, 3).expand(2, -1, -1))
    _, crop = dense_token_targets(*batch[1:], GRID, NUM_CLASSES)
    one_hot = torch.eye(NUM_CLASSES)[labels]
    assert crop[0].argmax() == 1 and crop[1].argmax() != 0  # the annotator agrees on image 0 only

    assert torch.equal(make_model().targets(batch, GRID)[0], crop)
    assert torch.equal(make_model(class_target='ground_truth').targets(batch, GRID)[0], one_hot)
    blend = make_model(class_target='both').targets(batch, GRID)[0]
    assert torch.allclose(blend[0], 0.5 * crop[0] + 0.5 * one_hot[0])
    assert torch.allclose(blend[1], 0.9 * crop[1] + 0.1 * one_hot[1])
    with pytest.raises(ValueError, match='class_target'):
        make_model(class_target='human')


def test_predict_score_is_head_plus_half_the_token_maximum():
    model = make_model().eval()
    data = model.data_preprocessor(make_batch(), training=False)
    with torch.no_grad():
        samples = model(**data, mode='predict')
        tensor = model(data['inputs'], mode='tensor')
        x = model.backbone.forward_tokens(*model.backbone.patch_embed(data['inputs']))
        expected = (model.head(x[:, 0]) + 0.5 * model.aux_head(x[:, 1:]).max(dim=1).values).softmax(-1)
    assert torch.allclose(torch.stack([s.pred_score for s in samples]), expected, atol=1e-6)
    assert torch.allclose(tensor, expected, atol=1e-6)
    assert [int(s.pred_label) for s in samples] == expected.argmax(-1).tolist()


def test_predictions_scored_by_top_k_accuracy():
    metric = METRICS.build({'type': 'TopKAccuracy', 'topk': (1, 2, 5)})
    scores = torch.tensor([[0.5, 0.3, 0.1, 0.05, 0.05], [0.5, 0.3, 0.1, 0.05, 0.05],
                           [0.1, 0.2, 0.3, 0.4, 0.0], [0.1, 0.2, 0.3, 0.4, 0.0]])
    labels = [0, 1, 1, 4]  # ranked 1st, 2nd, 3rd and 5th
    metric.process(None, [{'pred_score': s, 'gt_label': torch.tensor(y)} for s, y in zip(scores, labels)])
    assert metric.evaluate(4) == {'accuracy/top1': 25.0, 'accuracy/top2': 50.0, 'accuracy/top5': 100.0}


def test_backbone_weights_load_into_a_standalone_lvvit():
    model = make_model()
    backbone_state = {k.removeprefix('backbone.'): v for k, v in model.state_dict().items()
                      if k.startswith('backbone.')}
    assert {k for k in model.state_dict() if not k.startswith('backbone.')} == {
        'head.weight', 'head.bias', 'aux_head.weight', 'aux_head.bias'}
    standalone = LVViT(ARCH, img_size=64, pyramid='none', final_norm=True)
    standalone.load_state_dict(backbone_state, strict=True)
    assert torch.equal(standalone.pos_embed, model.backbone.pos_embed)
    with pytest.raises(ValueError, match='final_norm'):
        make_model(final_norm=False)


def test_preprocessor_normalizes_rgb_erases_only_training_batches_and_stacks_labels():
    random.seed(0)  # timm's random erasing draws from Python's RNG
    preprocessor = MODELS.build({'type': 'TokenLabelingDataPreprocessor', 'random_erasing_prob': 1.0})
    batch = make_batch()
    evaluated = preprocessor(make_batch(), training=False)
    mean, std = torch.tensor([0.485, 0.456, 0.406]) * 255, torch.tensor([0.229, 0.224, 0.225]) * 255
    expected = (batch['inputs'][0].flip(0).float() - mean[:, None, None]) / std[:, None, None]
    assert torch.allclose(evaluated['inputs'][0], expected, atol=1e-5)

    labels = evaluated['token_labels']
    assert labels.labels.tolist() == [0, 3, 1, 4] and labels.labels.dtype == torch.int64
    assert labels.topk.shape == (4, 2, 2, 2, 2) and labels.boxes.shape == (4, 4)
    assert labels.flips.tolist() == [False, True, True, False] and labels.affines.shape == (4, 2, 3)
    assert stack_token_labels(make_batch(with_map=False)['data_samples']).topk is None
    with pytest.raises(ValueError, match='cannot mix'):
        stack_token_labels([make_sample(0), make_sample(1, with_map=False)])


# timm's RandomErasing defaults, which the official main.py keeps (it sets only --reprob, --remode, --recount): the
# erased share of the image ~ U(0.02, 1/3), the aspect ratio height / width log-uniform on [0.3, 1 / 0.3], then each
# side rounded to whole pixels.
ERASED_AREA = (0.02, 1 / 3)
ERASED_ASPECT = (0.3, 1 / 0.3)


def erased_rectangles(changed: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Heights and widths ``(B,)`` of the one rectangle per image where ``changed`` ``(B, H, W)`` is True; asserts
    that each image has one: its changed rows and columns are contiguous runs and it changed all their crossings."""
    rows, cols = changed.any(2), changed.any(1)
    heights, widths = rows.sum(1), cols.sum(1)
    for runs, lengths in ((rows, heights), (cols, widths)):
        first, last = runs.int().argmax(1), runs.shape[1] - runs.flip(1).int().argmax(1)
        assert torch.equal(last - first, lengths) and (lengths > 0).all()
    assert torch.equal(changed.sum((1, 2)), heights * widths)
    return heights.numpy(), widths.numpy()


def test_random_erasing_replaces_one_rectangle_of_the_configured_area_and_aspect_per_image():
    random.seed(0)  # timm draws the boxes from Python's RNG and the pixel noise from torch's
    torch.manual_seed(0)
    preprocessor = MODELS.build({'type': 'TokenLabelingDataPreprocessor', 'random_erasing_prob': 1.0})
    images = torch.randint(0, 256, (200, 3, 128, 128), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    clean = preprocessor({'inputs': images}, training=False)['inputs']
    erased = preprocessor({'inputs': images}, training=True)['inputs']
    changed = erased != clean
    h, w = erased_rectangles(changed.any(1))
    # 'pixel' mode (official --remode): N(0, 1) noise in every channel (equal to the clean value at a rare pixel, by
    # float coincidence), not one colour per box
    assert (changed.sum((2, 3)).amin(1).numpy() > 0.99 * h * w).all()
    noise = erased[changed][::97]  # every 97th erased value, about 17,000
    assert stats.kstest(noise.numpy(), 'norm').pvalue > 1e-3
    pixels = 128 * 128
    # The rounded sides must come from an area and an aspect ratio in the ranges (half a pixel either way).
    assert ((h + 0.5) * (w + 0.5) >= ERASED_AREA[0] * pixels).all()
    assert ((h - 0.5) * (w - 0.5) <= ERASED_AREA[1] * pixels).all()
    assert ((h + 0.5) / (w - 0.5) >= ERASED_ASPECT[0]).all() and ((h - 0.5) / (w + 0.5) <= ERASED_ASPECT[1]).all()
    # ... and spread over them as drawn (the rounding moves a share by < 6%, far below what 200 draws resolve).
    low, high = ERASED_AREA
    assert stats.kstest(h * w / pixels, stats.uniform(low, high - low).cdf).pvalue > 1e-3
    low, high = math.log(ERASED_ASPECT[0]), math.log(ERASED_ASPECT[1])
    assert stats.kstest(np.log(h / w), stats.uniform(low, high - low).cdf).pvalue > 1e-3


def test_preprocessor_stacks_float16_maps_under_bf16_autocast():
    """mmengine's train_step pre-processes inside the optim wrapper's autocast (bf16 with AMP); the maps are
    stored in float16, which autocast's type promotion for ``stack`` refuses."""
    preprocessor = MODELS.build({'type': 'TokenLabelingDataPreprocessor', 'random_erasing_prob': 0.0})
    batch = make_batch()
    for sample in batch['data_samples']:
        sample.token_label_topk = sample.token_label_topk.half()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        labels = preprocessor(batch, training=True)['token_labels']
    assert labels.topk.dtype == torch.float16 and labels.topk.shape == (4, 2, 2, 2, 2)


def test_pretrained_init_cfg_continues_at_another_image_size_with_both_heads(tmp_path):
    """The 384 fine-tuning path: a 224-style checkpoint into a classifier of another image size."""
    source = make_model(head_std=0.5)
    path = tmp_path / 'epoch_3.pth'
    torch.save({'state_dict': source.state_dict()}, path)
    cfg = ConfigDict(type='TokenLabelingClassifier', num_classes=NUM_CLASSES,
                     backbone={'type': 'LVViT', 'arch': ARCH, 'img_size': 96, 'pyramid': 'none', 'final_norm': True},
                     init_cfg={'type': 'Pretrained', 'checkpoint': str(path)})
    target = MODELS.build(cfg)
    target.init_weights()
    assert torch.equal(target.head.weight, source.head.weight)
    assert torch.equal(target.aux_head.bias, source.aux_head.bias)
    assert torch.equal(target.backbone.blocks[1].mlp.fc2.weight, source.backbone.blocks[1].mlp.fc2.weight)
    assert target.backbone.pos_embed.shape == (1, 1 + 6 * 6, 32)
