"""Float32 regions: data and label arithmetic that must not follow the model's autocast dtype.

mmengine's ``train_step`` runs the data pre-processor and the model's loss inside the optimizer wrapper's autocast
(bf16, or fp16 on GPUs without bf16). Autocast lowers some ops it meets there: ``F.affine_grid`` and matmuls to the
low dtype, which moves resampled pixels by whole levels and gives some tokens another top class. Crop geometry,
token-label targets, MixToken's class mix and the loss are data and label arithmetic, not model arithmetic: lvseg
runs them in :func:`float32_region`, so that they give the same numbers in every precision regime
(``tests/test_models/test_precision_regimes.py``).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def float32_region(device: torch.device | str) -> Iterator[None]:
    """Run the block with autocast off for ``device``'s type (``'cpu'``, ``'cuda'``, ...): ops keep their inputs'
    dtypes. Tensors that arrive in a low dtype (the model's logits under autocast) are the caller's to ``.float()``."""
    with torch.autocast(torch.device(device).type, enabled=False):
        yield
