"""Annotators that write token-label maps (top-k score maps per image) for token labeling."""
from .dense import DenseAnnotator, timm_annotator, token_labeling_annotator, topk_maps
from .run import Preprocessing, annotate

__all__ = ['DenseAnnotator', 'Preprocessing', 'annotate', 'timm_annotator', 'token_labeling_annotator', 'topk_maps']
