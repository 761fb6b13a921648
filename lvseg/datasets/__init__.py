"""Datasets for lvseg, registered in mmseg's ``DATASETS``: ImageNet with token-label maps, the packed label store,
the transforms that record crop, flip and affine."""
from .bad_sample import BadSampleError
from .class_file import ClassFileSegDataset
from .device_augment import DeviceTokenLabelAugment
from .eval_transforms import ResizeShorterSide
from .image_bytes import LoadImageBytes, PackImageBytes
from .imagenet import ImageNetTokenLabelDataset
from .label_store import LabelStore, LabelStoreError, LabelStoreWriter
from .lazy_images import LoadLazyImageFromFile
from .token_label_loading import LoadTokenLabelMap
from .token_label_transforms import (
    PackTokenLabelInputs,
    RandAugmentWithAffine,
    RandomFlipWithBox,
    RandomResizedCropWithBox,
)

__all__ = [
    'BadSampleError',
    'ClassFileSegDataset',
    'DeviceTokenLabelAugment',
    'ImageNetTokenLabelDataset',
    'LabelStore',
    'LabelStoreError',
    'LabelStoreWriter',
    'LoadImageBytes',
    'LoadLazyImageFromFile',
    'LoadTokenLabelMap',
    'PackImageBytes',
    'PackTokenLabelInputs',
    'RandAugmentWithAffine',
    'RandomFlipWithBox',
    'RandomResizedCropWithBox',
    'ResizeShorterSide',
]
