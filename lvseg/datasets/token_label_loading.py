"""Loading an image's token-label map (the annotator's top-k score map) in the data pipeline.

A map is a ``(2, k, h, w)`` float16 tensor, ``[0]`` the top-k raw logits at each map cell and ``[1]`` their
class indices as floats (see :mod:`lvseg.models.classifiers.token_labels`). The data set tells where it is, in one of
two ways:

- one ``.pt`` file per training image, in the official TokenLabeling layout
  ``<label_map_root>/<wnid>/<image stem>.pt``: ``results['token_label_path']`` is the file, read by
  :func:`read_token_label_map`;
- a packed store (:mod:`lvseg.datasets.label_store`): ``results['token_label_store']`` is its folder and
  ``results['token_label_key']`` the image's key in it (its path relative to the image root).
"""
from __future__ import annotations

import torch
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS
from torch import Tensor

from .label_store import MAX_NUM_CLASSES, LabelStore
from .token_label_transforms import TOPK_KEY

# Put in the data info by the data set when the image has a map: its file, or its store and key in the store.
PATH_KEY, STORE_KEY, STORE_ENTRY_KEY = 'token_label_path', 'token_label_store', 'token_label_key'
_FLOAT_DTYPES = (torch.float16, torch.float32)


def read_token_label_map(path: str) -> object:
    """The object stored in the map file ``path`` (``torch.load``, tensors only, on the CPU).

    Raises ``OSError`` (naming the file) if it cannot be opened, ``ValueError`` naming the file if it is
    not a tensor-only torch file (truncated, pickled code, another format).
    """
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except OSError:
        raise
    except Exception as error:
        raise ValueError(f'{path}: not a readable token-label map file ({type(error).__name__}: {error})') from error


def check_token_label_map(topk: object, num_classes: int, source: str) -> Tensor:
    """``topk`` as a float16 ``(2, k, h, w)`` tensor, after checking it is a valid top-k score map.

    Valid: a float16 or float32 tensor of shape ``(2, k, h, w)`` with ``k, h, w >= 1``, finite logits
    ``[0]``, and class indices ``[1]`` that are integers in ``[0, num_classes)``. Anything else raises
    ``TypeError`` / ``ValueError`` naming ``source`` (the file), what was expected and what was found.
    """
    expected = f'expected a (2, k, h, w) float16/float32 tensor of top-k logits and class indices in [0, {num_classes})'
    if not isinstance(topk, Tensor):
        raise TypeError(f'{source}: {expected}, found a {type(topk).__module__}.{type(topk).__qualname__}')
    if topk.dtype not in _FLOAT_DTYPES:
        raise ValueError(f'{source}: {expected}, found dtype {topk.dtype}')
    if topk.dim() != 4 or topk.shape[0] != 2 or topk.numel() == 0:
        raise ValueError(f'{source}: {expected}, found shape {tuple(topk.shape)}')
    logits, indices = topk[0], topk[1]
    if not torch.isfinite(logits).all():
        raise ValueError(f'{source}: {expected}, found non-finite logits')
    rounded = indices.round()
    if not torch.equal(indices, rounded):  # NaN counts as fractional
        fractional = indices[indices != rounded]
        raise ValueError(f'{source}: {expected}, found non-integral class indices, e.g. {fractional[0].item()}')
    low, high = (value.item() for value in torch.aminmax(indices))
    if low < 0 or high >= num_classes:
        raise ValueError(f'{source}: {expected}, found class indices from {low:g} to {high:g}')
    return topk.to(torch.float16)


@TRANSFORMS.register_module()
class LoadTokenLabelMap(BaseTransform):
    """Load an image's token-label map into ``results['token_label_topk']``.

    The map is read from the file ``results['token_label_path']`` with :func:`read_token_label_map` and
    checked with :func:`check_token_label_map`, or, when ``results['token_label_store']`` names a packed
    store, with :meth:`~lvseg.datasets.label_store.LabelStore.get` of ``results['token_label_key']``. The
    transform opens each store once and keeps it (each process maps the store's files on its first read),
    and checks that the store's ``num_classes`` is this transform's; a store's values were checked when its
    rows were written (:class:`~lvseg.datasets.label_store.LabelStoreWriter`), so its rows are not checked
    again. Either way the map is stored as a ``(2, k, h, w)`` float16 tensor, which
    ``PackTokenLabelInputs`` packs into the data sample. A sample with neither (a data set without maps,
    where the model broadcasts the image label to every token) passes through unchanged, so one pipeline
    serves data with and without maps.

    Args:
        num_classes: ``K``, the annotator's number of classes (1000 for the published ImageNet-1k maps);
            every class index must lie in ``[0, K)``. At most 2049: indices are stored as float16.
    """

    def __init__(self, num_classes: int) -> None:
        if not 1 <= num_classes <= MAX_NUM_CLASSES:
            raise ValueError(f'num_classes must be in [1, {MAX_NUM_CLASSES}] (class indices are stored as float16, '
                             f'exact up to 2048), got {num_classes}')
        self.num_classes = num_classes
        self._stores: dict[str, LabelStore] = {}

    def transform(self, results: dict) -> dict:
        store_root, path = results.get(STORE_KEY), results.get(PATH_KEY)
        if store_root is not None:  # a store's rows were checked when written, its classes when opened
            results[TOPK_KEY] = self._store(store_root).get(results[STORE_ENTRY_KEY])
        elif path is not None:
            results[TOPK_KEY] = check_token_label_map(read_token_label_map(path), self.num_classes, path)
        return results

    def _store(self, root: str) -> LabelStore:
        """The opened store of folder ``root``, opened and checked on first use."""
        if root not in self._stores:
            store = LabelStore(root)
            if store.header.num_classes != self.num_classes:
                raise ValueError(f'label store {root} holds maps over {store.header.num_classes} classes, but '
                                 f'LoadTokenLabelMap has num_classes={self.num_classes}')
            self._stores[root] = store
        return self._stores[root]

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_classes={self.num_classes})'
