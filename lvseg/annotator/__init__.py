"""Annotators that write token-label maps (top-k score maps per image) for token labeling."""
from .from_masks import logit_scale, topk_map_from_mask, write_label_maps_from_masks

__all__ = ['logit_scale', 'topk_map_from_mask', 'write_label_maps_from_masks']
