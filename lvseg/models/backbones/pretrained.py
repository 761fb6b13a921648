"""Loading converted checkpoint weights into a backbone, with one report of what was and was not loaded."""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import torch
from mmengine.logging import print_log

from ...checkpoints.fit import CheckpointMismatchError, state_dict_fit
from ...checkpoints.released import convert_released_checkpoint
from ...checkpoints.safe_load import load_checkpoint

BN_COUNTER = 'num_batches_tracked'  # a BatchNorm step counter, not a weight: files saved without it still fit


def read_checkpoint(checkpoint: str | Mapping, source: str | None = None) -> tuple[Mapping, str]:
    """``(loaded checkpoint, its name for messages)`` from a file path or an already loaded checkpoint, a file the
    LV-ViT authors released in lvseg's keys (:func:`lvseg.checkpoints.released.convert_released_checkpoint`).

    Every kind of file serves as a backbone's initialisation: backbone weights as they are, and the backbone of a
    classifier or of a segmentor (its heads dropped by the backbone's converter), official or lvseg's.

    Raises:
        CheckpointMismatchError: the file is not a checkpoint dict.
    """
    if isinstance(checkpoint, str):
        checkpoint, source = load_checkpoint(checkpoint, map_location='cpu'), checkpoint
    source = source or 'the given checkpoint'
    if not isinstance(checkpoint, Mapping):
        raise CheckpointMismatchError(f'{source}: expected a checkpoint dict, found a {type(checkpoint).__name__}')
    try:
        return convert_released_checkpoint(checkpoint), source
    except ValueError:  # an official layout with tensors that have no place: the backbone's fit check names them all
        return checkpoint, source


def load_converted(backbone: torch.nn.Module, state_dict: dict[str, torch.Tensor], dropped: list[str], source: str,
                   final_norm_prefix: str, dense_only: Sequence[str] = ()) -> dict[str, list[str]]:
    """Load ``state_dict`` (already in ``backbone``'s names) after dropping the final norm when the backbone was
    built without one (``backbone.final_norm`` False) and checking it with ``backbone.check_compatible``, which
    raises on a depth or width mismatch.

    The weights must fill the backbone: every tensor but those under the ``dense_only`` prefixes (modules that
    only dense prediction has, such as LV-ViT's side layers) and BatchNorm step counters must be in it, and
    nothing may be left over.

    Returns (and logs) the ``dropped``, ``missing`` (dense-only modules) and ``unexpected`` (none) key names.

    Raises:
        CheckpointMismatchError: the weights fill only a part of the backbone or hold tensors it has no place
            for; the message names ``source`` and the modules.
    """
    if not backbone.final_norm:  # a classifier's final norm has no place in a dense backbone without one
        dropped = dropped + [k for k in state_dict if k.startswith(final_norm_prefix)]
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith(final_norm_prefix)}
    backbone.check_compatible(state_dict, source)
    fit = state_dict_fit(backbone.state_dict(), state_dict)
    fit.missing = [k for k in fit.missing if not k.startswith(tuple(dense_only)) and not k.endswith(BN_COUNTER)]
    if not fit.exact:
        raise CheckpointMismatchError(f'{source}: these pretrained weights do not fit {type(backbone).__name__}: '
                                      f'{fit.summary()}; pick the config whose backbone made them')
    incompatible = backbone.load_state_dict(state_dict, strict=False)
    report = dict(dropped=dropped, missing=incompatible.missing_keys, unexpected=incompatible.unexpected_keys)
    print_log(f'{type(backbone).__name__}: loaded {len(state_dict)} tensors from {source}; ' +
              '; '.join(f'{kind} {_count_by_module(keys)}' for kind, keys in report.items()), logger='current')
    return report


def _count_by_module(keys: Sequence[str]) -> str:
    """``'0'``, or ``'130 (decode_head 98, auxiliary_head 32)'``: how many keys, by top-level module."""
    by_module = Counter(key.split('.')[0] for key in keys)
    return f'{len(keys)}' + (f' ({", ".join(f"{m} {n}" for m, n in by_module.items())})' if keys else '')
