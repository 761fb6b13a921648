"""Datasets for lvseg, registered in mmseg's ``DATASETS``, and the synthetic demo data generator."""
from .class_file import ClassFileSegDataset
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
from .token_labels import broadcast_image_label, dense_token_targets

__all__ = [
    'ClassFileSegDataset',
    'ImageNetTokenLabelDataset',
    'LabelStore',
    'LabelStoreError',
    'LabelStoreWriter',
    'LoadLazyImageFromFile',
    'LoadTokenLabelMap',
    'PackTokenLabelInputs',
    'RandAugmentWithAffine',
    'RandomFlipWithBox',
    'RandomResizedCropWithBox',
    'broadcast_image_label',
    'dense_token_targets',
]
