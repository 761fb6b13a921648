"""Padding images to a backbone's token stride, as mmseg's 'corner' padding does: LV-ViT's stem and T2T-ViT's
soft splits."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_to_multiple(images: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad ``(..., H, W)`` at the bottom and right to multiples of ``multiple`` pixels; ``images`` itself
    where both already are."""
    pad_h, pad_w = -images.shape[-2] % multiple, -images.shape[-1] % multiple
    if pad_h or pad_w:
        images = F.pad(images, (0, pad_w, 0, pad_h))
    return images
