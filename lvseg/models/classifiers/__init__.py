"""Image classifiers for pretraining backbones, registered in mmseg's ``MODELS``."""
from .data_preprocessor import TokenLabelBatch, TokenLabelingDataPreprocessor
from .token_labeling import TokenLabelingClassifier

__all__ = ['TokenLabelBatch', 'TokenLabelingClassifier', 'TokenLabelingDataPreprocessor']
