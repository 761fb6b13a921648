"""Synthetic photo-like images for tests of image operations."""
import numpy as np


def photo(height: int = 180, width: int = 240, seed: int = 0) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB: gradients, a flat block, a hard-edged disc, mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(float)
    image = np.stack([x * 255 / width, y * 255 / height, 128 + 100 * np.sin(x / 9) * np.cos(y / 13)], -1)
    image[30:80, 40:120] = (210, 40, 90)
    image[(x - 170) ** 2 + (y - 120) ** 2 < 35 ** 2] = (20, 200, 230)
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)
