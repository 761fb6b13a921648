"""Reading a complete label store: :class:`LabelStore` maps its arrays and returns one image's map at a time."""
from __future__ import annotations

import operator
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .format import (
    DONE_FILE,
    HEADER_FILE,
    INDICES_FILE,
    SCORES_FILE,
    LabelStoreError,
    check_array,
    read_header,
    read_keys,
)
from .validate import value_problems


class LabelStore:
    """A complete label store, read-only: ``get(key)`` is the map of one image in the official layout.

    Opening checks the store's structure (header, file presence, array shapes and dtypes, file sizes, key
    count, ``complete`` flag, every ``done`` flag set) and raises :class:`LabelStoreError` naming the folder
    and the problem; with ``check_values=True`` it also scans every value (finite scores, indices in
    ``[0, num_classes)``), which reads the whole store. The arrays are memory-mapped on first use in each
    process (a forked or spawned data-loader worker maps the files itself; pickling drops the mappings), and
    the key -> row table is built on first use of a key (keys and table take about 0.2 GB per process for
    ImageNet's 1.28M images).

    Args:
        root: The store's folder.
        check_values: Also scan every value. Default False.
    """

    def __init__(self, root: str | os.PathLike, check_values: bool = False) -> None:
        self.root = Path(root)
        self.header = read_header(self.root)
        for name, (shape, dtype) in self.header.arrays().items():
            check_array(self.root, name, shape, dtype)
        done = np.load(self.root / DONE_FILE, mmap_mode='r')
        num_done = int(np.count_nonzero(done))
        if not self.header.complete:
            raise LabelStoreError(self.root, f'is incomplete ({num_done} of {self.header.num_images} rows written, '
                                             f'"complete": false in {HEADER_FILE}); finish writing it first')
        if num_done != self.header.num_images:
            raise LabelStoreError(self.root, f'is marked complete but only {num_done} of {self.header.num_images} '
                                             f'rows are flagged done in {DONE_FILE}')
        self.keys: tuple[str, ...] = read_keys(self.root, self.header.num_images)
        if check_values:
            problems = value_problems(self.root, self.header, self.keys)
            if problems:
                raise LabelStoreError(self.root, '; '.join(problems))
        self._rows: dict[str, int] | None = None
        self._maps: tuple[np.ndarray, np.ndarray] | None = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return self.header.num_images

    def __contains__(self, key: object) -> bool:
        return key in self._row_table()

    def row_of(self, key: str) -> int:
        """The row of image ``key``; ``KeyError`` naming the store if it has none."""
        try:
            return self._row_table()[key]
        except KeyError:
            raise KeyError(f'{key!r} has no row in label store {self.root}') from None

    def get(self, key: str | int) -> Tensor:
        """The map of image ``key`` (or of row ``key``) as the official ``(2, k, h, w)`` float16 tensor.

        ``[0]`` holds the top-k logits of each cell, ``[1]`` their class indices as floats (exact: < 2049).
        """
        row = self.row_of(key) if isinstance(key, str) else operator.index(key)
        if not 0 <= row < self.header.num_images:
            raise IndexError(f'row {row} out of range for label store {self.root} of {self.header.num_images} rows')
        scores, indices = self._mapped()
        topk = np.empty((2, *self.header.map_shape), np.float16)
        topk[0] = scores[row]
        topk[1] = indices[row]
        return torch.from_numpy(topk)

    def _row_table(self) -> dict[str, int]:
        if self._rows is None:
            self._rows = {key: row for row, key in enumerate(self.keys)}
        return self._rows

    def _mapped(self) -> tuple[np.ndarray, np.ndarray]:
        if self._pid != os.getpid():
            self._maps = (np.load(self.root / SCORES_FILE, mmap_mode='r'),
                          np.load(self.root / INDICES_FILE, mmap_mode='r'))
            self._pid = os.getpid()
        return self._maps

    def __getstate__(self) -> dict:
        return {**self.__dict__, '_rows': None, '_maps': None, '_pid': None}

