"""The class colours of the token-label pictures: class ``k``'s colour depends on ``k`` alone.

Hues are spaced by the golden ratio (multiples of it modulo 1 are well spread for any number of classes, so any
``K`` gets distinct neighbours), at one saturation and brightness; a picture shows class ``k`` in the same colour
whatever ``K`` is. lvseg's synthetic demo data (:mod:`lvseg.demo.synthetic`) paints its classes in these colours,
so the demo's pictures show each class in its own colour.
"""
from __future__ import annotations

import colorsys
import math
from functools import lru_cache

import numpy as np

GOLDEN_RATIO = (math.sqrt(5) - 1) / 2
SATURATION = 200  # 0..255
BRIGHTNESS = 225  # 0..255: HSV value of a class's colour


def class_hue(class_index: int) -> float:
    """The OpenCV hue (0..180, one unit is 2 degrees) of class ``class_index`` (0-based)."""
    return 180 * (class_index * GOLDEN_RATIO % 1)


def hue_rgb(hue: float) -> tuple[int, int, int]:
    """RGB 0..255 of the OpenCV ``hue`` at the palette's saturation and brightness."""
    rgb = colorsys.hsv_to_rgb(hue / 180, SATURATION / 255, BRIGHTNESS / 255)
    return tuple(round(255 * c) for c in rgb)


@lru_cache(maxsize=8)
def palette(num_classes: int) -> np.ndarray:
    """``(K, 3)`` uint8 BGR: the colour of every class ``0..K-1``."""
    return np.array([hue_rgb(class_hue(k))[::-1] for k in range(num_classes)], np.uint8)
