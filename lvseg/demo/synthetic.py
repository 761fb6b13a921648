"""A deterministic synthetic scene dataset, written in ADE20K's and ImageNet's folder layouts.

No ADE20K or ImageNet image can be downloaded where lvseg is developed, so this module draws scenes whose
classes a small ViT can learn in a few CPU minutes: textured shapes of ``K`` classes on textured backgrounds,
with exact masks.

Class ``k`` (0-based index; label ``k + 1`` on disk) has one appearance that depends on ``k`` alone, not on
``K`` nor on the seed, so datasets written with other class counts or seeds share their classes:

- a hue, spaced by the golden ratio from the hues of classes ``0..k-1`` (the token-label pictures' colour of
  class ``k``, :mod:`lvseg.annotator.palette`);
- a texture from :data:`TEXTURES` at a class-specific orientation (degrees) and period (pixels).

Each image jitters every class's hue, brightness, texture phase, period and orientation, and adds pixel
noise, so classes are told apart by local colour and texture, not by one pixel value.

Every image is drawn by its own ``numpy.random.default_rng((seed, layout, split, ...index))``: a file's bytes
depend only on the seed and the file's place in the dataset, so the same seed writes byte-identical files,
and images can be generated in any order or in parallel.
"""
from __future__ import annotations

import colorsys
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..annotator.palette import BRIGHTNESS, SATURATION, class_hue, hue_rgb

TEXTURES = ('stripes', 'checker', 'dots', 'waves', 'rings')
TEXTURE_PERIODS = (4.0, 6.0, 9.0)  # pixels; class k has TEXTURE_PERIODS[k % 3]
SHAPE_KINDS = ('ellipse', 'rectangle', 'triangle', 'polygon')

_HUE_NAMES = ('red', 'orange', 'yellow', 'lime', 'green', 'spring', 'cyan', 'azure', 'blue', 'violet',
              'magenta', 'rose')  # 30 degrees (15 OpenCV hue units) apart, starting at red
_GOLDEN_ANGLE = 180 * (3 - math.sqrt(5))  # degrees (about 137.5): well-spread texture orientations
_CONTRAST = 0.5  # a texture's dark phase is (1 - _CONTRAST) times as bright as its bright phase
_HORIZON_AMPLITUDE = 0.06  # of the image height: how much the boundary between background classes waves
_OBJECT_CENTRE_JITTER = 0.1  # of the shorter side: how far an ImageNet-style object strays from the centre
_OBJECT_GROWTH = 1.15  # scale applied to an ImageNet-style object until it covers the most pixels
_MAX_OBJECT_GROWTHS = 32  # 1.15 ** 32 > 80: more than enough to cover any image

_ADE20K_STREAM, _IMAGENET_STREAM = 0, 1  # keep the two layouts' random streams apart for the same seed


@dataclass(frozen=True)
class ClassAppearance:
    """How one class looks in every image, before per-image jitter.

    Attributes:
        name: Unique readable name, ``'<hue>-<texture>'`` (e.g. ``'red-stripes'``), with ``'-<k+1>'``
            appended for class ``k`` when an earlier class took the name.
        hue: OpenCV hue, 0..180 (one unit is 2 degrees).
        texture: One of :data:`TEXTURES`.
        angle: Texture orientation, degrees.
        period: Texture period, pixels.
    """

    name: str
    hue: float
    texture: str
    angle: float
    period: float

    @property
    def rgb(self) -> tuple[int, int, int]:
        """The class's colour at its texture's bright phase, RGB 0..255 (for palettes)."""
        return hue_rgb(self.hue)


@dataclass(frozen=True)
class SceneSpec:
    """Geometry and jitter of the generated scenes.

    Lengths are fractions of the image's shorter side unless they say pixels; ``(min, max)`` pairs are
    sampled uniformly, counts inclusively.

    Attributes:
        num_stuff: ADE20K-style scenes take their background from classes ``0..num_stuff-1`` ("stuff",
            like ADE20K's wall or sky) and their shapes from the other classes ("things").
        shapes_per_image: Number of shapes in an ADE20K-style scene; at least 1.
        shape_radius: Radius of a shape in an ADE20K-style scene.
        horizon: Height of the wavy boundary between the two background classes, fraction of the height.
        object_radius: Initial radius of the object of an ImageNet-style image; the object then grows
            until it covers more pixels than any other class.
        distractors_per_image: Number of small shapes of other classes on an ImageNet-style image.
        distractor_radius: Radius of a distractor shape.
        ignore_width: Width in pixels of the band labelled 0 (ignore) along every boundary between two
            classes in ADE20K-style annotations; 0 for none.
        hue_jitter: Largest per-image hue shift of a class, OpenCV hue units (2 degrees each).
        brightness_jitter: Largest per-image relative change of a class's brightness.
        period_jitter: Largest per-image relative change of a class's texture period.
        angle_jitter: Largest per-image change of a class's texture orientation, degrees.
        noise_std: Standard deviation of the Gaussian noise added to every pixel, grey levels.
    """

    num_stuff: int = 2
    shapes_per_image: tuple[int, int] = (3, 8)
    shape_radius: tuple[float, float] = (0.12, 0.32)
    horizon: tuple[float, float] = (0.3, 0.7)
    object_radius: tuple[float, float] = (0.3, 0.45)
    distractors_per_image: tuple[int, int] = (0, 2)
    distractor_radius: tuple[float, float] = (0.06, 0.14)
    ignore_width: int = 1
    hue_jitter: float = 4.0
    brightness_jitter: float = 0.15
    period_jitter: float = 0.1
    angle_jitter: float = 8.0
    noise_std: float = 6.0


@dataclass(frozen=True)
class SyntheticDataset:
    """What a writer wrote.

    Attributes:
        root: The dataset's root folder.
        class_names: ``K`` names, in class order (also in ``root/classes.txt``).
        palette: ``K`` RGB colours, in class order.
        num_images: Images written per split folder, e.g. ``{'training': 200, 'validation': 40}``.
    """

    root: Path
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    num_images: Mapping[str, int]

    @property
    def metainfo(self) -> dict:
        """``dict(classes=..., palette=...)`` for an mmseg ``BaseSegDataset``'s ``metainfo``."""
        return {'classes': self.class_names, 'palette': [list(c) for c in self.palette]}


def class_appearances(num_classes: int) -> tuple[ClassAppearance, ...]:
    """The appearances of classes ``0..num_classes-1``; class ``k``'s does not depend on ``num_classes``."""
    appearances: list[ClassAppearance] = []
    taken: set[str] = set()
    for k in range(num_classes):
        hue = class_hue(k)
        texture = TEXTURES[k % len(TEXTURES)]
        name = f'{_HUE_NAMES[round(hue / 15) % len(_HUE_NAMES)]}-{texture}'
        if name in taken:
            name = f'{name}-{k + 1}'
        taken.add(name)
        appearances.append(ClassAppearance(name=name, hue=hue, texture=texture,
                                           angle=k * _GOLDEN_ANGLE % 180,
                                           period=TEXTURE_PERIODS[k % len(TEXTURE_PERIODS)]))
    return tuple(appearances)


def wnid(class_index: int) -> str:
    """The ImageNet-style folder name of class ``class_index`` (0-based): 0 -> ``'n00000001'``."""
    return f'n{class_index + 1:08d}'


def render_ade20k_scene(rng: np.random.Generator, index: int, appearances: Sequence[ClassAppearance],
                        image_size: tuple[int, int], spec: SceneSpec) -> tuple[np.ndarray, np.ndarray]:
    """Draws one ADE20K-style scene: shapes of "thing" classes over one or two "stuff" classes.

    The background is split by a wavy horizon into two stuff classes (or one, when both draws agree); then
    shapes (ellipses, rectangles, triangles, polygons) of thing classes are painted in turn, each over the
    earlier ones. Image ``index`` has stuff class ``index % num_stuff`` in its background and paints thing
    class ``num_stuff + index % (K - num_stuff)`` last, so with the default shape sizes any split of at least
    ``max(num_stuff, K - num_stuff)`` images shows every class.

    Args:
        rng: The image's own random generator.
        index: The image's position in its split, 0-based.
        appearances: The ``K`` classes, from :func:`class_appearances`.
        image_size: ``(H, W)``, pixels.
        spec: Scene geometry and jitter.

    Returns:
        ``image``, ``(H, W, 3)`` uint8 BGR (OpenCV's channel order), and ``annotation``, ``(H, W)`` uint8:
        class index + 1 (1..K), or 0 (ignore) on the ``spec.ignore_width``-pixel band along class boundaries.
    """
    num_things = len(appearances) - spec.num_stuff
    if spec.num_stuff < 1 or num_things < 1:
        raise ValueError(f'ADE20K-style scenes need 1 <= num_stuff < num_classes, got num_stuff='
                         f'{spec.num_stuff} and {len(appearances)} classes')
    if spec.shapes_per_image[0] < 1:
        raise ValueError(f'ADE20K-style scenes need at least one shape, got {spec.shapes_per_image}')
    height, width = image_size
    side = min(height, width)
    top, bottom = index % spec.num_stuff, int(rng.integers(spec.num_stuff))
    if rng.random() < 0.5:
        top, bottom = bottom, top
    labels = _background(rng, image_size, top, bottom, spec.horizon)
    num_shapes = rng.integers(spec.shapes_per_image[0], spec.shapes_per_image[1] + 1)
    classes = spec.num_stuff + rng.integers(num_things, size=num_shapes)
    classes[-1] = spec.num_stuff + index % num_things
    for class_index in classes:
        centre = rng.uniform((0, 0), (width, height))
        _fill(labels, _random_polygon(rng, centre, side * rng.uniform(*spec.shape_radius)), class_index)
    image = _paint(rng, labels, appearances, spec)
    return image, _ignore_boundaries(labels, spec.ignore_width)


def render_object_scene(rng: np.random.Generator, class_index: int, appearances: Sequence[ClassAppearance],
                        image_size: tuple[int, int], spec: SceneSpec) -> tuple[np.ndarray, np.ndarray]:
    """Draws one ImageNet-style image: a large object of class ``class_index`` near the centre.

    The background is split by a wavy horizon into two other classes (one when ``K == 2``); a few small
    distractor shapes of yet other classes may cover parts of the object. The object grows until it covers
    more pixels than any other class, so the image's dominant class is always ``class_index``.

    Args:
        rng: The image's own random generator.
        class_index: The object's class, 0-based.
        appearances: The ``K >= 2`` classes, from :func:`class_appearances`.
        image_size: ``(H, W)``, pixels.
        spec: Scene geometry and jitter.

    Returns:
        ``image``, ``(H, W, 3)`` uint8 BGR, and ``mask``, ``(H, W)`` uint8: the exact class index + 1 of
        every pixel (no ignore band).
    """
    others = np.delete(np.arange(len(appearances)), class_index)
    if len(others) == 0:
        raise ValueError('ImageNet-style images need at least 2 classes: one for the object, one around it')
    height, width = image_size
    side = min(height, width)
    top, bottom = rng.choice(others, size=2, replace=len(others) < 2)
    background = _background(rng, image_size, top, bottom, spec.horizon)
    centre = np.array([width, height]) / 2 + side * rng.uniform(-_OBJECT_CENTRE_JITTER, _OBJECT_CENTRE_JITTER, 2)
    obj = _random_polygon(rng, centre, side * rng.uniform(*spec.object_radius))
    spare = np.setdiff1d(others, (top, bottom))
    num_distractors = rng.integers(spec.distractors_per_image[0], spec.distractors_per_image[1] + 1)
    distractors = [(rng.choice(spare), _random_polygon(rng, rng.uniform((0, 0), (width, height)),
                                                       side * rng.uniform(*spec.distractor_radius)))
                   for _ in range(num_distractors if len(spare) else 0)]
    for _ in range(_MAX_OBJECT_GROWTHS):
        labels = background.copy()
        _fill(labels, obj, class_index)
        for distractor_class, polygon in distractors:
            _fill(labels, polygon, distractor_class)
        counts = np.bincount(labels.ravel(), minlength=len(appearances) + 1)
        if counts[class_index + 1] > np.delete(counts, class_index + 1).max():
            return _paint(rng, labels, appearances, spec), labels
        obj = centre + _OBJECT_GROWTH * (obj - centre)
    raise ValueError(f'the distractors cover too much of the image for class {class_index} to dominate; '
                     f'lower distractor_radius={spec.distractor_radius}')


def write_ade20k_layout(root: str | Path, *, num_classes: int, num_train: int, num_val: int,
                        image_size: tuple[int, int], seed: int = 0,
                        spec: SceneSpec = SceneSpec()) -> SyntheticDataset:
    """Writes a synthetic segmentation dataset in mmseg's ADE20K layout, with its class names.

    Files, with ``i`` counted from 1 in each split, as in the real ADE20K::

        root/images/training/ADE_train_<i:08d>.jpg        (H, W, 3) JPEG, quality 95
        root/annotations/training/ADE_train_<i:08d>.png   (H, W) uint8 PNG: class index + 1, 0 = ignore
        root/images/validation/ADE_val_<i:08d>.jpg
        root/annotations/validation/ADE_val_<i:08d>.png
        root/classes.txt                                  K class names, one a line, in class order

    Label 0 marks a thin band along class boundaries (:attr:`SceneSpec.ignore_width`), so the annotations
    are read with ``reduce_zero_label=True`` like ADE20K's. mmseg's ``ADE20KDataset`` refuses class names
    outside ADE20K's 150, so configs use ``BaseSegDataset`` with ``img_suffix='.jpg'``,
    ``seg_map_suffix='.png'`` and the returned :attr:`SyntheticDataset.metainfo`. See
    :func:`render_ade20k_scene` for what a scene holds.

    Args:
        root: Output folder; created if missing. Existing files of the same names are overwritten.
        num_classes: ``K``, the number of classes, more than ``spec.num_stuff``.
        num_train: Images in ``training``.
        num_val: Images in ``validation``.
        image_size: ``(H, W)``, pixels.
        seed: Base seed (>= 0); image ``i`` of a split uses its own generator derived from it.
        spec: Scene geometry and jitter.

    Returns:
        The dataset's root, class names, palette and image counts per split.
    """
    root = Path(root)
    appearances = class_appearances(num_classes)
    splits = (('training', 'train', num_train), ('validation', 'val', num_val))
    for split_id, (folder, prefix, count) in enumerate(splits):
        image_dir, annotation_dir = root / 'images' / folder, root / 'annotations' / folder
        image_dir.mkdir(parents=True, exist_ok=True)
        annotation_dir.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            rng = np.random.default_rng((seed, _ADE20K_STREAM, split_id, index))
            image, annotation = render_ade20k_scene(rng, index, appearances, image_size, spec)
            stem = f'ADE_{prefix}_{index + 1:08d}'
            _write_jpeg(image_dir / f'{stem}.jpg', image)
            _write_png(annotation_dir / f'{stem}.png', annotation)
    return _finish(root, appearances, {folder: count for folder, _, count in splits})


def write_imagenet_layout(root: str | Path, *, num_classes: int, per_class_train: int, per_class_val: int,
                          image_size: tuple[int, int], seed: int = 0,
                          spec: SceneSpec = SceneSpec()) -> SyntheticDataset:
    """Writes a synthetic classification dataset in ImageNet's folder layout, with dense train masks.

    Each image shows one large object of its class on a background of other classes (see
    :func:`render_object_scene`); the classes are those of :func:`write_ade20k_layout` for the same
    ``num_classes``. Files, with ``wnid`` = :func:`wnid` of the class (so sorted folder names follow class
    order) and ``i`` counted from 1 in each class::

        root/train/<wnid>/<wnid>_<i>.JPEG         (H, W, 3) JPEG, quality 95
        root/val/<wnid>/<wnid>_<i>.JPEG
        root/masks/train/<wnid>/<wnid>_<i>.png    (H, W) uint8 PNG: the exact class index + 1 of every pixel
        root/classes.txt                          K class names, one a line, in class order

    The masks give every train pixel its true class (0 is reserved for "none" and does not occur), from
    which a later stage derives dense token labels (per-patch class distributions) for token labeling.

    Args:
        root: Output folder; created if missing. Existing files of the same names are overwritten.
        num_classes: ``K >= 2``, the number of classes.
        per_class_train: Train images per class.
        per_class_val: Val images per class.
        image_size: ``(H, W)``, pixels.
        seed: Base seed (>= 0); every image uses its own generator derived from it.
        spec: Scene geometry and jitter.

    Returns:
        The dataset's root, class names, palette and image counts per split (all classes together).
    """
    root = Path(root)
    appearances = class_appearances(num_classes)
    splits = (('train', per_class_train), ('val', per_class_val))
    for split_id, (split, per_class) in enumerate(splits):
        for class_index in range(num_classes):
            folder = wnid(class_index)
            image_dir, mask_dir = root / split / folder, root / 'masks' / split / folder
            image_dir.mkdir(parents=True, exist_ok=True)
            if split == 'train':
                mask_dir.mkdir(parents=True, exist_ok=True)
            for index in range(per_class):
                rng = np.random.default_rng((seed, _IMAGENET_STREAM, split_id, class_index, index))
                image, mask = render_object_scene(rng, class_index, appearances, image_size, spec)
                stem = f'{folder}_{index + 1}'
                _write_jpeg(image_dir / f'{stem}.JPEG', image)
                if split == 'train':
                    _write_png(mask_dir / f'{stem}.png', mask)
    return _finish(root, appearances, {split: num_classes * per_class for split, per_class in splits})


def _finish(root: Path, appearances: Sequence[ClassAppearance], num_images: dict[str, int]) -> SyntheticDataset:
    """Writes ``root/classes.txt`` and describes the dataset."""
    names = tuple(a.name for a in appearances)
    (root / 'classes.txt').write_text(''.join(f'{name}\n' for name in names))
    return SyntheticDataset(root=root, class_names=names, palette=tuple(a.rgb for a in appearances),
                            num_images=num_images)


def _background(rng: np.random.Generator, image_size: tuple[int, int], top: int, bottom: int,
                horizon: tuple[float, float]) -> np.ndarray:
    """``(H, W)`` uint8 labels: class ``top`` + 1 above a wavy horizon, class ``bottom`` + 1 below it."""
    height, width = image_size
    level = height * rng.uniform(*horizon)
    wavelength = width * rng.uniform(0.5, 1.5)  # pixels
    line = level + height * _HORIZON_AMPLITUDE * np.sin(2 * np.pi * np.arange(width) / wavelength
                                                         + rng.uniform(0, 2 * np.pi))
    rows = np.arange(height)[:, None]
    return np.where(rows < line[None, :], top + 1, bottom + 1).astype(np.uint8)


def _random_polygon(rng: np.random.Generator, centre: np.ndarray, radius: float) -> np.ndarray:
    """``(P, 2)`` vertices (x, y in pixels) of a random shape around ``centre``, about ``radius`` px wide.

    Every shape contains its centre and is star-shaped around it, so scaling it about the centre by a
    large enough factor covers any image.
    """
    kind = SHAPE_KINDS[rng.integers(len(SHAPE_KINDS))]
    if kind == 'ellipse':
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        points = np.stack([np.cos(t), rng.uniform(0.5, 1) * np.sin(t)], axis=1) * radius
    elif kind == 'rectangle':
        half_w, half_h = radius, radius * rng.uniform(0.4, 1)
        points = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]])
    else:  # a triangle or a polygon of 5..8 vertices at jittered angles and radii
        n = 3 if kind == 'triangle' else int(rng.integers(5, 9))
        t = 2 * np.pi / n * (np.arange(n) + rng.uniform(-0.2, 0.2, n))  # gaps < pi: centre inside
        r = radius * rng.uniform(0.6 if n > 3 else 0.8, 1, n)
        points = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    angle = rng.uniform(0, 2 * np.pi)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return centre + points @ rotation.T


def _fill(labels: np.ndarray, polygon: np.ndarray, class_index: int) -> None:
    """Paints ``polygon`` (``(P, 2)`` x, y pixels) with label ``class_index + 1`` into ``labels``, in place."""
    fixed_point = np.round(polygon * 16).astype(np.int32)  # 4 fractional bits: cv2's shift=4
    cv2.fillPoly(labels, [fixed_point], int(class_index) + 1, lineType=cv2.LINE_8, shift=4)


def _ignore_boundaries(labels: np.ndarray, width: int) -> np.ndarray:
    """``(H, W)`` labels with 0 on a ``width``-pixel band along every boundary between two labels.

    A pixel is ignored when its ``(width + 1)``-pixel square window (anchored as OpenCV anchors even
    kernels) holds two labels, so the band is ``width`` pixels wide and edges of the image are no boundary.
    """
    if width == 0:
        return labels.copy()
    window = np.ones((width + 1, width + 1), np.uint8)
    return np.where(cv2.dilate(labels, window) == cv2.erode(labels, window), labels, 0).astype(np.uint8)


def _paint(rng: np.random.Generator, labels: np.ndarray, appearances: Sequence[ClassAppearance],
           spec: SceneSpec) -> np.ndarray:
    """Renders ``(H, W)`` labels (class index + 1) as an ``(H, W, 3)`` uint8 BGR image, jittered and noisy."""
    grid = np.indices(labels.shape, dtype=np.float32)  # (2, H, W): y, x in pixels
    image = np.empty((*labels.shape, 3), np.float32)
    for label in np.unique(labels):
        mask = labels == label
        image[mask] = _texture(rng, appearances[label - 1], grid, spec)[mask]
    image += spec.noise_std * rng.standard_normal(image.shape, dtype=np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _texture(rng: np.random.Generator, appearance: ClassAppearance, grid: np.ndarray,
             spec: SceneSpec) -> np.ndarray:
    """One class's jittered texture over the whole image: ``(H, W, 3)`` float32 BGR grey levels 0..255."""
    _, height, width = grid.shape
    angle = math.radians(appearance.angle + rng.uniform(-spec.angle_jitter, spec.angle_jitter))
    period = appearance.period * (1 + rng.uniform(-spec.period_jitter, spec.period_jitter))  # pixels
    y = grid[0] - rng.uniform(0, height)  # a random origin shifts the texture's phase
    x = grid[1] - rng.uniform(0, width)
    u = (x * math.cos(angle) + y * math.sin(angle)) / period  # periods, across the stripes
    v = (y * math.cos(angle) - x * math.sin(angle)) / period  # periods, along the stripes
    pattern = _PATTERNS[appearance.texture](u, v)  # (H, W) in 0..1
    hue = (appearance.hue + rng.uniform(-spec.hue_jitter, spec.hue_jitter)) % 180
    # the bright phase is the class's palette colour (BRIGHTNESS), before jitter
    brightness = BRIGHTNESS * (1 + rng.uniform(-spec.brightness_jitter, spec.brightness_jitter))
    rgb = colorsys.hsv_to_rgb(hue / 180, SATURATION / 255, 1)
    value = brightness * (1 - _CONTRAST + _CONTRAST * pattern)
    return value[..., None] * np.array(rgb[::-1], np.float32)


def _dots(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Round dots on a square lattice, one per period."""
    return ((u % 1 - 0.5) ** 2 + (v % 1 - 0.5) ** 2 < 0.32 ** 2).astype(np.float32)


_PATTERNS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    # (u, v) -> (H, W) pattern in 0..1, with u, v the rotated pixel coordinates in periods
    'stripes': lambda u, v: 0.5 + 0.5 * np.sin(2 * np.pi * u),
    'checker': lambda u, v: (np.floor(u) + np.floor(v)) % 2,
    'dots': _dots,
    'waves': lambda u, v: 0.5 + 0.5 * np.sin(2 * np.pi * (u + 0.35 * np.sin(np.pi * v))),
    'rings': lambda u, v: 0.5 + 0.5 * np.sin(2 * np.pi * np.hypot(u, v)),
}


def _write_jpeg(path: Path, image: np.ndarray) -> None:
    """Writes an ``(H, W, 3)`` uint8 BGR image as a quality-95 JPEG."""
    _write_encoded(path, '.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 95])


def _write_png(path: Path, labels: np.ndarray) -> None:
    """Writes ``(H, W)`` uint8 labels as a single-channel PNG."""
    _write_encoded(path, '.png', labels, [])


def _write_encoded(path: Path, extension: str, array: np.ndarray, params: list[int]) -> None:
    ok, encoded = cv2.imencode(extension, array, params)
    if not ok:
        raise OSError(f'OpenCV could not encode {path} as {extension}')
    path.write_bytes(encoded.tobytes())
