"""Which checkpoint ``--resume`` takes in a work dir, also after the work dir was moved or copied.

mmengine's ``CheckpointHook`` records the absolute path of the latest checkpoint in ``<work_dir>/last_checkpoint``,
and ``find_latest_checkpoint`` returns that path as it is: in a copied work dir, ``--resume`` resumed from the
original folder's file (or failed once that was gone), without a word. :func:`latest_checkpoint` prefers this work
dir's file of the recorded name and says which file it takes when that differs from the record.
"""
from __future__ import annotations

import os.path as osp

from .config_checks import ConfigError

RECORD = 'last_checkpoint'  # mmengine's file name


def latest_checkpoint(work_dir: str) -> tuple[str | None, str | None]:
    """``(checkpoint to resume from, a note for the log or None)`` for ``work_dir``; ``(None, note)`` when the work
    dir records no checkpoint.

    The recorded path when it lies in ``work_dir``; else ``work_dir``'s file of the same name (the work dir was
    moved or copied); else the recorded file outside it, said so.

    Raises:
        ConfigError: the record names a file that exists neither where it says nor in ``work_dir``.
    """
    record = osp.join(work_dir, RECORD)
    if not osp.isfile(record):
        return None, f'--resume: {record} does not exist (no checkpoint saved yet): training from the start'
    with open(record) as file:
        recorded = file.read().strip()
    here = osp.join(work_dir, osp.basename(recorded))
    if osp.isfile(recorded) and osp.samefile(osp.dirname(osp.abspath(recorded)), work_dir):
        return recorded, None
    if osp.isfile(here):
        return here, (f'--resume: {record} names {recorded}, outside this work dir (moved or copied); resuming from '
                      f'{here}, this work dir\'s file of that name')
    if osp.isfile(recorded):
        return recorded, (f'--resume: resuming from {recorded}, outside this work dir, as {record} names it (this '
                          f'work dir holds no {osp.basename(recorded)})')
    raise ConfigError(f'{record}: names {recorded}, which does not exist, and {work_dir} holds no '
                      f'{osp.basename(recorded)}; give the checkpoint to resume from with --cfg-options '
                      'load_from=PATH --resume, or train without --resume')
