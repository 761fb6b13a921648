"""The demo's class colours, which the token-label pictures borrow for any number of classes."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .synthetic import class_appearances


@lru_cache(maxsize=8)
def palette(num_classes: int) -> np.ndarray:
    """``(K, 3)`` uint8 BGR: the colour of every class, that of the synthetic data's class of the same index (hues
    spread by the golden ratio, so any ``K`` gets distinct neighbours)."""
    return np.array([appearance.rgb[::-1] for appearance in class_appearances(num_classes)], np.uint8)
