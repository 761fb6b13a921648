"""A packed token-label store: the top-k score maps of a whole data set in a few memory-mapped arrays.

The official TokenLabeling release keeps one ``(2, k, h, w)`` float16 ``.pt`` file per training image
(1.28M files for ImageNet-1k), so every sample of every epoch pays a file open and an unpickling. A store
keeps the same maps in one folder::

    <root>/header.json   format, version, k, grid [h, w], num_classes, annotator (free text), dtypes,
                         num_images N and the `complete` flag
    <root>/scores.npy    (N, k, h, w) float16: the top-k raw logits of each map cell
    <root>/indices.npy   (N, k, h, w) int16: their class indices, in [0, num_classes)
    <root>/done.npy      (N,) uint8: 1 where the row has been written (and flushed)
    <root>/keys.txt      N lines: the image of each row, its path relative to the data set's image root
                         (``<wnid>/<file name>``), in row order

The arrays are self-describing ``.npy`` files (``numpy.load`` reads them) that readers memory-map, so a
sample costs two row copies and no system call once a process has mapped the files.

Writing (:class:`LabelStoreWriter`) is crash-safe and resumable. The store is created in a hidden sibling
folder and renamed into place, so a crash during creation leaves nothing that looks like a store. A row's
``done`` flag is set only after its data is flushed to disk, so a crash loses at most the rows in flight:
re-opening the store with the same keys and shape resumes, and :meth:`LabelStoreWriter.rows_to_do` lists
what is left. :meth:`LabelStoreWriter.finish` checks that every row is done and rewrites the header with
``complete: true`` atomically (temporary file, fsync, rename); readers (:class:`LabelStore`) refuse a store
that is not complete.

Several processes (e.g. the ranks of ``torchrun``) may write one store at once::

    if rank == 0:
        writer = LabelStoreWriter(root, keys, k, grid, num_classes, annotator)  # creates or resumes
    barrier()
    if rank != 0:
        writer = LabelStoreWriter.open_existing(root)
    for rows in batches(writer.rows_to_do(rank, world_size)):
        writer.write(rows, scores, indices)
    barrier()
    if rank == 0:
        writer.finish()

Each rank writes only rows ``rank, rank + world_size, ...`` (the ones of them not yet done), so no two
processes write the same bytes: all map the same files shared, stores to disjoint rows (and to the
single-byte ``done`` flags of those rows) do not interfere, and a rank reads only its own rows' flags, so
the partition needs no coordination beyond the two barriers, even when a run with another world size
resumes.
"""
from __future__ import annotations

import dataclasses
import json
import operator
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from numpy.lib import format as npy_format
from torch import Tensor

FORMAT, VERSION = 'lvseg-label-store', 1
# The official layout stores class indices as float16, which holds every integer up to 2048 exactly.
MAX_NUM_CLASSES = 2049
HEADER_FILE, KEYS_FILE = 'header.json', 'keys.txt'
SCORES_FILE, INDICES_FILE, DONE_FILE = 'scores.npy', 'indices.npy', 'done.npy'
DTYPES = {'scores': 'float16', 'indices': 'int16', 'done': 'uint8'}
_CHUNK_ROWS = 4096  # rows per step when scanning values: 4096 x 5 x 18 x 18 x 2 bytes = 13 MB per array
_EXAMPLES = 3  # how many offending rows or images a message names


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


class LabelStoreWriter:
    """Creates a label store, or resumes an unfinished one, and writes its rows (see the module docstring).

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
        _check_keys(keys)
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
            _check_array(root, name, shape, dtype)
        self.keys: tuple[str, ...] = _read_keys(root, self.header.num_images)
        self._scores, self._indices, self._done = (
            npy_format.open_memmap(root / name, mode='r+') for name in (SCORES_FILE, INDICES_FILE, DONE_FILE))

    def rows_to_do(self, rank: int = 0, world_size: int = 1) -> np.ndarray:
        """The rows ``rank, rank + world_size, ...`` not yet written, increasing, as an int64 array.

        With the defaults, every row left. Rank ``r`` of ``world_size`` writers takes this share (see the
        module docstring); the shares of all ranks partition the rows.
        """
        if not 0 <= rank < world_size:
            raise ValueError(f'need 0 <= rank < world_size, got rank={rank}, world_size={world_size}')
        rows = np.arange(rank, self.header.num_images, world_size)
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
        invalid = _invalid_rows(scores, indices, self.header.num_classes)
        if invalid:
            found = '; '.join(f'{what} in {_examples(rows[positions], self.keys)}'
                              for what, positions in invalid.items())
            raise ValueError(f'{found}; nothing of this batch was written')
        self._scores[rows] = scores
        self._indices[rows] = indices
        self._scores.flush()
        self._indices.flush()
        self._done[rows] = 1
        self._done.flush()

    def finish(self) -> None:
        """Check that every row is done, then mark the store complete (atomically); a no-op once complete."""
        if self.header.complete:
            return
        left = np.flatnonzero(self._done[:] == 0)
        if left.size:
            raise LabelStoreError(self.root, f'{left.size} of {self.header.num_images} rows are not written yet, '
                                             f'e.g. {_examples(left, self.keys)}; write them before finish()')
        header = dataclasses.replace(self.header, complete=True)
        _write_header(self.root, header)
        self.header = header


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
            _check_array(self.root, name, shape, dtype)
        done = np.load(self.root / DONE_FILE, mmap_mode='r')
        num_done = int(np.count_nonzero(done))
        if not self.header.complete:
            raise LabelStoreError(self.root, f'is incomplete ({num_done} of {self.header.num_images} rows written, '
                                             f'"complete": false in {HEADER_FILE}); finish writing it first')
        if num_done != self.header.num_images:
            raise LabelStoreError(self.root, f'is marked complete but only {num_done} of {self.header.num_images} '
                                             f'rows are flagged done in {DONE_FILE}')
        self.keys: tuple[str, ...] = _read_keys(self.root, self.header.num_images)
        if check_values:
            problems = _value_problems(self.root, self.header, self.keys)
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


@dataclass
class LabelStoreReport:
    """What :func:`validate` found in a store.

    Attributes:
        root: The store's folder.
        problems: What makes the store unusable, one sentence each; empty if none.
        num_images: Rows according to the header (0 if it is unreadable).
        num_done: Rows flagged done.
        complete: The header's ``complete`` flag.
        missing: Images of the image list without a row (None when no list was given).
        extra: Rows whose image is not in the image list (None when no list was given); harmless.
    """

    root: Path
    problems: list[str] = field(default_factory=list)
    num_images: int = 0
    num_done: int = 0
    complete: bool = False
    missing: list[str] | None = None
    extra: list[str] | None = None

    @property
    def ok(self) -> bool:
        """No problem, and every listed image has a row."""
        return not self.problems and not self.missing

    def __str__(self) -> str:
        lines = [f'label store {self.root}: {"OK" if self.ok else "NOT OK"}; {self.num_done} of {self.num_images} '
                 f'rows written, complete: {self.complete}']
        lines += [f'problem: {problem}' for problem in self.problems]
        for name, images in (('images without a row', self.missing), ('rows not in the image list', self.extra)):
            if images is not None:
                lines.append(f'{name}: {len(images)}' + (f', e.g. {images[:_EXAMPLES]}' if images else ''))
        return '\n'.join(lines)


def validate(root: str | os.PathLike, image_list: Iterable[str] | None = None) -> LabelStoreReport:
    """Check the store ``root`` fully and report, without raising, what is wrong with it.

    Checks the header, every array's presence, shape, dtype and file size, the keys, the ``complete`` and
    ``done`` flags, every written row's values (finite scores, class indices in ``[0, num_classes)``) and,
    given ``image_list`` (image paths relative to the image root, like the keys), which images have no row
    and which rows are not listed.
    """
    report = LabelStoreReport(root=Path(root))
    try:
        header = read_header(root)
    except LabelStoreError as error:
        report.problems.append(error.problem)
        return report
    report.num_images, report.complete = header.num_images, header.complete
    for name, (shape, dtype) in header.arrays().items():
        try:
            _check_array(root, name, shape, dtype)
        except LabelStoreError as error:
            report.problems.append(error.problem)
    arrays_sound = not report.problems
    try:
        keys = _read_keys(root, header.num_images)
    except LabelStoreError as error:
        report.problems.append(error.problem)
        keys = None
    if arrays_sound:
        report.num_done = int(np.count_nonzero(np.load(Path(root) / DONE_FILE, mmap_mode='r')))
        if report.num_done < header.num_images:
            report.problems.append(f'{header.num_images - report.num_done} of {header.num_images} rows are not '
                                   'written' + ('' if header.complete else ' (the store is incomplete)'))
        elif not header.complete:
            report.problems.append('every row is written but the store is not marked complete (run finish())')
        report.problems += _value_problems(Path(root), header, keys)
    if image_list is not None and keys is not None:
        listed = list(image_list)
        have, wanted = set(keys), set(listed)
        report.missing = [image for image in listed if image not in have]
        report.extra = [key for key in keys if key not in wanted]
    return report


def _create(root: Path, header: LabelStoreHeader, keys: Sequence[str]) -> None:
    """Write an empty store (no row done) in a hidden sibling of ``root``, then rename it to ``root``."""
    root.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f'.{root.name}.creating-', dir=root.parent))
    try:
        for name, (shape, dtype) in header.arrays().items():
            npy_format.open_memmap(partial / name, mode='w+', dtype=dtype, shape=shape).flush()  # zeros, sparse
            _fsync(partial / name)
        (partial / KEYS_FILE).write_text(''.join(f'{key}\n' for key in keys), encoding='utf-8')
        _fsync(partial / KEYS_FILE)
        _write_header(partial, header)
        os.rename(partial, root)  # replaces an empty folder only
        _fsync(root.parent)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _write_header(root: Path, header: LabelStoreHeader) -> None:
    """Write ``header.json`` into ``root`` atomically: temporary file, fsync, rename, fsync the folder."""
    fd, tmp_name = tempfile.mkstemp(prefix=f'.{HEADER_FILE}.', suffix='.part', dir=root)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(header.to_json(), f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, root / HEADER_FILE)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync(root)


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's data and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_keys(keys: Sequence[str]) -> None:
    bad = [key for key in keys if not isinstance(key, str) or not key or '\n' in key or '\r' in key]
    if bad:
        raise ValueError(f'keys must be non-empty strings without line breaks, got e.g. {bad[:_EXAMPLES]}')
    repeated = [key for key, count in Counter(keys).items() if count > 1]
    if repeated:
        raise ValueError(f'keys must be distinct, {len(repeated)} repeat, e.g. {repeated[:_EXAMPLES]}')


def _check_array(root: Path, name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
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


def _read_keys(root: Path, num_images: int) -> tuple[str, ...]:
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
        _check_keys(keys)
    except ValueError as error:
        raise LabelStoreError(root, f'{KEYS_FILE}: {error}') from None
    return keys


def _invalid_rows(scores: np.ndarray, indices: np.ndarray, num_classes: int) -> dict[str, np.ndarray]:
    """What is wrong -> positions of the offending rows, for ``(B, k, h, w)`` scores and indices; only non-empty."""
    finite = np.isfinite(scores).reshape(len(scores), -1).all(axis=1)
    flat = indices.reshape(len(indices), -1)
    in_range = ((flat >= 0) & (flat < num_classes)).all(axis=1)
    found = {'non-finite scores (as float16)': np.flatnonzero(~finite),
             f'class indices outside [0, {num_classes})': np.flatnonzero(~in_range)}
    return {what: positions for what, positions in found.items() if positions.size}


def _value_problems(root: Path, header: LabelStoreHeader, keys: Sequence[str] | None) -> list[str]:
    """Scan the written rows of a structurally sound store, chunk by chunk; one sentence per kind of problem."""
    scores, indices, done = (np.load(root / name, mmap_mode='r') for name in (SCORES_FILE, INDICES_FILE, DONE_FILE))
    bad: dict[str, list[int]] = {}
    for start in range(0, header.num_images, _CHUNK_ROWS):
        rows = start + np.flatnonzero(done[start:start + _CHUNK_ROWS])
        for what, positions in _invalid_rows(scores[rows], indices[rows], header.num_classes).items():
            bad.setdefault(what, []).extend(rows[positions].tolist())
    return [f'{len(rows)} rows hold {what}, e.g. {_examples(rows, keys)}' for what, rows in bad.items()]


def _examples(rows: Sequence[int] | np.ndarray, keys: Sequence[str] | None) -> str:
    """The first few ``rows`` by number and, when known, image key."""
    named = [f'row {row}' + (f' ({keys[row]})' if keys is not None else '') for row in list(rows)[:_EXAMPLES]]
    return ', '.join(named)


def _as_array(values: Sequence[int] | np.ndarray | Tensor) -> np.ndarray:
    """A numpy view (or copy) of a tensor, array or sequence; bfloat16 tensors become float32."""
    if isinstance(values, Tensor):
        values = values.detach().cpu()
        return (values.float() if values.dtype == torch.bfloat16 else values).numpy()
    return np.asarray(values)
