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

Several processes (e.g. the ranks of ``torchrun``) may write one store at once, each its own block of rows::

    if rank == 0:
        writer = LabelStoreWriter(root, keys, k, grid, num_classes, annotator)  # creates or resumes
    barrier()
    if rank != 0:
        writer = LabelStoreWriter.open_existing(root)
    for rows in batches(writer.rows_to_do(blocks[rank])):
        writer.write(rows, scores, indices)
    barrier()
    if rank == 0:
        writer.finish()

With disjoint blocks no two processes write the same bytes: all map the same files shared, stores to disjoint
rows (and to the single-byte ``done`` flags of those rows) do not interfere, and a rank reads only its own rows'
flags, so the partition needs no coordination beyond the two barriers, even when a run with another world size
resumes. Contiguous blocks, not interleaved rows, keep the ranks out of each other's pages, which matters across
nodes on a network file system (:func:`lvseg.annotator.run.row_blocks` splits the rows at page boundaries).
"""
from .format import (
    DONE_FILE,
    DTYPES,
    FORMAT,
    HEADER_FILE,
    INDICES_FILE,
    KEYS_FILE,
    MAX_NUM_CLASSES,
    SCORES_FILE,
    VERSION,
    LabelStoreError,
    LabelStoreHeader,
    read_header,
)
from .reader import LabelStore
from .validate import LabelStoreReport, validate  # binds `validate` to the function, not the submodule
from .writer import LabelStoreWriter

__all__ = ['FORMAT', 'VERSION', 'MAX_NUM_CLASSES', 'HEADER_FILE', 'KEYS_FILE', 'SCORES_FILE', 'INDICES_FILE',
           'DONE_FILE', 'DTYPES', 'LabelStoreError', 'LabelStoreHeader', 'read_header', 'LabelStoreWriter',
           'LabelStore', 'LabelStoreReport', 'validate']
