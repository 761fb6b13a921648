"""Loading an image's token-label map (the annotator's top-k score map) in the data pipeline.

A map is one ``.pt`` file per training image, in the official TokenLabeling layout
``<label_map_root>/<wnid>/<image stem>.pt`` (the data set puts its path in ``results['token_label_path']``):
a ``(2, k, h, w)`` float16 tensor, ``[0]`` the top-k raw logits at each map cell and ``[1]`` their class
indices as floats (see :mod:`lvseg.datasets.token_labels`). Reading goes through
:func:`read_token_label_map` alone, so another store (e.g. one packed, memory-mapped file) replaces one
function.
"""
from __future__ import annotations

import torch
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS
from torch import Tensor

from .token_label_transforms import TOPK_KEY

PATH_KEY = 'token_label_path'  # put in the data info by the data set when the image has a map
MAX_NUM_CLASSES = 2049  # float16 holds every integer up to 2048 exactly, so class indices 0..2048
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
    fractional = indices[indices != indices.round()]  # NaN counts as fractional
    if fractional.numel():
        raise ValueError(f'{source}: {expected}, found non-integral class indices, e.g. {fractional[0].item()}')
    low, high = indices.min().item(), indices.max().item()
    if low < 0 or high >= num_classes:
        raise ValueError(f'{source}: {expected}, found class indices from {low:g} to {high:g}')
    return topk.to(torch.float16)


@TRANSFORMS.register_module()
class LoadTokenLabelMap(BaseTransform):
    """Load the token-label map of ``results['token_label_path']`` into ``results['token_label_topk']``.

    The map is read with :func:`read_token_label_map`, checked with :func:`check_token_label_map` and stored
    as a ``(2, k, h, w)`` float16 tensor, which ``PackTokenLabelInputs`` packs into the data sample. A
    sample without ``token_label_path`` (a data set without maps, where the model broadcasts the image label
    to every token) passes through unchanged, so one pipeline serves data with and without maps.

    Args:
        num_classes: ``K``, the annotator's number of classes (1000 for the published ImageNet-1k maps);
            every class index must lie in ``[0, K)``. At most 2049: indices are stored as float16.
    """

    def __init__(self, num_classes: int) -> None:
        if not 1 <= num_classes <= MAX_NUM_CLASSES:
            raise ValueError(f'num_classes must be in [1, {MAX_NUM_CLASSES}] (class indices are stored as float16, '
                             f'exact up to 2048), got {num_classes}')
        self.num_classes = num_classes

    def transform(self, results: dict) -> dict:
        path = results.get(PATH_KEY)
        if path is not None:
            results[TOPK_KEY] = check_token_label_map(read_token_label_map(path), self.num_classes, path)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_classes={self.num_classes})'
