"""Tiny data sets written in the on-disk layouts of the standard benchmarks, as mmseg's dataset classes read them
(file names, folders, split files, mask value conventions), and in the layout of configs/_base_/datasets/own_data.py.

Each writer makes ``len(names[split])`` images per split: an image with one coloured rectangle per label on a
background label, and its mask (8-bit PNG, the labels as stored on disk, with a 255 border where the data set has
an ignore value). :func:`stored_labels` gives the values a layout's masks hold.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# The values stored in the masks of each layout: first the background, then the rectangles.
STORED = {
    'cityscapes': (0, 2, 13, 18),            # labelTrainIds: 0..18 (road, building, car, bicycle), 255 ignored
    'voc12aug': (0, 1, 15, 20),              # 0 background .. 20 tvmonitor, 255 ignored (object borders)
    'pascal_context_59': (0, 1, 30, 59),     # 0 = the 60th, unlabelled class: ignored (reduce_zero_label)
    'coco_stuff164k': (0, 1, 92, 170),       # labelTrainIds 0..170, 255 ignored
    'own_data': (0, 1, 2),                   # configs/_base_/datasets/own_data.py: 3 classes
}


def stored_labels(layout: str) -> tuple[int, ...]:
    """The values a ``layout``'s generated masks hold besides 255."""
    return STORED[layout]


def scene(rng: np.random.Generator, size: tuple[int, int], labels: tuple[int, ...],
          border: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(image (H, W, 3) uint8 RGB, mask (H, W) uint8)``: ``labels[0]`` everywhere, a random rectangle of each other
    label, each label its own colour; a 2-pixel border of 255 (ignored) if ``border``."""
    height, width = size
    mask = np.full(size, labels[0], dtype=np.uint8)
    for label in labels[1:]:
        top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
        mask[top:top + rng.integers(height // 4, height // 2), left:left + rng.integers(width // 4, width // 2)] = label
    if border:
        mask[:2], mask[-2:], mask[:, :2], mask[:, -2:] = 255, 255, 255, 255
    colours = np.random.default_rng(7).integers(0, 256, (256, 3), dtype=np.uint8)
    image = np.clip(colours[mask].astype(int) + rng.integers(-20, 21, (*size, 3)), 0, 255).astype(np.uint8)
    return image, mask


def _save(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def _save_mask(mask: np.ndarray, path: Path, palette: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(mask)
    if palette:  # VOC's SegmentationClass: palette PNGs (mode P) whose index is the class
        image.putpalette(np.random.default_rng(1).integers(0, 256, 768, dtype=np.uint8).tolist())
    image.save(path)


def _write_list(path: Path, names: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(f'{name}\n' for name in names))


def write_layout(layout: str, root: Path, num_train: int = 2, num_val: int = 2, size: tuple[int, int] = (64, 96),
                 seed: int = 0) -> dict[str, list[Path]]:
    """Write a tiny ``layout`` data set under ``root``; return its mask files per split ('train', 'val').

    Layouts (mmseg's dataset _base_ files and classes): 'cityscapes' (leftImg8bit/<split>/<city>/
    <name>_leftImg8bit.png, gtFine/<split>/<city>/<name>_gtFine_labelTrainIds.png); 'voc12aug' (JPEGImages/*.jpg;
    SegmentationClass/*.png, palette, for train.txt and val.txt; SegmentationClassAug/*.png for aug.txt, all under
    ImageSets/Segmentation/); 'pascal_context_59' (JPEGImages/*.jpg, SegmentationClassContext/*.png,
    ImageSets/SegmentationContext/{train,val}.txt); 'coco_stuff164k' (images/{train2017,val2017}/*.jpg,
    annotations/{train2017,val2017}/*_labelTrainIds.png); 'own_data' (images/{train,val}/*.jpg, masks/...png).
    """
    rng = np.random.default_rng(seed)
    labels = stored_labels(layout)
    border = layout != 'own_data'
    masks: dict[str, list[Path]] = {'train': [], 'val': []}
    for split, count in (('train', num_train), ('val', num_val)):
        names = [f'{split}_{i:04d}' for i in range(count)]
        for i, name in enumerate(names):
            image, mask = scene(rng, size, labels, border)
            if layout == 'cityscapes':
                city = 'aachen' if i % 2 == 0 else 'bremen'
                stem = f'{city}_{i:06d}_000019'
                _save(image, root / 'leftImg8bit' / split / city / f'{stem}_leftImg8bit.png')
                mask_path = root / 'gtFine' / split / city / f'{stem}_gtFine_labelTrainIds.png'
            elif layout == 'voc12aug':
                _save(image, root / 'JPEGImages' / f'{name}.jpg')
                # train.txt and val.txt images have SegmentationClass masks; aug.txt ones (the training set here,
                # as SBD's) SegmentationClassAug masks too
                folder = 'SegmentationClassAug' if split == 'train' else 'SegmentationClass'
                mask_path = root / folder / f'{name}.png'
            elif layout == 'pascal_context_59':
                _save(image, root / 'JPEGImages' / f'{name}.jpg')
                mask_path = root / 'SegmentationClassContext' / f'{name}.png'
            elif layout == 'coco_stuff164k':
                folder = f'{split}2017'
                _save(image, root / 'images' / folder / f'{name}.jpg')
                mask_path = root / 'annotations' / folder / f'{name}_labelTrainIds.png'
            elif layout == 'own_data':
                _save(image, root / 'images' / split / f'{name}.jpg')
                mask_path = root / 'masks' / split / f'{name}.png'
            else:
                raise ValueError(f'unknown layout {layout!r}')
            _save_mask(mask, mask_path)
            masks[split].append(mask_path)
        if layout == 'voc12aug':
            if split == 'train':  # one image in train.txt (SegmentationClass), all in aug.txt (SegmentationClassAug)
                _save_mask(np.asarray(Image.open(masks['train'][0])), root / 'SegmentationClass' / f'{names[0]}.png',
                           palette=True)
                _write_list(root / 'ImageSets/Segmentation/train.txt', names[:1])
                _write_list(root / 'ImageSets/Segmentation/aug.txt', names)
            else:
                _write_list(root / 'ImageSets/Segmentation/val.txt', names)
        elif layout == 'pascal_context_59':
            _write_list(root / f'ImageSets/SegmentationContext/{split}.txt', names)
    return masks
