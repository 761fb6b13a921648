"""Losses, registered in mmseg's ``MODELS``."""
from .token_labeling import TokenLabelingLoss

__all__ = ['TokenLabelingLoss']
