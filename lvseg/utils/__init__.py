"""Small helpers that several lvseg packages share and no package owns."""
from .atomic_write import atomic_write_path, save_atomically, write_text_atomically

__all__ = ['atomic_write_path', 'save_atomically', 'write_text_atomically']
