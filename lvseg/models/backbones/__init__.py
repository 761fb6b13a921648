"""Backbones. ViT/DeiT reuse mmseg's ``VisionTransformer`` (``TokenViT`` only adds the token interface)."""
from .lvvit import LVViT
from .t2t_vit import T2TViT
from .token_vit import TokenViT

__all__ = ['LVViT', 'T2TViT', 'TokenViT']
