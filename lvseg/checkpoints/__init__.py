"""Checkpoint converters: pure functions from foreign state dicts to lvseg's parameter names."""
from .lvvit import convert_lvvit_checkpoint
from .unwrap import unwrap_state_dict

__all__ = ['convert_lvvit_checkpoint', 'unwrap_state_dict']
