"""lvseg's models, registered in mmseg's ``MODELS``."""
from .backbones import LVViT, T2TViT, TokenViT
from .classifiers import TokenLabelingClassifier, TokenLabelingDataPreprocessor
from .losses import TokenLabelingLoss

__all__ = ['LVViT', 'T2TViT', 'TokenLabelingClassifier', 'TokenLabelingDataPreprocessor', 'TokenLabelingLoss',
           'TokenViT']
