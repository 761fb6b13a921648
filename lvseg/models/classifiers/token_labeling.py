"""Token-labeling image classifier: the pretraining model of LV-ViT (Jiang et al., 2021; docs/method.md#token-labeling).

A token backbone, a class head on the class token and a dense ``aux_head`` on every patch token, trained with
:class:`~lvseg.models.losses.TokenLabelingLoss` against the annotator's per-token labels, with MixToken.
"""
from __future__ import annotations

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.model.weight_init import trunc_normal_
from mmengine.structures import BaseDataElement
from mmseg.registry import MODELS
from torch import nn

from ...checkpoints.safe_load import load_checkpoint
from ...checkpoints.unwrap import take_prefix, unwrap_state_dict
from ..backbones.interface import TokenBackbone
from .data_preprocessor import TokenLabelBatch, stack_token_labels
from .mix_token import box_lam, mix_class_target, sample_token_box, swap_in_box
from .token_labels import broadcast_image_label, dense_token_targets, one_hot_labels

CLASS_TARGETS = ('annotator', 'ground_truth', 'both')
# The official ``--ground-truth`` rule (``TokenLabelCrossEntropy`` in ``tlt/loss/cross_entropy.py``): the
# share of the annotator's crop label is 0.5 where its top class equals the image label and 0.9 where it
# does not; the rest goes to the one-hot image label.
ANNOTATOR_SHARE_AGREE = 0.5
ANNOTATOR_SHARE_DISAGREE = 0.9


@MODELS.register_module()
class TokenLabelingClassifier(BaseModel):
    """Image classifier trained by token labeling.

    Heads (named as in the official checkpoints): ``head`` = Linear on the class token, ``aux_head`` = Linear
    on each patch token, both initialised truncated-normal (std 0.02) with zero bias. The prediction is
    ``softmax(head(cls) + aux_weight_in_predict * max over tokens of aux_head(tokens))``.

    Args:
        backbone: config of a backbone following
            :class:`~lvseg.models.backbones.interface.TokenBackbone` (e.g. ``LVViT`` with
            ``pyramid='none', final_norm=True``).
        num_classes: number of classes K.
        loss: config of the loss. Default: ``TokenLabelingLoss`` with its defaults.
        mix_token: apply MixToken in training. Default True (the official LV-ViT models).
        class_target: the class token's target. 'annotator' (default, as the official code): the annotator's
            label of the crop; 'ground_truth': the one-hot image label; 'both': the official
            ``--ground-truth`` rule, ``s * annotator + (1 - s) * one_hot`` with s = 0.5 where the annotator's
            top class equals the image label and s = 0.9 where not. Without annotator maps all three are the
            image label.
        aux_weight_in_predict: weight of the dense term in the prediction. Default 0.5 (the official
            ``LV_ViT.forward`` at inference).
        data_preprocessor: config of the pre-processor. Default: ``TokenLabelingDataPreprocessor``.
        init_cfg: mmengine init config of the whole model.
    """

    def __init__(self, backbone: dict, num_classes: int, loss: dict | None = None, mix_token: bool = True,
                 class_target: str = 'annotator', aux_weight_in_predict: float = 0.5,
                 data_preprocessor: dict | nn.Module | None = None, init_cfg: dict | None = None) -> None:
        if class_target not in CLASS_TARGETS:
            raise ValueError(f'class_target must be one of {CLASS_TARGETS}, got {class_target!r}')
        if not isinstance(data_preprocessor, nn.Module):
            data_preprocessor = MODELS.build(data_preprocessor or {'type': 'TokenLabelingDataPreprocessor'})
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone: TokenBackbone = MODELS.build(backbone)
        if not getattr(self.backbone, 'final_norm', True):
            raise ValueError(f'{type(self.backbone).__name__} was built with final_norm=False; the heads '
                             'read tokens after the final norm (official LV-ViT): set final_norm=True')
        self.num_classes = num_classes
        self.mix_token = mix_token
        self.class_target = class_target
        self.aux_weight_in_predict = aux_weight_in_predict
        self.loss_module = MODELS.build(loss or {'type': 'TokenLabelingLoss'})
        self.head = nn.Linear(self.backbone.embed_dims, num_classes)
        self.aux_head = nn.Linear(self.backbone.embed_dims, num_classes)
        for linear in (self.head, self.aux_head):  # as the official ``LV_ViT._init_weights``
            trunc_normal_(linear.weight, std=0.02)
            nn.init.zeros_(linear.bias)

    def init_weights(self) -> None:
        """With ``init_cfg=dict(type='Pretrained', checkpoint=PATH)``, continue from a token-labeling model
        (lvseg's or the official release) at any image size: the backbone loads through
        ``backbone.load_pretrained`` (``pos_embed`` resized), and ``head``/``aux_head`` are kept when the
        checkpoint has them with this model's number of classes. Otherwise the usual initialisation."""
        if not (isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained'):
            super().init_weights()
            return
        path = self.init_cfg['checkpoint']
        checkpoint = load_checkpoint(path, map_location='cpu')
        self.backbone.load_pretrained(checkpoint, source=path)
        state_dict = unwrap_state_dict(checkpoint)
        for name in ('head', 'aux_head'):
            weights = take_prefix(state_dict, f'{name}.')
            if weights is not None and weights['weight'].shape[0] == self.num_classes:
                getattr(self, name).load_state_dict(weights)
                print_log(f'{name} loaded from {path}', logger='current')

    def forward(self, inputs: torch.Tensor, data_samples: list[BaseDataElement] | None = None,
                mode: str = 'tensor',
                token_labels: TokenLabelBatch | None = None) -> dict[str, torch.Tensor] | list | torch.Tensor:
        """Dispatch on ``mode``.

        Args:
            inputs: normalized images ``(B, 3, H, W)``.
            data_samples: one data element per image (label fields, see :class:`TokenLabelBatch`).
            mode: 'loss' -> dict of losses; 'predict' -> ``data_samples`` with ``pred_score`` ``(K,)`` and
                ``pred_label`` (0-d); 'tensor' -> class probabilities ``(B, K)``.
            token_labels: the stacked label fields, as the pre-processor makes them; taken from
                ``data_samples`` when None.
        """
        if mode == 'loss':
            if token_labels is None:
                token_labels = stack_token_labels(data_samples)
            return self.loss(inputs, token_labels)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.predict_scores(inputs)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    def loss(self, inputs: torch.Tensor, token_labels: TokenLabelBatch) -> dict[str, torch.Tensor]:
        """Token labeling losses of a batch; MixToken when ``mix_token`` and in training mode."""
        tokens, grid = self.backbone.patch_embed(inputs)
        box = sample_token_box(grid) if self.mix_token and self.training else None
        if box is not None:
            tokens = swap_in_box(tokens, box, grid)
        cls_logits, token_logits = self._logits(tokens, grid)
        cls_target, token_target = self.targets(token_labels, grid)
        if box is not None:
            token_logits = swap_in_box(token_logits, box, grid)
            cls_target = mix_class_target(cls_target, box_lam(box, grid))
        return self.loss_module(cls_logits, token_logits, cls_target, token_target)

    def predict_scores(self, inputs: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(B, K)``: ``softmax(head(cls) + w * max_i aux_head(token_i))``."""
        cls_logits, token_logits = self._logits(*self.backbone.patch_embed(inputs))
        return (cls_logits + self.aux_weight_in_predict * token_logits.amax(dim=1)).softmax(dim=-1)

    def predict(self, inputs: torch.Tensor,
                data_samples: list[BaseDataElement] | None = None) -> list[BaseDataElement]:
        """Set ``pred_score`` ``(K,)`` and ``pred_label`` (0-d int64) on each data sample (new ones if None).

        Returns the data samples.
        """
        scores = self.predict_scores(inputs)
        data_samples = data_samples or [BaseDataElement() for _ in range(len(scores))]
        for sample, score in zip(data_samples, scores):
            sample.set_data({'pred_score': score, 'pred_label': score.argmax()})
        return data_samples

    def targets(self, labels: TokenLabelBatch, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The unmixed, unsmoothed class target ``(B, K)`` (per ``class_target``) and token targets
        ``(B, h*w, K)`` for the token grid ``grid = (h, w)``."""
        one_hot = one_hot_labels(labels.labels, self.num_classes)
        if labels.topk is None:
            return one_hot, broadcast_image_label(labels.labels, grid, self.num_classes)
        token_target, crop_target = dense_token_targets(labels.topk, labels.boxes, labels.flips,
                                                        labels.affines, grid, self.num_classes)
        if self.class_target == 'annotator':
            return crop_target, token_target
        if self.class_target == 'ground_truth':
            return one_hot, token_target
        agree = crop_target.argmax(dim=-1) == labels.labels
        share = torch.where(agree, ANNOTATOR_SHARE_AGREE, ANNOTATOR_SHARE_DISAGREE).unsqueeze(-1)
        return share * crop_target + (1 - share) * one_hot, token_target

    def _logits(self, tokens: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Patch tokens ``(B, N, C)`` -> class logits ``(B, K)`` and token logits ``(B, N, K)``."""
        x = self.backbone.forward_tokens(tokens, grid)
        return self.head(x[:, 0]), self.aux_head(x[:, 1:])
