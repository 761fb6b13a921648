"""Annotators that write token-label maps (top-k score maps per image) for token labeling."""
from .dense import DenseAnnotator, timm_annotator, token_labeling_annotator, topk_maps
from .from_masks import logit_scale, topk_map_from_mask, write_label_maps_from_masks
from .run import Preprocessing, annotate

__all__ = ['DenseAnnotator', 'Preprocessing', 'annotate', 'logit_scale', 'timm_annotator', 'token_labeling_annotator',
           'topk_map_from_mask', 'topk_maps', 'write_label_maps_from_masks']
