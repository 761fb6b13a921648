"""Converting token-label maps between the official one-file-per-image layout and a packed label store.

The official layout holds ``<map_root>/<wnid>/<image stem>.pt`` per image, a ``(2, k, h, w)`` float16
tensor (top-k logits, then class indices as floats); a store (:mod:`lvseg.datasets.label_store`) holds the
same maps as rows keyed by the image's path relative to the image root, ``<wnid>/<file name>``. Both ways
are bit-exact for float16 maps: logits stay float16, and indices (integers below 2049) survive float16 ->
int16 -> float16.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ..utils.atomic_write import save_atomically
from .imagenet import label_map_path
from .label_store import LabelStore, LabelStoreWriter
from .token_label_loading import check_token_label_map, read_token_label_map

_EXAMPLES = 3  # how many missing maps an error names


class LabelMapError(ValueError):
    """A token-label map file that cannot go into a store (unreadable, not a map of the store's classes, or of
    another shape than the first); the message names the file."""


def pack_label_maps(map_root: str | os.PathLike, store_root: str | os.PathLike, keys: Sequence[str],
                    num_classes: int, annotator: str, batch_size: int = 1024,
                    progress: Callable[[int, int], None] | None = None) -> int:
    """Pack the official map files of the images ``keys`` into a store; resumes an interrupted packing.

    Every map is read with :func:`~lvseg.datasets.token_label_loading.read_token_label_map` and checked
    with :func:`~lvseg.datasets.token_label_loading.check_token_label_map` (as training reads it), and
    all must share the ``(2, k, h, w)`` shape of the first. Rows follow ``keys``; the store is marked
    complete at the end.

    Args:
        map_root: Root of the official layout, ``<map_root>/<wnid>/<image stem>.pt``.
        store_root: The store's folder: created, or an unfinished packing of the same maps to resume.
        keys: Image paths relative to the image root, ``'<wnid>/<file name>'``, one per row (e.g.
            :func:`~lvseg.datasets.imagenet.list_image_keys`).
        num_classes: ``K``, the annotator's classes (1000 for the published ImageNet-1k maps).
        annotator: Free text recorded in the store's header.
        batch_size: Maps per write (and flush).
        progress: Called with (rows written so far, rows to write) after every batch.

    Returns:
        The number of rows written by this call (0 if the store was already complete).
    """
    map_root = Path(map_root)
    paths = [map_root / label_map_path(key) for key in keys]
    missing = [(key, path) for key, path in zip(keys, paths) if not path.is_file()]
    if missing:
        examples = '; '.join(f'{key} needs {path}' for key, path in missing[:_EXAMPLES])
        raise FileNotFoundError(f'{len(missing)} of {len(keys)} images have no map under {map_root}: {examples}')
    first = _read_map(paths[0], num_classes)
    writer = LabelStoreWriter(store_root, keys, first.shape[1], first.shape[2:], num_classes, annotator)
    rows = writer.rows_to_do()
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        maps = torch.stack([_read_map(paths[row], num_classes, first.shape) for row in batch])
        writer.write(batch, maps[:, 0], maps[:, 1].to(torch.int16))
        if progress is not None:
            progress(start + len(batch), len(rows))
    writer.finish()
    return len(rows)


def unpack_label_store(store_root: str | os.PathLike, out_root: str | os.PathLike) -> int:
    """Write every map of a complete store as an official map file ``<out_root>/<wnid>/<image stem>.pt``.

    Each file is saved atomically (a crash leaves no half-written map under its final name); existing files
    of the same names are replaced. Returns the number of files written.
    """
    store, out_root = LabelStore(store_root), Path(out_root)
    for key in store.keys:
        save_atomically(store.get(key), out_root / label_map_path(key))
    return len(store)


def _read_map(path: Path, num_classes: int, shape: torch.Size | None = None) -> torch.Tensor:
    """The checked ``(2, k, h, w)`` float16 map of ``path``; :class:`LabelMapError` naming it if it is not a
    token-label map of ``num_classes`` classes or not of ``shape``."""
    try:
        topk = check_token_label_map(read_token_label_map(str(path)), num_classes, str(path))
    except ValueError as error:
        raise LabelMapError(str(error)) from None
    if shape is not None and topk.shape != shape:
        raise LabelMapError(f'{path}: map of shape {tuple(topk.shape)}, but the first map has {tuple(shape)}; a '
                              'store holds maps of one shape')
    return topk

