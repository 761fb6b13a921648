"""Loading converted checkpoint weights into a backbone, with one report of what was and was not loaded."""
from __future__ import annotations

from collections.abc import Mapping

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader


def read_checkpoint(checkpoint: str | Mapping, source: str | None = None) -> tuple[Mapping, str]:
    """``(loaded checkpoint, its name for messages)`` from a file path or an already loaded checkpoint."""
    if isinstance(checkpoint, str):
        return CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu', logger='current'), checkpoint
    return checkpoint, source or 'the given checkpoint'


def load_converted(backbone: torch.nn.Module, state_dict: dict[str, torch.Tensor], dropped: list[str], source: str,
                   final_norm_prefix: str) -> dict[str, list[str]]:
    """Load ``state_dict`` (already in ``backbone``'s names) non-strictly, after dropping the final norm when the
    backbone was built without one (``backbone.final_norm`` False) and checking it with
    ``backbone._check_compatible(state_dict, source)``, which raises on a depth or shape mismatch.

    Returns (and logs) the ``dropped``, ``missing`` and ``unexpected`` key names.
    """
    if not backbone.final_norm:  # a classifier's final norm has no place in a dense backbone without one
        dropped = dropped + [k for k in state_dict if k.startswith(final_norm_prefix)]
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith(final_norm_prefix)}
    backbone._check_compatible(state_dict, source)
    incompatible = backbone.load_state_dict(state_dict, strict=False)
    report = dict(dropped=dropped, missing=incompatible.missing_keys, unexpected=incompatible.unexpected_keys)
    print_log(f'{type(backbone).__name__}: loaded {len(state_dict)} tensors from {source}; ' +
              '; '.join(f'{kind} {keys}' for kind, keys in report.items()), logger='current')
    return report
