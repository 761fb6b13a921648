"""One ``error:`` line per mistake a user can fix, in every tool; a traceback only for a bug, or on request.

Every tool's ``main`` runs inside :func:`user_errors` (a context manager that also decorates). A user error
ends the process with its message as ``error: ...`` lines on stderr (one per line of the message, most are
one line) and exit status :data:`EXIT_STATUS` (2, as argparse's usage errors). User errors are:

- :class:`UserError`, which a tool raises for a file or option it refuses (:func:`require_file`,
  :func:`require_writable_folder`);
- the exception types passed to :func:`user_errors` (the engine's ``ConfigError``, the checkpoint errors, ...);
- ``SystemExit`` with a message (``raise SystemExit('...')``): its lines, ``error:`` put before those without;
- an ``OSError`` about a path (``filename`` set) that says no such file, already exists, permission denied, is a
  folder, is not a folder, read-only file system or no space left (``FileNotFoundError``, ``FileExistsError``,
  ``PermissionError``, ``IsADirectoryError``, ``NotADirectoryError``; errno ``EACCES``, ``EPERM``, ``EROFS``,
  ``ENOSPC`` of any ``OSError``, :data:`OS_PROBLEMS`):
  ``error: <path>: <what>; <what to do>``; and a ``FileNotFoundError`` without one (mmengine's and lvseg's
  data sets' name the file in the message): ``error: <its message>``.

An error that a DataLoader worker re-raised (its message holds the worker's ``Original Traceback``) is cut to
the original error's message. Anything else propagates: a traceback, as for a bug. ``--debug``
(:func:`add_debug_argument`) or ``LVSEG_DEBUG=1`` lets user errors propagate too, traceback included.

This module imports nothing of lvseg, so that every package and tool may use it.
"""
from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEBUG_ENV = 'LVSEG_DEBUG'
EXIT_STATUS = 2
_TRUE = ('1', 'true', 'yes', 'y')
# What an OSError about a path says, by errno: what is wrong; what to do.
OS_PROBLEMS = {
    errno.ENOENT: 'no such file or folder; check the path',
    errno.EEXIST: 'already exists; remove it or choose another path',
    errno.EACCES: 'permission denied; change its permissions or choose a path you may use',
    errno.EPERM: 'operation not permitted; change its permissions or choose a path you may use',
    errno.EISDIR: 'is a folder; give a file',
    errno.ENOTDIR: 'a part of this path is a file, not a folder; check the path',
    errno.EROFS: 'read-only file system; choose a folder on a writable disk',
    errno.ENOSPC: 'no space left on the device; free some space or choose another disk',
}


class UserError(Exception):
    """A mistake the user can fix; the message names the file (or option, or config key) and what to do."""


def debug_enabled() -> bool:
    """Whether ``LVSEG_DEBUG`` is set to a true value (``1``, ``true``, ``yes``), as ``--debug`` sets it."""
    return os.environ.get(DEBUG_ENV, '').strip().lower() in _TRUE


class _DebugAction(argparse.Action):
    """``--debug``: true, and ``LVSEG_DEBUG=1`` in this process and the processes it starts."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=False, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, True)
        os.environ[DEBUG_ENV] = '1'


def add_debug_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--debug`` to ``parser`` (to each sub-command's parser, for a tool with sub-commands)."""
    parser.add_argument('--debug', action=_DebugAction,
                        help=f'show the traceback of an error, not only its error: line (same as {DEBUG_ENV}=1)')


def require_file(path: str | os.PathLike, what: str) -> None:
    """Raise :class:`UserError` ``<path>: no such <what> file`` unless ``path`` is a file (e.g. ``what='config'``)."""
    if os.path.isdir(path):
        raise UserError(f'{path}: is a folder; give the {what} file')
    if not os.path.isfile(path):
        raise UserError(f'{path}: no such {what} file')


def require_writable_folder(path: str | os.PathLike, what: str) -> None:
    """Raise :class:`UserError` naming ``path`` unless it is a folder this process may write into, or one it may
    create (its nearest existing ancestor is such a folder); ``what`` names it, e.g. ``'output folder'``.

    A check before the work starts, so that an unwritable output stops a run before its first hour, not after.
    """
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    where = '' if existing == path else f'{existing} '
    if not existing.is_dir():
        raise UserError(f'{path}: {where}is a file, not a folder; choose another {what}')
    if not os.access(existing, os.W_OK | os.X_OK):
        readonly = os.statvfs(existing).f_flag & os.ST_RDONLY
        problem = 'is on a read-only file system' if readonly else 'is not writable for this user (permissions)'
        raise UserError(f'{path}: {where}{problem}; choose another {what}' +
                        ('' if readonly else ' or change its permissions'))


def _message_lines(error: BaseException) -> list[str]:
    """The lines of ``error``'s message; for an error re-raised by a DataLoader worker, the original's message."""
    text = str(error)
    lines = [line for line in text.splitlines() if line.strip()] or [type(error).__name__]
    if 'Original Traceback' in text:  # the worker's traceback, whose last line is '<module.Type>: <message>'
        return [lines[-1].split(f'{type(error).__name__}: ', 1)[-1]]
    return lines


def error_lines(error: BaseException, types: tuple[type[BaseException], ...] = ()) -> list[str] | None:
    """The ``error:`` lines of ``error`` if it is a user error (see the module; ``types``: more user-error
    types), else None."""
    if isinstance(error, SystemExit):
        if not isinstance(error.code, str):
            return None
        return [line if line.startswith('error:') else f'error: {line}'
                for line in error.code.splitlines() if line.strip()]
    if isinstance(error, (UserError, *types)):
        return [f'error: {line}' for line in _message_lines(error)]
    if isinstance(error, OSError):
        if error.filename is not None and error.errno in OS_PROBLEMS:
            return [f'error: {os.fsdecode(error.filename)}: {OS_PROBLEMS[error.errno]}']
        if isinstance(error, FileNotFoundError):
            return [f'error: {line}' for line in _message_lines(error)]
    return None


@contextmanager
def user_errors(*types: type[BaseException]) -> Iterator[None]:
    """End the process on a user error (see the module; ``types``: more user-error types) with its ``error:``
    lines on stderr and exit status 2; let anything else propagate, and everything under ``--debug``
    (``LVSEG_DEBUG=1``) but a ``SystemExit``'s message, which has no traceback to show.

    Use ``with user_errors(ConfigError): ...`` or decorate a tool's ``main`` with ``@user_errors(...)``.
    """
    try:
        yield
    except BaseException as error:  # noqa: BLE001  (anything but a user error is raised again)
        lines = error_lines(error, types)
        if lines is None or (debug_enabled() and not isinstance(error, SystemExit)):
            raise
        sys.stdout.flush()
        print('\n'.join(lines), file=sys.stderr, flush=True)
        raise SystemExit(EXIT_STATUS) from None
