"""TokenLabelingLoss against a hand computation on B=2 images, N=4 tokens (a 2x2 grid), K=3 classes."""
import math

import pytest
import torch

from lvseg.models.classifiers.mix_token import TokenBox, box_lam, mix_class_target, swap_in_box
from lvseg.models.losses import TokenLabelingLoss

CLS_LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
TOKEN_LOGITS = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.5, 0.5, 1.0], [-1.0, 0.0, 1.0]],
                             [[0.0, 0.0, 0.0], [3.0, 1.0, 0.0], [0.0, -2.0, 1.0], [1.0, 1.0, -1.0]]])
CLS_TARGET = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.2, 0.6]])
TOKEN_TARGET = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.1, 0.2, 0.7]],
                             [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.3, 0.3, 0.4], [0.0, 1.0, 0.0]]])


def hand_cross_entropy(logits: list, target: list, smoothing: float) -> float:
    """-sum_k smooth(t)_k * log softmax(x)_k, in plain Python."""
    log_norm = math.log(sum(math.exp(x) for x in logits))
    smoothed = [t * (1 - smoothing) + smoothing / len(target) for t in target]
    return -sum(s * (x - log_norm) for x, s in zip(logits, smoothed))


def hand_loss(cls_logits, token_logits, cls_target, token_target, smoothing):
    cls = sum(hand_cross_entropy(x, t, smoothing)
              for x, t in zip(cls_logits.tolist(), cls_target.tolist())) / 2
    token = sum(hand_cross_entropy(x, t, smoothing)
                for xs, ts in zip(token_logits.tolist(), token_target.tolist()) for x, t in zip(xs, ts)) / 8
    return cls, token


@pytest.mark.parametrize('smoothing', [0.0, 0.1])
def test_loss_equals_hand_computation_with_weights_and_smoothing(smoothing):
    loss = TokenLabelingLoss(cls_weight=0.7, dense_weight=0.3, label_smoothing=smoothing)
    out = loss(CLS_LOGITS, TOKEN_LOGITS, CLS_TARGET, TOKEN_TARGET)
    cls, token = hand_loss(CLS_LOGITS, TOKEN_LOGITS, CLS_TARGET, TOKEN_TARGET, smoothing)
    assert set(out) == {'loss_cls', 'loss_token'}
    assert out['loss_cls'].item() == pytest.approx(0.7 * cls, rel=1e-6)
    assert out['loss_token'].item() == pytest.approx(0.3 * token, rel=1e-6)


def test_defaults_are_the_official_training_script():
    loss = TokenLabelingLoss()
    assert (loss.cls_weight, loss.dense_weight, loss.label_smoothing) == (1.0, 1.0, 0.1)


def test_loss_with_mix_token_equals_hand_computation():
    # The box covers token 1 (row 0, column 1): image 0's prediction there came from image 1's token and
    # is swapped back; the class target is mixed by lam = 1 - 1/4.
    box, grid = TokenBox(top=0, bottom=1, left=1, right=2), (2, 2)
    lam = box_lam(box, grid)
    out = TokenLabelingLoss()(CLS_LOGITS, swap_in_box(TOKEN_LOGITS, box, grid),
                              mix_class_target(CLS_TARGET, lam), TOKEN_TARGET)

    swapped = TOKEN_LOGITS.clone()
    swapped[0, 1], swapped[1, 1] = TOKEN_LOGITS[1, 1], TOKEN_LOGITS[0, 1]
    mixed_cls = torch.stack([0.75 * CLS_TARGET[0] + 0.25 * CLS_TARGET[1],
                             0.75 * CLS_TARGET[1] + 0.25 * CLS_TARGET[0]])
    cls, token = hand_loss(CLS_LOGITS, swapped, mixed_cls, TOKEN_TARGET, 0.1)
    assert lam == 0.75
    assert out['loss_cls'].item() == pytest.approx(cls, rel=1e-6)
    assert out['loss_token'].item() == pytest.approx(token, rel=1e-6)


def test_losses_are_graph_tensors_on_the_input_device():
    logits = CLS_LOGITS.clone().requires_grad_()
    out = TokenLabelingLoss()(logits, TOKEN_LOGITS, CLS_TARGET, TOKEN_TARGET)
    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 for v in out.values())
    out['loss_cls'].backward()
    assert logits.grad.abs().sum() > 0
