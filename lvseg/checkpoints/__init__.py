"""Checkpoint converters: pure functions from foreign state dicts to lvseg's parameter names."""
from .lvvit import convert_lvvit_checkpoint
from .t2t_vit import convert_t2t_vit_checkpoint
from .unwrap import unwrap_state_dict
from .vit import convert_timm_vit_checkpoint

__all__ = ['convert_lvvit_checkpoint', 'convert_t2t_vit_checkpoint', 'convert_timm_vit_checkpoint',
           'unwrap_state_dict']
