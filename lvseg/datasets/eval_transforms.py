"""The evaluation transform of the official LV-ViT classifiers, pixel for pixel.

The official ``validate.py`` evaluates through timm's eval transform: torchvision's ``Resize(int)`` on a PIL image
(the shorter side to ``floor(img_size / crop_pct)`` pixels, the longer side scaled and truncated to an int), then
a centre crop of ``img_size``. mmcv's keep-ratio ``Resize`` rounds the longer side instead of truncating it, a
pixel off for most aspect ratios; :class:`ResizeShorterSide` sizes the image as torchvision does.
"""
from __future__ import annotations

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ResizeShorterSide(BaseTransform):
    """Resize ``results['img']`` (HWC) so that its shorter side is ``size`` pixels and the longer side
    ``int(size * long / short)``, as ``torchvision.transforms.Resize(size)``.

    Sets ``img``, ``img_shape`` ``(h, w)`` and ``scale_factor`` ``(w_scale, h_scale)``.

    Args:
        size: the shorter side after resizing, in pixels.
        interpolation: mmcv interpolation name. Default: 'bicubic' (the official LV-ViT evaluation).
        backend: 'pillow' (PIL's resampling, which filters over the whole footprint when shrinking, as
            torchvision on PIL images) or 'cv2'. Default: 'pillow'.
    """

    def __init__(self, size: int, interpolation: str = 'bicubic', backend: str = 'pillow') -> None:
        self.size = size
        self.interpolation = interpolation
        self.backend = backend

    def transform(self, results: dict) -> dict:
        image: np.ndarray = results['img']
        height, width = image.shape[:2]
        if height <= width:
            new_height, new_width = self.size, int(self.size * width / height)
        else:
            new_height, new_width = int(self.size * height / width), self.size
        results['img'] = mmcv.imresize(image, (new_width, new_height), interpolation=self.interpolation,
                                       backend=self.backend)
        results['img_shape'] = (new_height, new_width)
        results['scale_factor'] = (new_width / width, new_height / height)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, interpolation={self.interpolation!r}, '
                f'backend={self.backend!r})')
