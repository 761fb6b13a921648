"""Batch preparation for token-labeling pretraining: normalize, random-erase, stack the token-label fields; with
``augment_on='device'``, decode and augment the batch first."""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from mmengine.model import ImgDataPreprocessor
from mmengine.structures import BaseDataElement
from mmseg.registry import MODELS
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.data.random_erasing import RandomErasing

from ...datasets.bad_sample import POLICIES
from ...datasets.device_augment import DeviceTokenLabelAugment
from ...datasets.device_decode import DecodeStats, decode_images, replace_undecodable
from ...datasets.image_bytes import ORIENTATION_KEY
from ...utils.precision import float32_region


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
            # Under autocast (mmengine's train_step runs the pre-processor in the optim wrapper's), stack's type
            # promotion refuses the float16 maps when it autocasts to bfloat16: this is data, not model arithmetic.
            with float32_region(tensors[0].device):
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

    With ``device_augment`` (set by ``augment_on='device'``, :mod:`lvseg.engine.augment_on`), a training batch
    may arrive encoded: ``inputs`` a list of 1-D uint8 tensors, the file bytes (``PackImageBytes``). Such a batch
    is decoded on this pre-processor's device and turned upright by the samples' ``exif_orientation``
    (:func:`~lvseg.datasets.device_decode.decode_images`; images that cannot be decoded go through
    ``undecodable``), augmented there
    (:class:`~lvseg.datasets.device_augment.DeviceTokenLabelAugment`, which also gives the crop boxes, flips
    and affines of ``token_labels``), then normalized (the decoder gives RGB: ``bgr_to_rgb`` does not apply)
    and random-erased as above. Decoded batches (validation) take the steps above.

    Everything here runs in float32 whatever autocast is active (:func:`~lvseg.utils.precision.float32_region`):
    mmengine's ``train_step`` calls the pre-processor inside the optimizer wrapper's autocast, and the crop geometry
    and pixels must not depend on the model's dtype.

    Args:
        mean: per-channel mean in 0-255 RGB. Default: ImageNet's (timm's ``IMAGENET_DEFAULT_MEAN`` x 255).
        std: per-channel std in 0-255 RGB. Default: ImageNet's.
        bgr_to_rgb: images arrive in BGR (mmcv's loaders). Default: True.
        random_erasing_prob: probability to erase one box per training image. Default 0.25 (official
            ``main.py --reprob``).
        random_erasing_mode: fill of the erased box, 'pixel' = per-pixel normal noise (official ``--remode``).
        pad_size_divisor: pad the batch's height and width to a multiple of this. Default: 1.
        non_blocking: non-blocking host-to-device copies.
        device_augment: :class:`~lvseg.datasets.device_augment.DeviceTokenLabelAugment` arguments for encoded
            training batches; None (default): batches arrive decoded and augmented.
        undecodable: bad-sample policy for an encoded image that cannot be decoded: ``'error'`` (default: raise
            ``BadSampleError`` naming the file) or ``'skip'`` (train on a copy of another sample of the batch,
            reported to ``SkippedSamplesHook``); ``augment_on='device'`` sets it from the config's
            ``bad_samples``.
    """

    def __init__(self, mean: Sequence[float] = tuple(255 * m for m in IMAGENET_DEFAULT_MEAN),
                 std: Sequence[float] = tuple(255 * s for s in IMAGENET_DEFAULT_STD), bgr_to_rgb: bool = True,
                 random_erasing_prob: float = 0.25, random_erasing_mode: str = 'pixel',
                 pad_size_divisor: int = 1, non_blocking: bool = False, device_augment: dict | None = None,
                 undecodable: str = 'error') -> None:
        super().__init__(mean=mean, std=std, pad_size_divisor=pad_size_divisor, bgr_to_rgb=bgr_to_rgb,
                         non_blocking=non_blocking)
        if undecodable not in POLICIES:
            raise ValueError(f'undecodable must be one of {POLICIES}, got {undecodable!r}')
        self.random_erasing_prob = random_erasing_prob
        self.random_erasing_mode = random_erasing_mode
        self.device_augment = DeviceTokenLabelAugment(**device_augment) if device_augment is not None else None
        self.undecodable = undecodable
        self.decode_stats = DecodeStats()  # images per decoding path, for DecodeStatsHook (lvseg.engine.hooks)

    def forward(self, data: dict, training: bool = False) -> dict:
        """``data``: ``inputs`` (a list of ``(3, H, W)`` uint8 tensors or a batch) and ``data_samples``.

        Returns ``{'inputs': (B, 3, H, W) float, 'data_samples': [...], 'token_labels': TokenLabelBatch}``
        (``token_labels`` None when the samples carry no ``gt_label``).
        """
        with float32_region(self.device):
            if _is_encoded(data['inputs']):
                return self._decode_and_augment(data, training)
            data = super().forward(data, training)
            if training:
                data['inputs'] = self._erase(data['inputs'])
            samples = data['data_samples']
            data['token_labels'] = stack_token_labels(samples) if samples and 'gt_label' in samples[0] else None
            return data

    def _erase(self, inputs: torch.Tensor) -> torch.Tensor:
        """timm's random erasing of a normalized training batch ``(B, 3, H, W)``."""
        if self.random_erasing_prob <= 0:
            return inputs
        return RandomErasing(self.random_erasing_prob, mode=self.random_erasing_mode, device=inputs.device)(inputs)

    def _decode_and_augment(self, data: dict, training: bool) -> dict:
        """The encoded-batch path of :meth:`forward` (see the class); counts the decoding paths in
        ``decode_stats``."""
        if self.device_augment is None or not training:
            raise ValueError('this batch holds encoded images (file bytes): only training batches of '
                             "augment_on='device' are decoded here (device_augment set); validation and test "
                             'pipelines must load images (LoadImageFromFile)')
        samples = list(data['data_samples'])
        orientations = [sample.metainfo.get(ORIENTATION_KEY, 1) for sample in samples]
        images, problems = decode_images(data['inputs'], self.device, orientations, self.decode_stats)
        replace_undecodable(images, samples, problems, self.undecodable)
        data['data_samples'][:] = samples  # in place: hooks read the skipped samples from the batch
        batch = self.device_augment(images)
        inputs = self._erase(batch.images.float().sub_(self.mean).div_(self.std))
        samples = self.cast_data(samples)
        labels = stack_token_labels(samples)._replace(boxes=batch.boxes, flips=batch.flips, affines=batch.affines)
        return {'inputs': inputs, 'data_samples': samples, 'token_labels': labels}


def _is_encoded(inputs: object) -> bool:
    """Whether a batch's ``inputs`` are file bytes: a list of 1-D uint8 tensors."""
    return (isinstance(inputs, (list, tuple)) and len(inputs) > 0 and isinstance(inputs[0], torch.Tensor)
            and inputs[0].dim() == 1 and inputs[0].dtype == torch.uint8)
