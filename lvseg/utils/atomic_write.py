"""Writing files so that a crash or ``kill -9`` never leaves a half-written file under the final name.

Used for everything lvseg writes that a user keeps: checkpoints, ``last_checkpoint`` pointers, label-store
headers, token-label maps.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

PART_SUFFIX = '.part'


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_part_file(path: Path) -> Path:
    """Create an empty ``.<name>.<8 random hex digits>.part`` beside ``path``, with the mode ``open()`` would
    give a new file (``0o666`` less the process umask, applied by the kernel)."""
    while True:
        part = path.with_name(f'.{path.name}.{secrets.token_hex(4)}{PART_SUFFIX}')
        try:
            os.close(os.open(part, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return part
        except FileExistsError:
            continue


@contextmanager
def atomic_write_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; on success fsync it and rename it over ``path``.

    The temporary file is ``.<name>.<8 hex digits>.part`` in the same folder (a rename across file systems is
    not atomic). If the body raises, it is removed and ``path`` is untouched; if the process is killed, ``path``
    holds the old file or the complete new one, never a part.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = _create_part_file(path)
    try:
        yield part
        with open(part, 'rb+') as f:
            os.fsync(f.fileno())
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def save_atomically(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` ``obj`` into a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    path = Path(path)
    with atomic_write_path(path) as part:
        torch.save(obj, part)
    return path


def write_text_atomically(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename (e.g. mmengine's ``last_checkpoint``)."""
    path = Path(path)
    with atomic_write_path(path) as part:
        part.write_text(text)
    return path
