"""The token labeling objective (Jiang et al., NeurIPS 2021, arXiv 2104.10858; docs/method.md#loss).

``L = cls_weight * H(cls_logits, y_cls) + dense_weight * mean over all B*N tokens of H(token_logits_i, y_i)``,
with ``H`` the soft-target cross-entropy and label smoothing applied to every target.
"""
from __future__ import annotations

import torch
from mmseg.registry import MODELS
from timm.loss import SoftTargetCrossEntropy
from torch import nn

from ...utils.precision import float32_region


def smooth_labels(target: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Label smoothing of probability targets ``(..., K)``: ``t * (1 - smoothing) + smoothing / K``."""
    return target * (1.0 - smoothing) + smoothing / target.shape[-1]


@MODELS.register_module()
class TokenLabelingLoss(nn.Module):
    """Class-token loss plus dense token loss, both soft-target cross-entropies.

    The targets are probabilities (annotator scores, one-hot labels or their mixtures, not yet smoothed);
    the loss smooths them. Mixing for MixToken happens before (see
    :mod:`lvseg.models.classifiers.mix_token`); smoothing is linear, so its order with mixing is immaterial.

    Args:
        cls_weight: weight of the class-token term. Default 1.0 (``--cls-weight`` of the official ``main.py``,
            with which the released models were trained).
        dense_weight: weight of the dense token term. Default 1.0 (official ``--dense-weight``; the paper's
            text uses beta = 0.5: set it in the config).
        label_smoothing: smoothing of all targets. Default 0.1 (official ``--smoothing``).
    """

    def __init__(self, cls_weight: float = 1.0, dense_weight: float = 1.0,
                 label_smoothing: float = 0.1) -> None:
        super().__init__()
        self.cls_weight = cls_weight
        self.dense_weight = dense_weight
        self.label_smoothing = label_smoothing
        self.cross_entropy = SoftTargetCrossEntropy()

    def forward(self, cls_logits: torch.Tensor, token_logits: torch.Tensor, cls_target: torch.Tensor,
                token_target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Compute the two weighted terms.

        Args:
            cls_logits: class-token logits ``(B, K)``, in any float dtype (bf16 under autocast): both terms are
                computed in float32, autocast or not.
            token_logits: patch-token logits ``(B, N, K)`` (after MixToken's swap back, if any).
            cls_target: class-token target probabilities ``(B, K)``.
            token_target: per-token target probabilities ``(B, N, K)``.

        Returns:
            ``{'loss_cls': cls_weight * H_cls, 'loss_token': dense_weight * mean_i H_i}``, scalar tensors.
        """
        num_classes = token_logits.shape[-1]
        with float32_region(token_logits.device):
            token_target = smooth_labels(token_target.float(), self.label_smoothing)
            loss_token = self.cross_entropy(token_logits.float().reshape(-1, num_classes),
                                            token_target.reshape(-1, num_classes))
            loss_cls = self.cross_entropy(cls_logits.float(), smooth_labels(cls_target.float(), self.label_smoothing))
        return {'loss_cls': self.cls_weight * loss_cls, 'loss_token': self.dense_weight * loss_token}
