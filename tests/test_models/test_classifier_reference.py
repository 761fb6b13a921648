"""lvseg's token-labeling classifier against an independent reference of the official LV-ViT classifier and loss.

The reference (:mod:`lvseg_testing.reference_lvvit_classifier`) is written from the method's definition with the
official names; it gets seeded random weights, its state dict is read by lvseg in the official layout, and both
run on the same images: the evaluation outputs, the training-mode logits under a MixToken box, and the loss terms
must agree.
"""
import pytest
import torch
from lvseg_testing.reference_lvvit_classifier import (
    LVViTClassifierReference,
    mix_token_box,
    randomize,
    smooth_one_hot,
    smooth_soft,
    token_labeling_loss,
)
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import lvseg  # noqa: F401  (registers the modules)
from lvseg.checkpoints import adapt_released_checkpoint
from lvseg.models.classifiers import mix_token, token_labeling
from lvseg.models.classifiers.data_preprocessor import TokenLabelBatch
from lvseg.models.classifiers.mix_token import TokenBox

TINY = dict(embed_dim=64, depth=2, num_heads=2, mlp_ratio=3.0, stem=16, skip_lam=2.0)
NUM_CLASSES = 7
SMOOTHING = 0.1  # official --smoothing


def lvseg_arch(embed_dim: int, depth: int, num_heads: int, mlp_ratio: float, stem: int, skip_lam: float) -> dict:
    """The reference's architecture in the keys of lvseg's ``LVViT(arch=...)``."""
    return dict(embed_dims=embed_dim, num_layers=depth, num_heads=num_heads, mlp_ratio=mlp_ratio,
                stem_channels=stem, skip_lam=skip_lam)


def lvseg_twin(reference_state: dict, arch: dict | str, img_size, num_classes: int, **kwargs) -> torch.nn.Module:
    """lvseg's ``TokenLabelingClassifier`` loaded with the reference's weights through lvseg's conversion of an
    official classifier file (the path of ``runner.load_checkpoint`` for the released files)."""
    init_default_scope('mmseg')
    model = MODELS.build(dict(type='TokenLabelingClassifier', num_classes=num_classes, **kwargs,
                              backbone=dict(type='LVViT', arch=arch, img_size=img_size, pyramid='none',
                                            final_norm=True)))
    converted = adapt_released_checkpoint({'state_dict_ema': reference_state}, model, 'lvvit_reference.pth.tar')
    model.load_state_dict(converted['state_dict'], strict=True)
    return model


def tiny_pair(img_size=64, seed: int = 0, **kwargs) -> tuple[LVViTClassifierReference, torch.nn.Module]:
    reference = randomize(LVViTClassifierReference(**TINY, img_size=img_size, num_classes=NUM_CLASSES), seed)
    return reference, lvseg_twin(reference.state_dict(), lvseg_arch(**TINY), img_size, NUM_CLASSES, **kwargs)


def lvseg_logits(model: torch.nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """lvseg's class and token logits, computed as ``predict_scores`` and ``loss`` compute them."""
    return model._logits(*model.backbone.patch_embed(images))


def official_box(box: TokenBox) -> tuple[int, int, int, int]:
    """lvseg's ``TokenBox`` in the official order ``(bbx1, bby1, bbx2, bby2)`` (rows first)."""
    return box.top, box.left, box.bottom, box.right


# ---------------------------------------------------------------- forward


def test_evaluation_outputs_equal_the_reference_on_the_same_weights():
    reference, model = tiny_pair()
    reference.eval()
    model.eval()
    images = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want_cls, want_tokens = reference.logits(images)
        got_cls, got_tokens = lvseg_logits(model, images)
        torch.testing.assert_close(got_cls, want_cls, rtol=0, atol=1e-5)
        torch.testing.assert_close(got_tokens, want_tokens, rtol=0, atol=1e-5)
        # the official evaluation logits, head(cls) + 0.5 max_i aux_head(token_i); lvseg returns their softmax
        torch.testing.assert_close(model.predict_scores(images), reference.inference_logits(images).softmax(-1),
                                   rtol=0, atol=1e-6)
    assert want_cls.std() > 0.3 and want_tokens.std() > 0.3  # far from constant: a wrong forward shows


def test_released_lvvit_s_at_224_scores_as_the_reference():
    reference = randomize(LVViTClassifierReference.official('lvvit_s', img_size=224), seed=2).eval()
    model = lvseg_twin(reference.state_dict(), 'small', 224, 1000).eval()
    images = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want_cls, want_tokens = reference.logits(images)
        got_cls, got_tokens = lvseg_logits(model, images)
    torch.testing.assert_close(got_cls, want_cls, rtol=0, atol=1e-5)
    torch.testing.assert_close(got_tokens, want_tokens, rtol=0, atol=1e-5)
    # the official evaluation logits (predict_scores takes their softmax, as the tiny model shows above)
    torch.testing.assert_close(got_cls + 0.5 * got_tokens.amax(dim=1),
                               want_cls + 0.5 * want_tokens.max(dim=1).values, rtol=0, atol=1e-5)


def test_fine_tuning_init_from_the_official_file_scores_as_the_reference(tmp_path):
    reference = randomize(LVViTClassifierReference(**TINY, img_size=64, num_classes=NUM_CLASSES), seed=4).eval()
    path = tmp_path / 'lvvit.pth.tar'
    torch.save({'state_dict': {f'module.{k}': v for k, v in reference.state_dict().items()}}, path)
    init_default_scope('mmseg')
    model = MODELS.build(dict(type='TokenLabelingClassifier', num_classes=NUM_CLASSES,
                              init_cfg=dict(type='Pretrained', checkpoint=str(path)),
                              backbone=dict(type='LVViT', arch=lvseg_arch(**TINY), img_size=64, pyramid='none',
                                            final_norm=True)))
    model.init_weights()
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(model.eval().predict_scores(images),
                                   reference.inference_logits(images).softmax(-1), rtol=0, atol=1e-6)


# ---------------------------------------------------------------- MixToken box


@pytest.mark.parametrize('grid', [(14, 14), (4, 6), (7, 5)])
def test_box_from_centre_is_the_official_rand_bbox(grid):
    for lam in torch.linspace(0, 1, 41).tolist():
        for row in range(grid[0]):
            for col in range(grid[1]):
                box = mix_token.box_from_centre(grid, lam, (row, col))
                assert official_box(box) == mix_token_box(grid, lam, (row, col)), (lam, row, col)


# ---------------------------------------------------------------- loss


def assert_losses_equal(got: dict, want: tuple[torch.Tensor, torch.Tensor]) -> None:
    """lvseg's ``{'loss_cls', 'loss_token'}`` (float32) equal the reference's two weighted terms (float64) within
    2e-6 relative: the largest difference measured was 4e-7 relative (a loss of 3.18 through the forward of the
    tiny model, one thread), while a wrong loss (a halved dense term, unsmoothed targets, an unswapped box) moves
    them by 1e-3 or more."""
    for key, reference in zip(('loss_cls', 'loss_token'), want):
        assert got[key].item() == pytest.approx(reference.item(), rel=2e-6, abs=1e-7), (got, want)


def random_logits(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class logits (4, K) and token logits (4, 12, K) of unit scale."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(4, NUM_CLASSES, generator=generator), torch.randn(4, 12, NUM_CLASSES, generator=generator)


def random_targets(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Peaked random probabilities over the last dim (as an annotator's softmaxed scores)."""
    return (3 * torch.randn(shape, generator=torch.Generator().manual_seed(seed))).softmax(-1)


@pytest.mark.parametrize('cls_weight, dense_weight', [(1.0, 1.0), (1.0, 0.5), (0.3, 0.0)])
def test_loss_module_equals_the_official_loss(cls_weight, dense_weight):
    cls_logits, token_logits = random_logits(seed=6)
    crop, tokens = random_targets((4, NUM_CLASSES), 7), random_targets((4, 12, NUM_CLASSES), 8)
    loss = MODELS.build(dict(type='TokenLabelingLoss', cls_weight=cls_weight, dense_weight=dense_weight,
                             label_smoothing=SMOOTHING))
    got = loss(cls_logits, token_logits, crop, tokens)
    want_cls, want_token = token_labeling_loss(cls_logits, token_logits, smooth_soft(crop.double(), SMOOTHING),
                                               smooth_soft(tokens.double(), SMOOTHING), cls_weight=cls_weight,
                                               dense_weight=dense_weight)
    assert_losses_equal(got, (want_cls, want_token))


BOXES = [TokenBox(1, 3, 2, 5), TokenBox(0, 2, 3, 6), TokenBox(0, 4, 0, 6), TokenBox(0, 0, 0, 0)]


def training_pair(class_target: str, dense_weight: float):
    """A tiny reference and its lvseg twin (4 x 6 tokens: 64 x 96 images), both in training mode."""
    reference, model = tiny_pair(img_size=(64, 96), seed=9, class_target=class_target,
                                 loss=dict(type='TokenLabelingLoss', dense_weight=dense_weight))
    return reference.train(), model.train()


def training_inputs():
    """Images (4, 3, 64, 96), image labels, annotator targets for the crop (4, K) and the 24 tokens (4, 24, K)."""
    images = torch.randn(4, 3, 64, 96, generator=torch.Generator().manual_seed(10))
    labels = torch.tensor([2, 0, 6, 3])
    crop, tokens = random_targets((4, NUM_CLASSES), 11), random_targets((4, 24, NUM_CLASSES), 12)
    crop[0] = torch.eye(NUM_CLASSES)[2] * 0.7 + 0.3 / NUM_CLASSES  # the annotator agrees with label 2 on image 0
    return images, labels, crop, tokens


def with_annotator_targets(monkeypatch, crop: torch.Tensor, tokens: torch.Tensor, labels: torch.Tensor):
    """A label batch whose annotator targets (what lvseg cuts from the maps) are ``crop`` and ``tokens``."""
    monkeypatch.setattr(token_labeling, 'dense_token_targets', lambda *args: (tokens, crop))
    return TokenLabelBatch(labels, topk=torch.zeros(len(labels), 2, 1, 1, 1))


@pytest.mark.parametrize('box', BOXES)
@pytest.mark.parametrize('class_target, dense_weight', [('annotator', 1.0), ('annotator', 0.5), ('both', 1.0)])
def test_training_loss_equals_the_official_loss_under_mix_token(monkeypatch, box, class_target, dense_weight):
    reference, model = training_pair(class_target, dense_weight)
    images, labels, crop, tokens = training_inputs()
    monkeypatch.setattr(token_labeling, 'sample_token_box', lambda grid: box)
    got = model.loss(images, with_annotator_targets(monkeypatch, crop, tokens, labels))

    cls_logits, token_logits = reference.logits(images, official_box(box))
    ground_truth = smooth_one_hot(labels, NUM_CLASSES, SMOOTHING) if class_target == 'both' else None
    agree = crop.argmax(-1) == labels  # 'both' weighs the annotator by agreement: both cases occur
    assert agree.any() and not agree.all()
    want = token_labeling_loss(cls_logits, token_logits, smooth_soft(crop.double(), SMOOTHING),
                               smooth_soft(tokens.double(), SMOOTHING), official_box(box), ground_truth,
                               dense_weight=dense_weight)
    assert_losses_equal(got, want)


def test_training_loss_without_maps_labels_every_token_with_the_image_label(monkeypatch):
    reference, model = training_pair('annotator', 1.0)
    images, labels, _, _ = training_inputs()
    box = BOXES[0]
    monkeypatch.setattr(token_labeling, 'sample_token_box', lambda grid: box)
    got = model.loss(images, TokenLabelBatch(labels))
    target = smooth_one_hot(labels, NUM_CLASSES, SMOOTHING)
    want = token_labeling_loss(*reference.logits(images, official_box(box)), target, target, official_box(box))
    assert_losses_equal(got, want)


def test_training_loss_with_the_box_lvseg_draws(monkeypatch):
    reference, model = training_pair('annotator', 1.0)
    images, labels, crop, tokens = training_inputs()
    drawn = []

    def draw_and_record(grid):
        drawn.append(mix_token.sample_token_box(grid))
        return drawn[-1]

    monkeypatch.setattr(token_labeling, 'sample_token_box', draw_and_record)
    torch.manual_seed(0)
    got = model.loss(images, with_annotator_targets(monkeypatch, crop, tokens, labels))
    (box,) = drawn
    assert 0 < box.area < 24  # a partial box: both kinds of tokens in every image
    want = token_labeling_loss(*reference.logits(images, official_box(box)), smooth_soft(crop.double(), SMOOTHING),
                               smooth_soft(tokens.double(), SMOOTHING), official_box(box))
    assert_losses_equal(got, want)
