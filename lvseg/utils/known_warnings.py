"""The third-party warnings that every lvseg run shows and no lvseg user can act on, and the two ways they go.

Each filter names the category (or log level), a regular expression that the message must match and, for Python
warnings, the module the warning is attributed to; the comment above it says why it is noise. A warning that
may point at a problem in the user's config or data, or that the user can act on, is not listed: the
DataLoader's "worker processes" warning is answered by the run policy
(:func:`lvseg.engine.run_policy.fit_workers_to_cores`), not hidden, and mmengine's "Setting MKL_NUM_THREADS
environment variable for each process to be 1" (each rank of a distributed run) stays until MKL_NUM_THREADS is set.

- Python warnings (:data:`KNOWN_WARNINGS`) are ignored by :func:`ignore_known_warnings`, which lvseg's tools call
  first in their ``__main__`` block, in every process they start (each torchrun rank runs the tool's script), so
  ``import lvseg`` in another program changes no warning filter. Those of the list fire when a config is read, a
  model or a data set is built, not at import, so a filter installed after ``import lvseg`` is in time.
- mmengine's log records (:data:`KNOWN_LOG_WARNINGS`) go through its ``MMLogger`` (``print_log``), not through
  ``warnings``, so no warning filter reaches them; :class:`KnownLogWarnings` is a ``logging.Filter`` that
  :class:`~lvseg.engine.runner.LvsegRunner` puts on its own logger (:func:`lvseg.engine.console_log.quiet_logger`),
  which is the "current" logger ``print_log`` writes to during an lvseg run and no one else's. (An
  ``MMLogger`` is kept by mmengine's ``ManagerMixin``, outside ``logging``'s hierarchy: a filter on
  ``logging.getLogger('mmengine')`` would see none of its records.)

Read in mmseg 1.2.2, mmengine 0.10.7, torch 2.14 and setuptools < 81 (which still ships ``pkg_resources``).

This module imports nothing of lvseg, mmengine or torch.
"""
from __future__ import annotations

import logging
import re
import sys
import warnings
from typing import NamedTuple


class KnownWarning(NamedTuple):
    """A Python warning to ignore: ``warnings.filterwarnings('ignore', message, category, module)``."""

    category: type[Warning]
    message: str  # a regular expression matched at the start of the message
    module: str  # a regular expression matched against the whole name of the module the warning is attributed to


KNOWN_WARNINGS = (
    # mmengine's Config.fromfile finds the package of a `mmseg::` base config with pkg_resources, which it imports
    # and then reloads once per lookup (attributed to importlib): 4 warnings per tool, 8 under a 2-rank torchrun.
    # setuptools is pinned below 81 (pyproject.toml) so that pkg_resources stays; nothing for a user to change.
    KnownWarning(UserWarning, r'pkg_resources is deprecated as an API', r'(mmengine\.utils\.package_utils|importlib)'),
    # mmseg's own BaseDecodeHead builds its losses with mmseg's deprecated build_loss: no config can avoid it.
    KnownWarning(UserWarning, r'``build_loss`` would be deprecated soon', r'mmseg\.models\.builder'),
    # mmseg warns for every CrossEntropyLoss built with avg_non_ignore=False (the default, which the published
    # LV-ViT recipe on mmseg 0.x trained with), even where a config sets False on purpose: a config cannot answer
    # it, and one that wants the other average sets avg_non_ignore=True.
    KnownWarning(UserWarning, r'Default ``avg_non_ignore`` is False', r'mmseg\.models\.losses\.cross_entropy_loss'),
    # mmseg's ADE20K pipelines (and lvseg's demo) pass reduce_zero_label to LoadAnnotations as well as to the data
    # set; LoadAnnotations asserts that the two agree, so a config that gets it wrong still stops with a message.
    KnownWarning(UserWarning, r'`reduce_zero_label` will be deprecated', r'mmseg\.datasets\.transforms\.loading'),
    # Every config inherits mmseg's SegVisualizationHook(draw=False): drawing is off on purpose (tools/test.py
    # --show-dir turns it on), and the hook says so at every run.
    KnownWarning(UserWarning, r'The draw is False, it means that the hook for visualization will not take effect',
                 r'mmseg\.engine\.hooks\.visualization_hook'),
    # torch 2.14 deprecates DDP's broadcast_buffers, which mmengine's DDP wrapper is given in every distributed run
    # (False: mmengine's default, and lvseg's CPU fallback's); torch itself advises keeping it until
    # init_sync_buffers exists, since its successor syncs the buffers at start. Once per rank; nothing to change.
    KnownWarning(FutureWarning, r'`broadcast_buffers` is deprecated', r'mmengine\.model\.wrappers\.distributed'),
)


class KnownLogWarning(NamedTuple):
    """A record of mmengine's logger to drop: its level and a regular expression its message must start with."""

    level: int
    message: str


KNOWN_LOG_WARNINGS = (
    # mmengine's own CheckpointHook and save_checkpoint build a FileClient (deprecated by mmengine itself) whatever
    # the config says: once when training starts and once per checkpoint saved.
    KnownLogWarning(logging.WARNING, r'"FileClient" will be deprecated in future'),
    # ... and that FileClient picks the local-disk backend under its old name.
    KnownLogWarning(logging.WARNING, r'"HardDiskBackend" is the alias of "LocalBackend"'),
    # mmseg's IoUMetric has no default prefix, and mmseg's configs give it none: its metrics are logged under their
    # own names (mIoU, aAcc), as mmseg documents them. Another metric without a prefix is still reported.
    KnownLogWarning(logging.WARNING, r'The prefix is not set in metric class IoUMetric\.'),
)


def ignore_known_warnings() -> None:
    """Ignore the warnings of :data:`KNOWN_WARNINGS` in this process, unless the user chose the warning filters
    (``python -W ...`` or ``PYTHONWARNINGS``: ``sys.warnoptions`` is not empty), whose choice stands.

    For the ``__main__`` block of lvseg's tools, before anything else runs; a library never calls it.
    """
    if sys.warnoptions:
        return
    for known in KNOWN_WARNINGS:
        warnings.filterwarnings('ignore', message=known.message, category=known.category, module=known.module + r'\Z')


class KnownLogWarnings(logging.Filter):
    """A ``logging.Filter`` that drops the records of :data:`KNOWN_LOG_WARNINGS` and passes every other."""

    patterns = tuple((known.level, re.compile(known.message)) for known in KNOWN_LOG_WARNINGS)

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str):
            return True
        return not any(record.levelno == level and pattern.match(record.msg) for level, pattern in self.patterns)
