"""Reading and writing checkpoint files safely.

Writing: a crash or ``kill -9`` never leaves a half-written file under the final name
(:func:`atomic_write_path`, :func:`save_atomically`, :func:`write_text_atomically`).

Reading: :func:`load_checkpoint_file` loads with ``torch.load(weights_only=True)``: tensors, containers and the
data-only types that :mod:`lvseg.compat` allow-lists (mmengine's message hub, numpy arrays, argparse
namespaces). A file that needs any other Python object is refused with :class:`UnsafeCheckpointError`, which
names the file and the objects, unless unsafe loading is allowed: ``LVSEG_UNSAFE_LOAD=1`` in the environment,
which the tools' ``--unsafe-load`` sets. :mod:`lvseg.compat` makes this mmengine's loader of local files, so
``--resume``, ``load_from``, ``init_cfg=dict(type='Pretrained')`` and ``tools/test.py`` all go through it.
"""
from __future__ import annotations

import logging
import os
import pickle
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from mmengine.logging import print_log

UNSAFE_LOAD_ENV = 'LVSEG_UNSAFE_LOAD'
_TRUE = ('1', 'true', 'yes', 'y')
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read the umask once: written files get the mode open() would give them


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds Python objects other than weights, and unsafe loading is not allowed."""


class UnreadableCheckpointError(RuntimeError):
    """A checkpoint file that ``torch.load`` cannot read (truncated, not a torch file)."""


def unsafe_load_allowed() -> bool:
    """Whether ``LVSEG_UNSAFE_LOAD`` is set to a true value (``1``, ``true``, ``yes``)."""
    return os.environ.get(UNSAFE_LOAD_ENV, '').strip().lower() in _TRUE


def allow_unsafe_load() -> None:
    """Allow unsafe loading in this process and the processes it starts (what ``--unsafe-load`` does)."""
    os.environ[UNSAFE_LOAD_ENV] = '1'


def _unsafe_globals(path: str, error: Exception) -> list[str]:
    """The ``module.name`` globals of checkpoint ``path`` that weights-only loading refuses."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip checkpoint (legacy format): take the one torch named
        names = []
    return names or re.findall(r'GLOBAL (\S+) was not an allowed global', str(error)) or ['(not named by torch)']


def load_checkpoint_file(path: str | os.PathLike, map_location: Any = None) -> Any:
    """``torch.load(path, weights_only=True)``; refuse, or with ``LVSEG_UNSAFE_LOAD=1`` load anyway, a file
    that needs other Python objects.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        UnsafeCheckpointError: the file needs objects outside the allow-list; the message names the file, the
            objects (``module.name``) and how to load it if it is trusted.
        UnreadableCheckpointError: the file is truncated or not a torch file; the message names it.
    """
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint file')
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        names = _unsafe_globals(path, error)
        if not unsafe_load_allowed():
            raise UnsafeCheckpointError(
                f'{path}: refusing to load this checkpoint: it holds Python objects that are not weights '
                f'({", ".join(names)}), and unpickling them could run arbitrary code. If you trust the file, '
                f'load it with --unsafe-load (or {UNSAFE_LOAD_ENV}=1).') from error
    except (RuntimeError, EOFError) as error:  # torch names neither the file nor the likely cause
        raise UnreadableCheckpointError(f'{path}: not a readable checkpoint, truncated or not written by torch.save '
                                        f'({type(error).__name__}: {error})') from error
    print_log(f'{path}: loading with weights_only=False ({UNSAFE_LOAD_ENV}=1 / --unsafe-load): it holds '
              f'{", ".join(names)}, and unpickling can run arbitrary code', logger='current', level=logging.WARNING)
    return torch.load(path, map_location=map_location, weights_only=False)


def load_from_local_weights_only(filename: str, map_location: Any = None) -> Any:
    """mmengine's ``CheckpointLoader`` scheme for local files (prefix ``''``): :func:`load_checkpoint_file`."""
    return load_checkpoint_file(filename, map_location)


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


@contextmanager
def atomic_write_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; on success fsync it and rename it over ``path``.

    The temporary file is ``.<name>.<random>.part`` in the same folder (a rename across file systems is not
    atomic). If the body raises, it is removed and ``path`` is untouched; if the process is killed, ``path``
    holds the old file or the complete new one, never a part.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.part', dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp made it private
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def save_atomically(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` ``obj`` into a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    path = Path(path)
    with atomic_write_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def save_checkpoint_atomically(checkpoint: dict, filename: str, file_client_args: dict | None = None,
                               backend_args: dict | None = None) -> None:
    """mmengine's ``save_checkpoint`` (same arguments), writing local files with :func:`save_atomically`.

    mmengine 0.10.7 writes ``torch.save``'s bytes straight into the final file: a kill while writing leaves a
    truncated checkpoint under the final name, which ``--resume`` then fails to read. Other storage (``pavi://``,
    ``s3://``, ``file_client_args``) goes to mmengine's own function.
    """
    from mmengine.fileio import LocalBackend, get_file_backend
    from mmengine.runner.checkpoint import save_checkpoint

    if (file_client_args is None and not filename.startswith('pavi://')
            and isinstance(get_file_backend(filename, backend_args=backend_args), LocalBackend)):
        save_atomically(checkpoint, filename)
    else:
        save_checkpoint(checkpoint, filename, file_client_args=file_client_args, backend_args=backend_args)


def write_text_atomically(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename (e.g. mmengine's ``last_checkpoint``)."""
    path = Path(path)
    with atomic_write_path(path) as tmp:
        tmp.write_text(text)
    return path
