"""Checking a label store: the full report of :func:`validate` and the value checks (finite scores, class
indices in range) that the writer and the reader share.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .format import (
    DONE_FILE,
    EXAMPLES,
    INDICES_FILE,
    SCORES_FILE,
    LabelStoreError,
    LabelStoreHeader,
    check_array,
    examples,
    read_header,
    read_keys,
)

_CHUNK_ROWS = 4096  # rows per step when scanning values: 4096 x 5 x 18 x 18 x 2 bytes = 13 MB per array


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
                lines.append(f'{name}: {len(images)}' + (f', e.g. {images[:EXAMPLES]}' if images else ''))
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
            check_array(root, name, shape, dtype)
        except LabelStoreError as error:
            report.problems.append(error.problem)
    arrays_sound = not report.problems
    try:
        keys = read_keys(root, header.num_images)
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
        report.problems += value_problems(Path(root), header, keys)
    if image_list is not None and keys is not None:
        listed = list(image_list)
        have, wanted = set(keys), set(listed)
        report.missing = [image for image in listed if image not in have]
        report.extra = [key for key in keys if key not in wanted]
    return report

def invalid_rows(scores: np.ndarray, indices: np.ndarray, num_classes: int) -> dict[str, np.ndarray]:
    """What is wrong -> positions of the offending rows, for ``(B, k, h, w)`` scores and indices; only non-empty."""
    finite = np.isfinite(scores).reshape(len(scores), -1).all(axis=1)
    flat = indices.reshape(len(indices), -1)
    in_range = ((flat >= 0) & (flat < num_classes)).all(axis=1)
    found = {'non-finite scores (as float16)': np.flatnonzero(~finite),
             f'class indices outside [0, {num_classes})': np.flatnonzero(~in_range)}
    return {what: positions for what, positions in found.items() if positions.size}


def value_problems(root: Path, header: LabelStoreHeader, keys: Sequence[str] | None) -> list[str]:
    """Scan the written rows of a structurally sound store, chunk by chunk; one sentence per kind of problem."""
    scores, indices, done = (np.load(root / name, mmap_mode='r') for name in (SCORES_FILE, INDICES_FILE, DONE_FILE))
    bad: dict[str, list[int]] = {}
    for start in range(0, header.num_images, _CHUNK_ROWS):
        rows = start + np.flatnonzero(done[start:start + _CHUNK_ROWS])
        for what, positions in invalid_rows(scores[rows], indices[rows], header.num_classes).items():
            bad.setdefault(what, []).extend(rows[positions].tolist())
    return [f'{len(rows)} rows hold {what}, e.g. {examples(rows, keys)}' for what, rows in bad.items()]


