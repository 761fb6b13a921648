"""The machine annotator: a classifier run fully convolutionally, one score vector per spatial position.

Token labeling (docs/method.md#token-labeling) reads every token's label from a strong classifier's dense score map: the
classifier's final linear layer applied as a 1x1 convolution to every position of its last feature map,
global pooling removed; for token models (ViTs) the class token dropped and the patch tokens reshaped to
their grid. :class:`DenseAnnotator` is that, for three kinds of classifiers:

- timm CNNs (EfficientNet, NFNet, ResNet, ...): ``forward_features`` (which already holds the layers
  before the pooling, e.g. EfficientNet's ``conv_head`` + ``bn2`` and NFNet's ``final_conv``), then the
  Linear of ``get_classifier()``. Only heads that are "global average pooling, then that Linear" qualify;
  :func:`timm_annotator` checks it numerically (see :func:`check_pooled_linear_head`).
- timm ViTs: the patch tokens of ``forward_features`` (class and register tokens dropped), ``fc_norm`` and
  ``head`` applied to each.
- lvseg's :class:`~lvseg.models.classifiers.TokenLabelingClassifier`: its patch tokens and, by default,
  its dense ``aux_head`` (see :func:`token_labeling_annotator`).

Weights come from local files only; nothing is downloaded.
"""
from __future__ import annotations

import os
from difflib import get_close_matches

import timm
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS
from timm.models.vision_transformer import VisionTransformer
from torch import Tensor, nn

from ..checkpoints.efficientnet import convert_efficientnet_pytorch, is_efficientnet_pytorch
from ..checkpoints.safe_load import load_checkpoint
from ..checkpoints.unwrap import unwrap_state_dict
from ..datasets.token_label_loading import MAX_NUM_CLASSES
from ..utils.user_errors import UserError

TOKEN_LABELING_HEADS = ('aux_head', 'head')
_HEAD_CHECK_GRID = 3  # positions per side of the random feature map the pooled-head check uses
_HEAD_CHECK_TOLERANCE = 1e-4  # relative to the largest logit: float32 round-off of two summation orders


class DenseAnnotator(nn.Module):
    """Images ``(B, 3, H, W)`` -> dense logits ``(B, K, h, w)``: a feature map and a classifier's Linear.

    ``forward`` applies ``classifier`` (a Linear ``C -> K`` that the source model applied after global
    pooling or to its class token) as a 1x1 convolution to every position of ``trunk(images)``
    ``(B, C, h, w)``. Build one with :func:`timm_annotator` or :func:`token_labeling_annotator`.

    Args:
        trunk: normalized images ``(B, 3, H, W)`` -> feature map ``(B, C, h, w)``.
        classifier: the source model's final Linear, ``in_features = C``.
    """

    def __init__(self, trunk: nn.Module, classifier: nn.Linear) -> None:
        super().__init__()
        self.trunk = trunk
        self.classifier = classifier

    @property
    def num_classes(self) -> int:
        """``K``, the classes of the source classifier."""
        return self.classifier.out_features

    def forward(self, images: Tensor) -> Tensor:
        """Normalized images ``(B, 3, H, W)`` -> logits ``(B, K, h, w)``, unnormalized (before softmax)."""
        features = self.trunk(images)
        return F.conv2d(features, self.classifier.weight[:, :, None, None], self.classifier.bias)


class TimmFeatureMap(nn.Module):
    """A timm CNN's ``forward_features``: images ``(B, 3, H, W)`` -> features ``(B, C, h, w)`` before pooling."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        return self.model.forward_features(images)


class TimmViTTokenMap(nn.Module):
    """A timm ViT's patch tokens as a map: images ``(B, 3, H, W)`` -> ``(B, C, H / p, W / p)``, p the patch.

    ``forward_features`` (final norm included), the ``num_prefix_tokens`` class/register tokens dropped,
    ``fc_norm`` applied to each token (an identity for class-token models), tokens reshaped row-major to
    their grid. Models that pool by attention (``global_pool='map'``) have no per-token head: refused.
    """

    def __init__(self, model: VisionTransformer) -> None:
        super().__init__()
        if getattr(model, 'attn_pool', None) is not None:
            raise ValueError("a ViT that pools by attention (global_pool='map') has no per-token classifier")
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        tokens = self.model.fc_norm(self.model.forward_features(images)[:, self.model.num_prefix_tokens:])
        patch_h, patch_w = self.model.patch_embed.patch_size
        return _tokens_to_map(tokens, (images.shape[-2] // patch_h, images.shape[-1] // patch_w))


class TokenLabelingTokenMap(nn.Module):
    """An lvseg token backbone's patch tokens as a map: images ``(B, 3, H, W)`` -> ``(B, C, h, w)``.

    ``backbone.patch_embed`` then ``backbone.forward_tokens`` (final norm included, position embedding
    resized to any grid), class token dropped, tokens reshaped to the patch grid ``(h, w)``.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, images: Tensor) -> Tensor:
        tokens, grid = self.backbone.patch_embed(images)
        return _tokens_to_map(self.backbone.forward_tokens(tokens, grid)[:, 1:], grid)


def _tokens_to_map(tokens: Tensor, grid: tuple[int, int]) -> Tensor:
    """Row-major tokens ``(B, h*w, C)`` -> map ``(B, C, h, w)``."""
    if tokens.shape[1] != grid[0] * grid[1]:
        raise ValueError(f'{tokens.shape[1]} patch tokens do not fill a {grid[0]}x{grid[1]} grid')
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], *grid)


def check_pooled_linear_head(model: nn.Module) -> None:
    """Check that a timm CNN's head is global average pooling then ``get_classifier()``, nothing else.

    Then, and only then, the mean over positions of the dense logits equals the model's own logits
    (the Linear commutes with the average), which is checked on random features ``(2, C, 3, 3)`` through
    ``model.forward_head``: heads with layers after the pooling (MobileNetV3's ``conv_head``, ConvNeXt's
    norm) or another pooling (max, attention) fail with a ``ValueError``. ``model`` must be in eval mode.
    """
    classifier = model.get_classifier()
    name = type(model).__name__
    if not isinstance(classifier, nn.Linear) or classifier.in_features != model.num_features:
        raise ValueError(f'{name}: the classifier ({classifier}) does not take the {model.num_features} pooled '
                         'features directly (layers sit between the pooling and it), so it cannot run densely '
                         'as a 1x1 convolution')
    features = torch.randn(2, model.num_features, _HEAD_CHECK_GRID, _HEAD_CHECK_GRID,
                           generator=torch.Generator().manual_seed(0)).to(classifier.weight)
    with torch.no_grad():
        pooled = model.forward_head(features)
        dense = F.conv2d(features, classifier.weight[:, :, None, None], classifier.bias).mean(dim=(2, 3))
    error = (pooled - dense).abs().max().item()
    if error > _HEAD_CHECK_TOLERANCE * pooled.abs().max().item():
        raise ValueError(f'{name}: the head is not global average pooling followed by its Linear (the pooled '
                         f'dense map differs from forward_head by {error:.3g}), so the dense map would not be '
                         'this classifier')


def load_timm_weights(model: nn.Module, checkpoint: str | os.PathLike) -> None:
    """Load a local weights file into a timm model, strictly; resize its classifier to the file's classes.

    The file holds a state dict (possibly wrapped, see :func:`~lvseg.checkpoints.unwrap.unwrap_state_dict`)
    with timm's names, or an ``efficientnet_pytorch`` EfficientNet's (renamed by
    :func:`~lvseg.checkpoints.efficientnet.convert_efficientnet_pytorch`). When the file's classifier has
    another number of classes than ``model``, ``model.reset_classifier`` makes them agree first.
    """
    state_dict = unwrap_state_dict(load_checkpoint(checkpoint, map_location='cpu'))
    foreign = is_efficientnet_pytorch(state_dict)
    classifier = model.get_classifier()
    classifier_key = ('_fc' if foreign else next(n for n, m in model.named_modules() if m is classifier)) + '.weight'
    if classifier_key in state_dict and state_dict[classifier_key].shape[0] != model.num_classes:
        model.reset_classifier(state_dict[classifier_key].shape[0])
    if foreign:
        state_dict = convert_efficientnet_pytorch(state_dict, model.state_dict())
    model.load_state_dict(state_dict)


def timm_annotator(model_name: str, checkpoint: str | os.PathLike,
                   img_size: tuple[int, int] | None = None) -> DenseAnnotator:
    """The dense annotator of timm model ``model_name`` with the weights of the local file ``checkpoint``.

    Args:
        model_name: a timm model name, e.g. ``'tf_efficientnet_lite0'``, ``'dm_nfnet_f6'``,
            ``'vit_base_patch16_384'``. Built with ``pretrained=False``: nothing is downloaded.
        checkpoint: local weights, see :func:`load_timm_weights`.
        img_size: ``(H, W)`` input pixels; for a ViT the position embedding is resampled to it (a ViT only
            takes its own input size). CNNs take any size and ignore it.

    Returns:
        The annotator in eval mode, without gradients.

    Raises:
        UserError: timm has no model of that name (the message names the closest ones).
    """
    if not timm.is_model(model_name):
        close = get_close_matches(model_name, timm.list_models(), n=3)
        raise UserError(f'timm has no model {model_name!r}' +
                        (f': did you mean {" or ".join(close)}?' if close else ' (timm.list_models() lists them)'))
    model = timm.create_model(model_name, pretrained=False)
    load_timm_weights(model, checkpoint)
    model.eval().requires_grad_(False)
    if isinstance(model, VisionTransformer):
        if img_size is not None:
            model.set_input_size(img_size=img_size)
        return DenseAnnotator(TimmViTTokenMap(model), model.get_classifier())
    check_pooled_linear_head(model)
    return DenseAnnotator(TimmFeatureMap(model), model.get_classifier())


def token_labeling_annotator(config: str | os.PathLike, checkpoint: str | os.PathLike,
                             head: str = 'aux_head') -> DenseAnnotator:
    """The dense annotator of an lvseg ``TokenLabelingClassifier`` (``config``'s ``model``, ``checkpoint``).

    ``head='aux_head'`` (default) labels each patch token with the dense head, the one token labeling
    trains on every patch token (against the annotator's per-token labels): the natural dense classifier of
    such a model. ``head='head'`` applies the class-token head to every patch token instead, the generic
    rule for token models (docs/method.md#token-labeling), although that head never saw a patch token in training.

    Args:
        config: an lvseg config whose ``model`` is a ``TokenLabelingClassifier``.
        checkpoint: a checkpoint of that model (lvseg's pretraining writes them; EMA weights preferred),
            loaded strictly.
        head: ``'aux_head'`` or ``'head'``.

    Returns:
        The annotator in eval mode, without gradients; any input size (the position embedding is resized).
    """
    if head not in TOKEN_LABELING_HEADS:
        raise ValueError(f'head must be one of {TOKEN_LABELING_HEADS}, got {head!r}')
    model_cfg = Config.fromfile(config).model
    if model_cfg.get('type') != 'TokenLabelingClassifier':
        raise ValueError(f'{config}: model.type is {model_cfg.get("type")!r}, expected TokenLabelingClassifier')
    with DefaultScope.overwrite_default_scope('mmseg'):  # lvseg registers its models in mmseg's registry
        model = MODELS.build(model_cfg)
    model.load_state_dict(unwrap_state_dict(load_checkpoint(str(checkpoint), map_location='cpu')))
    model.eval().requires_grad_(False)
    return DenseAnnotator(TokenLabelingTokenMap(model.backbone), getattr(model, head))


def topk_maps(logits: Tensor, k: int = 5) -> Tensor:
    """Dense logits ``(B, K, h, w)`` -> stored top-k maps ``(B, 2, k, h, w)`` float16 (docs/method.md#token-labeling).

    ``[:, 0]`` the ``k`` largest logits of each position in decreasing order, ``[:, 1]`` their class indices
    as floats (float16 holds integers exactly up to 2048, hence ``K <= 2049``). ``k = 5`` as the published
    maps. Raises ``ValueError`` when a kept logit is NaN or beyond float16's range (about 65504).
    """
    if not 1 <= k <= logits.shape[1] or logits.shape[1] > MAX_NUM_CLASSES:
        raise ValueError(f'need 1 <= k <= K <= {MAX_NUM_CLASSES}, got k={k} for K={logits.shape[1]}')
    values, indices = logits.float().topk(k, dim=1)
    maps = torch.stack([values, indices.float()], dim=1).to(torch.float16)
    if not torch.isfinite(maps[:, 0]).all():
        raise ValueError('top-k logits are NaN or outside float16 range; check the model and its input '
                         'normalization (or run without --amp)')
    return maps
