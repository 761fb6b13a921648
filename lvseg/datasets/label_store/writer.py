"""Writing a label store: :class:`LabelStoreWriter` creates or resumes a store, writes its rows and finishes it."""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from numpy.lib import format as npy_format
from torch import Tensor

from ...utils.atomic_write import write_text_atomically
from .format import (
    DONE_FILE,
    HEADER_FILE,
    INDICES_FILE,
    KEYS_FILE,
    SCORES_FILE,
    LabelStoreError,
    LabelStoreHeader,
    check_array,
    check_keys,
    examples,
    read_header,
    read_keys,
)
from .validate import invalid_rows


class LabelStoreWriter:
    """Creates a label store, or resumes an unfinished one, and writes its rows (see the package docstring).

    Args:
        root: The store's folder. If it is missing (or empty), the store is created there with no row done.
            If it holds a store, that store must have the same ``keys``, ``k``, ``grid``, ``num_classes``
            and ``annotator``; writing resumes where it stopped (a complete store has nothing left to do).
        keys: The image of each row, e.g. ``'n01440764/n01440764_10026.JPEG'`` (path relative to the image
            root); unique, non-empty, no line breaks.
        k: Classes kept per map cell.
        grid: ``(h, w)`` map cells.
        num_classes: ``K``, the annotator's classes, at most :data:`MAX_NUM_CLASSES`.
        annotator: Free text naming what writes the maps.
    """

    def __init__(self, root: str | os.PathLike, keys: Sequence[str], k: int, grid: Sequence[int],
                 num_classes: int, annotator: str) -> None:
        root = Path(root)
        header = LabelStoreHeader(num_images=len(keys), k=k, grid=tuple(grid), num_classes=num_classes,
                                  annotator=annotator)
        keys = tuple(keys)
        check_keys(keys)
        if not root.exists() or (root.is_dir() and not any(root.iterdir())):
            _create(root, header, keys)
        self._open(root)
        differences = [f'{name} {getattr(self.header, name)!r} (not {getattr(header, name)!r})'
                       for name in ('num_images', 'k', 'grid', 'num_classes', 'annotator')
                       if getattr(self.header, name) != getattr(header, name)]
        if differences:
            raise LabelStoreError(root, f'exists with {", ".join(differences)}; resume with the same settings or '
                                        'write to another folder')
        if self.keys != keys:
            row = next(i for i, (a, b) in enumerate(zip(self.keys, keys)) if a != b)
            raise LabelStoreError(root, f'exists with other keys: row {row} is {self.keys[row]!r}, not '
                                        f'{keys[row]!r}; resume with the same keys or write to another folder')

    @classmethod
    def open_existing(cls, root: str | os.PathLike) -> LabelStoreWriter:
        """Attach to the store ``root`` as it is (another rank created it): its keys, shape and progress."""
        writer = cls.__new__(cls)
        writer._open(Path(root))
        return writer

    def _open(self, root: Path) -> None:
        self.root = root
        self.header = read_header(root)
        for name, (shape, dtype) in self.header.arrays().items():
            check_array(root, name, shape, dtype)
        self.keys: tuple[str, ...] = read_keys(root, self.header.num_images)
        self._scores, self._class_indices, self._done = (
            npy_format.open_memmap(root / name, mode='r+') for name in (SCORES_FILE, INDICES_FILE, DONE_FILE))

    def rows_to_do(self, block: range | None = None) -> np.ndarray:
        """The rows of ``block`` (default: all rows) not yet written, increasing, as an int64 array.

        Concurrent writers each take a block of contiguous rows (the package docstring), so that no two of them
        write into one page of the row arrays.
        """
        rows = np.arange(self.header.num_images)[block if block is not None else slice(None)]
        return rows[self._done[rows] == 0]

    def write(self, rows: Sequence[int] | np.ndarray | Tensor, scores: np.ndarray | Tensor,
              indices: np.ndarray | Tensor) -> None:
        """Store the maps of ``rows``, flush them to disk, then mark the rows done.

        Each call flushes the pages it touched synchronously, so batches of neighbouring rows (as an
        annotator walks its share) are cheap and scattered rows cost a disk write each.

        Args:
            rows: ``(B,)`` distinct row numbers in ``[0, N)``.
            scores: ``(B, k, h, w)`` top-k logits, any float dtype, finite once stored as float16.
            indices: ``(B, k, h, w)`` integer class indices in ``[0, num_classes)``.
        """
        if self.header.complete:
            raise LabelStoreError(self.root, 'is complete (finished); it is not written again')
        rows = _as_array(rows)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise ValueError(f'rows must be a 1-D sequence of integers, got {rows.dtype} of shape {rows.shape}')
        if rows.size and (rows.min() < 0 or rows.max() >= self.header.num_images):
            raise ValueError(f'rows must lie in [0, {self.header.num_images}), got {rows.min()} to {rows.max()}')
        if np.unique(rows).size != rows.size:
            raise ValueError('rows must be distinct')
        scores, indices = _as_array(scores), _as_array(indices)
        expected = (rows.size, *self.header.map_shape)
        if scores.shape != expected or indices.shape != expected:
            raise ValueError(f'scores and indices must have shape (B, k, h, w) = {expected}, got {scores.shape} '
                             f'and {indices.shape}')
        if not np.issubdtype(scores.dtype, np.floating) or not np.issubdtype(indices.dtype, np.integer):
            raise ValueError(f'scores must be floats and indices integers, got {scores.dtype} and {indices.dtype}')
        with np.errstate(over='ignore'):  # overflow to inf is reported below
            scores = scores.astype(np.float16)
        invalid = invalid_rows(scores, indices, self.header.num_classes)
        if invalid:
            found = '; '.join(f'{what} in {examples(rows[positions], self.keys)}'
                              for what, positions in invalid.items())
            raise ValueError(f'{found}; nothing of this batch was written')
        self._scores[rows] = scores
        self._class_indices[rows] = indices
        self._scores.flush()
        self._class_indices.flush()
        self._done[rows] = 1
        self._done.flush()

    def finish(self) -> None:
        """Check that every row is done, then mark the store complete (atomically); a no-op once complete."""
        if self.header.complete:
            return
        left = np.flatnonzero(self._done[:] == 0)
        if left.size:
            raise LabelStoreError(self.root, f'{left.size} of {self.header.num_images} rows are not written yet, '
                                             f'e.g. {examples(left, self.keys)}; write them before finish()')
        header = dataclasses.replace(self.header, complete=True)
        write_header(self.root, header)
        self.header = header


def _create(root: Path, header: LabelStoreHeader, keys: Sequence[str]) -> None:
    """Write an empty store (no row done) in a hidden sibling of ``root``, then rename it to ``root``."""
    root.parent.mkdir(parents=True, exist_ok=True)
    partial = _create_partial_folder(root)
    try:
        for name, (shape, dtype) in header.arrays().items():
            npy_format.open_memmap(partial / name, mode='w+', dtype=dtype, shape=shape).flush()  # zeros, sparse
            _fsync(partial / name)
        (partial / KEYS_FILE).write_text(''.join(f'{key}\n' for key in keys), encoding='utf-8')
        _fsync(partial / KEYS_FILE)
        write_header(partial, header)
        os.rename(partial, root)  # replaces an empty folder only
        _fsync(root.parent)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _create_partial_folder(root: Path) -> Path:
    """Create an empty ``.<name>.creating-<8 random hex digits>`` beside ``root``, with the mode a plain ``mkdir``
    gives (``0o777`` less the process umask, applied by the kernel; ``tempfile.mkdtemp`` would give ``0o700``)."""
    while True:
        partial = root.with_name(f'.{root.name}.creating-{secrets.token_hex(4)}')
        try:
            partial.mkdir()
            return partial
        except FileExistsError:
            continue


def write_header(root: Path, header: LabelStoreHeader) -> None:
    """Write ``header.json`` into ``root`` atomically (temporary file, fsync, rename, fsync the folder)."""
    write_text_atomically(json.dumps(header.to_json(), indent=2), root / HEADER_FILE)


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's data and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _as_array(values: Sequence[int] | np.ndarray | Tensor) -> np.ndarray:
    """A numpy view (or copy) of a tensor, array or sequence; bfloat16 tensors become float32."""
    if isinstance(values, Tensor):
        values = values.detach().cpu()
        return (values.float() if values.dtype == torch.bfloat16 else values).numpy()
    return np.asarray(values)
