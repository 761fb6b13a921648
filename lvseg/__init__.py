"""lvseg: LV-ViT and token labeling for semantic segmentation on OpenMMLab.

Importing this package registers its modules in mmseg's registries, so configs only need
``custom_imports = dict(imports=['lvseg'], allow_failed_imports=False)``. It changes nothing else: how a run
behaves is the business of :class:`lvseg.engine.runner.LvsegRunner`, which lvseg's configs choose with
``runner_type='LvsegRunner'``.
"""
from . import datasets, deploy, engine, evaluation, models  # noqa: F401
from .version import __version__

__all__ = ['__version__']
