"""lvseg: LV-ViT and token labeling for semantic segmentation on OpenMMLab.

Importing this package registers its modules in mmseg's registries, so configs only need
``custom_imports = dict(imports=['lvseg'], allow_failed_imports=False)``.
"""
from . import compat  # noqa: F401, I001  (first: the shims apply before anything loads a checkpoint)
from . import datasets, engine, evaluation, models  # noqa: F401
from .version import __version__

__all__ = ['__version__']
