"""lvseg's models, registered in mmseg's ``MODELS``."""
from .backbones import LVViT
from .classifiers import TokenLabelingClassifier, TokenLabelingDataPreprocessor
from .losses import TokenLabelingLoss

__all__ = ['LVViT', 'TokenLabelingClassifier', 'TokenLabelingDataPreprocessor', 'TokenLabelingLoss']
