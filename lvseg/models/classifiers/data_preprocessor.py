"""Batch preparation for token-labeling pretraining: normalize, random-erase, stack the token-label fields."""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from mmengine.model import ImgDataPreprocessor
from mmengine.structures import BaseDataElement
from mmseg.registry import MODELS
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.data.random_erasing import RandomErasing


class TokenLabelBatch(NamedTuple):
    """The per-image label fields of a batch, stacked.

    ``topk`` is None when the data set has no annotator maps; then every token is labelled with the image
    label. A geometry field is None when the samples lack it.

    Attributes:
        labels: image labels ``(B,)`` int64.
        topk: annotator maps ``(B, 2, k, h, w)``: top-k logits, then their class indices.
        boxes: crop boxes ``(B, 4)``: x1, y1, x2, y2 as fractions of the image the map covers.
        flips: ``(B,)`` bool, whether the crop was flipped horizontally.
        affines: ``(B, 2, 3)`` geometric augmentation of the crop (RandAugment's rotate/shear/translate).
    """

    labels: torch.Tensor
    topk: torch.Tensor | None = None
    boxes: torch.Tensor | None = None
    flips: torch.Tensor | None = None
    affines: torch.Tensor | None = None


# The data-sample fields written by ``PackTokenLabelInputs`` (lvseg.datasets.token_label_transforms), in the
# order of ``TokenLabelBatch``.
SAMPLE_FIELDS = ('gt_label', 'token_label_topk', 'token_label_box', 'token_label_flip', 'token_label_affine')


def stack_token_labels(data_samples: Sequence[BaseDataElement]) -> TokenLabelBatch:
    """Stack the label fields of ``B`` data samples into a :class:`TokenLabelBatch` on the samples' device.

    Every sample needs ``gt_label`` (a 0-d int64 tensor or an int); each other field must be present on all
    samples or on none.
    """
    columns: list[torch.Tensor | None] = []
    for field in SAMPLE_FIELDS:
        present = [field in sample for sample in data_samples]
        if not any(present):
            columns.append(None)
        elif all(present):
            tensors = [torch.as_tensor(sample.get(field)) for sample in data_samples]
            # mmengine's train_step runs the pre-processor inside the optim wrapper's autocast, whose type promotion
            # for stack refuses the float16 maps when it autocasts to bfloat16: this is data, not model arithmetic.
            with torch.autocast(tensors[0].device.type, enabled=False):
                columns.append(torch.stack(tensors))
        else:
            raise ValueError(f'{present.count(False)} of {len(data_samples)} data samples lack {field!r}; '
                             'a batch cannot mix images with and without token-label maps')
    if columns[0] is None:
        raise ValueError('token labeling needs gt_label in every data sample')
    return TokenLabelBatch(*columns)


@MODELS.register_module()
class TokenLabelingDataPreprocessor(ImgDataPreprocessor):
    """mmengine's image pre-processor plus timm's batch random erasing and the token-label fields.

    Steps: move to the device, BGR -> RGB, normalize, stack the images into ``inputs`` ``(B, 3, H, W)``;
    for training batches only, random erasing on the normalized images (as timm's loader, which the official
    code uses); and, when the batch has data samples, stack their label fields into ``token_labels``
    (:class:`TokenLabelBatch`), passed to the model's ``forward`` as a keyword.

    Args:
        mean: per-channel mean in 0-255 RGB. Default: ImageNet's (timm's ``IMAGENET_DEFAULT_MEAN`` x 255).
        std: per-channel std in 0-255 RGB. Default: ImageNet's.
        bgr_to_rgb: images arrive in BGR (mmcv's loaders). Default: True.
        random_erasing_prob: probability to erase one box per training image. Default 0.25 (official
            ``main.py --reprob``).
        random_erasing_mode: fill of the erased box, 'pixel' = per-pixel normal noise (official ``--remode``).
        pad_size_divisor: pad the batch's height and width to a multiple of this. Default: 1.
        non_blocking: non-blocking host-to-device copies.
    """

    def __init__(self, mean: Sequence[float] = tuple(255 * m for m in IMAGENET_DEFAULT_MEAN),
                 std: Sequence[float] = tuple(255 * s for s in IMAGENET_DEFAULT_STD), bgr_to_rgb: bool = True,
                 random_erasing_prob: float = 0.25, random_erasing_mode: str = 'pixel',
                 pad_size_divisor: int = 1, non_blocking: bool = False) -> None:
        super().__init__(mean=mean, std=std, pad_size_divisor=pad_size_divisor, bgr_to_rgb=bgr_to_rgb,
                         non_blocking=non_blocking)
        self.random_erasing_prob = random_erasing_prob
        self.random_erasing_mode = random_erasing_mode

    def forward(self, data: dict, training: bool = False) -> dict:
        """``data``: ``inputs`` (a list of ``(3, H, W)`` uint8 tensors or a batch) and ``data_samples``.

        Returns ``{'inputs': (B, 3, H, W) float, 'data_samples': [...], 'token_labels': TokenLabelBatch}``
        (``token_labels`` None when the samples carry no ``gt_label``).
        """
        data = super().forward(data, training)
        if training and self.random_erasing_prob > 0:
            erase = RandomErasing(self.random_erasing_prob, mode=self.random_erasing_mode,
                                  device=data['inputs'].device)
            data['inputs'] = erase(data['inputs'])
        samples = data['data_samples']
        data['token_labels'] = stack_token_labels(samples) if samples and 'gt_label' in samples[0] else None
        return data
