"""The interface every lvseg backbone follows, written down once.

:class:`~lvseg.models.classifiers.TokenLabelingClassifier` (pretraining), the dense annotator, the checkpoint
loading of :mod:`.pretrained` and the layer-decay optimizer constructor use exactly these members; mmseg's
segmentors use only ``forward``. :class:`~.lvvit.LVViT`, :class:`~.t2t_vit.T2TViT` and
:class:`~.token_vit.TokenViT` implement it (tests/test_models/test_backbones.py checks each).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class TokenBackbone(Protocol):
    """A vision transformer that serves token-labeling classification and dense prediction alike."""

    embed_dims: int
    """Token width C."""
    final_norm: bool
    """Whether the final norm is built and applied; the classifier's heads read tokens after it."""

    def patch_embed(self, images: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Images ``(B, 3, H, W)`` -> patch tokens ``(B, h*w, C)`` and the token grid ``(h, w)``."""

    def forward_tokens(self, tokens: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """Patch tokens ``(B, h*w, C)`` -> class token and patch tokens ``(B, 1 + h*w, C)`` after all blocks
        and the final norm (position embedding resized to ``hw_shape``)."""

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Images ``(B, 3, H, W)`` -> dense feature maps ``(B, C_i, H_i, W_i)``, one per output index."""

    def load_pretrained(self, checkpoint: str | Mapping, source: str | None = None) -> dict[str, list[str]]:
        """Load classification or pretraining weights (a file, or a loaded checkpoint) into the backbone; return
        the ``dropped``, ``missing`` and ``unexpected`` key names."""

    def check_compatible(self, state_dict: dict[str, torch.Tensor], source: str) -> None:
        """Raise ValueError naming ``source`` if converted weights come from a model of another depth or width."""

    def get_layer_depth(self, param_name: str) -> tuple[int, int]:
        """``(depth, number of depths)`` of a parameter, for layer-wise learning-rate decay."""
