"""The on-disk format of a label store: its constants, header, errors and the structural checks of its files.

Shared by the writer, the reader and the validator (see the package docstring for the layout).
"""
from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

FORMAT, VERSION = 'lvseg-label-store', 1
# The official layout stores class indices as float16, which holds every integer up to 2048 exactly.
MAX_NUM_CLASSES = 2049
HEADER_FILE, KEYS_FILE = 'header.json', 'keys.txt'
SCORES_FILE, INDICES_FILE, DONE_FILE = 'scores.npy', 'indices.npy', 'done.npy'
DTYPES = {'scores': 'float16', 'indices': 'int16', 'done': 'uint8'}
EXAMPLES = 3  # how many offending rows or images a message names


class LabelStoreError(ValueError):
    """A folder that is not a usable label store; the message names the folder and what is wrong."""

    def __init__(self, root: str | os.PathLike, problem: str) -> None:
        super().__init__(f'label store {root}: {problem}')
        self.root, self.problem = Path(root), problem


@dataclass(frozen=True)
class LabelStoreHeader:
    """The contents of ``header.json`` (besides the format, version and dtypes, which are fixed).

    Attributes:
        num_images: ``N``, rows of the store, >= 1.
        k: Classes kept per map cell, >= 1.
        grid: ``(h, w)`` map cells, each >= 1.
        num_classes: ``K``, the annotator's classes; indices lie in ``[0, K)``; at most
            :data:`MAX_NUM_CLASSES`.
        annotator: Free text naming what wrote the maps (model, input size, source).
        complete: Whether every row is written and the store is final.
    """

    num_images: int
    k: int
    grid: tuple[int, int]
    num_classes: int
    annotator: str
    complete: bool = False

    def __post_init__(self) -> None:
        grid = tuple(self.grid)
        object.__setattr__(self, 'grid', grid)
        if self.num_images < 1 or self.k < 1 or len(grid) != 2 or min(grid) < 1:
            raise ValueError(f'a label store needs num_images, k and both grid sides >= 1, got '
                             f'num_images={self.num_images}, k={self.k}, grid={grid}')
        if not 1 <= self.num_classes <= MAX_NUM_CLASSES:
            raise ValueError(f'num_classes must be in [1, {MAX_NUM_CLASSES}] (maps are read with class indices '
                             f'as float16, exact up to 2048), got {self.num_classes}')

    @property
    def map_shape(self) -> tuple[int, int, int]:
        """``(k, h, w)``, the shape of one row of the score and index arrays."""
        return (self.k, *self.grid)

    def arrays(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """File name -> (shape, dtype) of each array of the store."""
        rows = (self.num_images, *self.map_shape)
        return {SCORES_FILE: (rows, np.dtype(DTYPES['scores'])), INDICES_FILE: (rows, np.dtype(DTYPES['indices'])),
                DONE_FILE: ((self.num_images,), np.dtype(DTYPES['done']))}

    def to_json(self) -> dict:
        return {'format': FORMAT, 'version': VERSION, 'k': self.k, 'grid': list(self.grid),
                'num_classes': self.num_classes, 'annotator': self.annotator, 'dtypes': DTYPES,
                'num_images': self.num_images, 'complete': self.complete}


def read_header(root: str | os.PathLike) -> LabelStoreHeader:
    """The header of the store ``root``; :class:`LabelStoreError` if it is missing or malformed."""
    root = Path(root)
    if not root.is_dir():
        raise LabelStoreError(root, 'is not a folder' if root.exists() else 'no such folder')
    try:
        data = json.loads((root / HEADER_FILE).read_text(encoding='utf-8'))
    except FileNotFoundError:
        raise LabelStoreError(root, f'{HEADER_FILE} is missing (not a label store, or its creation did not '
                                    'finish)') from None
    except (OSError, ValueError) as error:
        raise LabelStoreError(root, f'{HEADER_FILE} is not readable JSON ({error})') from error
    if not isinstance(data, dict) or data.get('format') != FORMAT:
        raise LabelStoreError(root, f'{HEADER_FILE} does not describe a {FORMAT!r}')
    if data.get('version') != VERSION:
        raise LabelStoreError(root, f'format version {data.get("version")!r}, this code reads version {VERSION}')
    if data.get('dtypes') != DTYPES:
        raise LabelStoreError(root, f'dtypes {data.get("dtypes")!r}, version {VERSION} stores {DTYPES}')
    try:
        header = LabelStoreHeader(num_images=data['num_images'], k=data['k'], grid=data['grid'],
                                  num_classes=data['num_classes'], annotator=data['annotator'],
                                  complete=data['complete'])
        ints = (header.num_images, header.k, *header.grid, header.num_classes)
        if not all(type(value) is int for value in ints) or not isinstance(header.annotator, str) or \
                not isinstance(header.complete, bool):
            raise TypeError('wrong field types')
    except (KeyError, TypeError, ValueError) as error:
        raise LabelStoreError(root, f'{HEADER_FILE} has missing or invalid fields ({error})') from error
    return header


def check_keys(keys: Sequence[str]) -> None:
    bad = [key for key in keys if not isinstance(key, str) or not key or '\n' in key or '\r' in key]
    if bad:
        raise ValueError(f'keys must be non-empty strings without line breaks, got e.g. {bad[:EXAMPLES]}')
    repeated = [key for key, count in Counter(keys).items() if count > 1]
    if repeated:
        raise ValueError(f'keys must be distinct, {len(repeated)} repeat, e.g. {repeated[:EXAMPLES]}')


def check_array(root: Path, name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Raise :class:`LabelStoreError` unless ``root/name`` is a complete ``.npy`` file of ``shape`` and ``dtype``."""
    path = Path(root) / name
    try:
        with open(path, 'rb') as f:
            version = npy_format.read_magic(f)
            read_header_fn = npy_format.read_array_header_1_0 if version == (1, 0) else \
                npy_format.read_array_header_2_0
            found_shape, fortran_order, found_dtype = read_header_fn(f)
            data_offset = f.tell()
    except FileNotFoundError:
        raise LabelStoreError(root, f'{name} is missing') from None
    except (OSError, ValueError) as error:
        raise LabelStoreError(root, f'{name} is not a readable .npy array ({error})') from error
    if found_shape != shape or found_dtype != dtype or fortran_order:
        raise LabelStoreError(root, f'{name} holds {found_dtype} {found_shape}'
                                    f'{" (Fortran order)" if fortran_order else ""}, but {HEADER_FILE} '
                                    f'implies {dtype} {shape}')
    size, expected = path.stat().st_size, data_offset + int(np.prod(shape)) * dtype.itemsize
    if size != expected:
        state = 'truncated' if size < expected else 'longer than its array'
        raise LabelStoreError(root, f'{name} is {state}: {size} bytes, expected {expected}')


def read_keys(root: Path, num_images: int) -> tuple[str, ...]:
    """The keys of ``root/keys.txt``; :class:`LabelStoreError` if missing, cut short, miscounted or repeated."""
    try:
        text = (Path(root) / KEYS_FILE).read_text(encoding='utf-8')
    except FileNotFoundError:
        raise LabelStoreError(root, f'{KEYS_FILE} is missing') from None
    except (OSError, ValueError) as error:
        raise LabelStoreError(root, f'{KEYS_FILE} is not readable UTF-8 text ({error})') from error
    if not text.endswith('\n'):
        raise LabelStoreError(root, f'{KEYS_FILE} does not end with a line break (cut short?)')
    keys = tuple(text[:-1].split('\n'))
    if len(keys) != num_images:
        raise LabelStoreError(root, f'{KEYS_FILE} lists {len(keys)} images, {HEADER_FILE} says {num_images}')
    try:
        check_keys(keys)
    except ValueError as error:
        raise LabelStoreError(root, f'{KEYS_FILE}: {error}') from None
    return keys


def examples(rows: Sequence[int] | np.ndarray, keys: Sequence[str] | None) -> str:
    """The first few ``rows`` by number and, when known, image key."""
    named = [f'row {row}' + (f' ({keys[row]})' if keys is not None else '') for row in list(rows)[:EXAMPLES]]
    return ', '.join(named)

