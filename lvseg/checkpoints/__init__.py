"""Checkpoint converters: pure functions from foreign state dicts to lvseg's parameter names."""
from .lvvit import convert_lvvit_checkpoint
from .official_classifier import convert_classifier_checkpoint
from .official_segmentor import convert_segmentor_checkpoint
from .released import adapt_released_checkpoint, convert_released_checkpoint
from .t2t_vit import convert_t2t_vit_checkpoint
from .unwrap import unwrap_state_dict
from .vit import convert_timm_vit_checkpoint

__all__ = ['adapt_released_checkpoint', 'convert_classifier_checkpoint', 'convert_lvvit_checkpoint',
           'convert_released_checkpoint', 'convert_segmentor_checkpoint', 'convert_t2t_vit_checkpoint',
           'convert_timm_vit_checkpoint', 'unwrap_state_dict']
