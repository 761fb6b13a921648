"""Small helpers that several lvseg packages share and no package owns."""
from .atomic_write import atomic_write_path, save_atomically, write_text_atomically
from .precision import float32_region

__all__ = ['atomic_write_path', 'float32_region', 'save_atomically', 'write_text_atomically']
