"""Backbones. ViT/DeiT reuse mmseg's ``VisionTransformer``."""
from .lvvit import LVViT

__all__ = ['LVViT']
