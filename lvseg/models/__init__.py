"""lvseg's models, registered in mmseg's ``MODELS``."""
from .backbones import LVViT

__all__ = ['LVViT']
