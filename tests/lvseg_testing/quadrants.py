"""Quadrant fixtures for the token-label geometry tests: a score map whose four quadrants hold classes 0 (top left),
1 (top right), 2 (bottom left) and 3 (bottom right), an image whose quadrants have four colours, and the checks that
token labels follow the pixels through crops, flips and affines (CPU and device augmentation alike)."""
import numpy as np
import torch

from lvseg.models.classifiers.token_labels import dense_token_targets

NUM_CLASSES = 5  # the quadrants' 4 classes and one that never wins
TOP_LOGIT, SECOND_LOGIT = 8.0, 2.0
PALETTE_BGR = np.array([[0, 0, 255], [0, 255, 0], [255, 0, 0], [0, 255, 255]])  # classes 0..3
FILL = 4  # pixel class of RandAugment's fill (timm's default grey 128)
PATCH = 16  # pixels per token side
GEOMETRIC_RAND_AUGMENT = ['Rotate', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel']
IDENTITY = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
FULL_BOX = (0.0, 0.0, 1.0, 1.0)


def centres(cells: int) -> np.ndarray:
    """Centres of ``cells`` equal cells tiling ``[0, 1]``."""
    return (np.arange(cells) + 0.5) / cells


def quadrant_class(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Class at fractions ``(x, y)`` of the original image."""
    return (x >= 0.5).astype(int) + 2 * (y >= 0.5).astype(int)


def quadrant_topk(height: int = 8, width: int = 8) -> torch.Tensor:
    """``(1, 2, 2, height, width)`` float16 top-2 map: quadrant class ``q`` first, ``(q + 2) % 4`` second."""
    ys, xs = np.meshgrid(centres(height), centres(width), indexing='ij')
    first = torch.from_numpy(quadrant_class(xs, ys)).float()
    second = (first + 2) % 4
    logits = torch.stack([torch.full_like(first, TOP_LOGIT), torch.full_like(first, SECOND_LOGIT)])
    return torch.stack([logits, torch.stack([first, second])])[None].half()


def quadrant_image(height: int, width: int) -> np.ndarray:
    """``(height, width, 3)`` uint8 BGR picture of the quadrant classes' colours."""
    ys, xs = np.meshgrid(centres(height), centres(width), indexing='ij')
    return PALETTE_BGR[quadrant_class(xs, ys)].astype(np.uint8)


def pixel_classes(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` class of each pixel: its nearest colour among the palette and the grey fill."""
    colours = np.concatenate([PALETTE_BGR, [[128, 128, 128]]]).astype(float)
    distances = ((image[:, :, None, :].astype(float) - colours) ** 2).sum(-1)
    return distances.argmin(-1)


def targets(box, flip=False, affine=IDENTITY, grid=(14, 14), topk=None):
    """Token targets ``(S_h, S_w, K)`` and crop target ``(K,)`` of one sample."""
    topk = quadrant_topk() if topk is None else topk
    tokens, crop = dense_token_targets(topk, torch.tensor([box], dtype=torch.float32), torch.tensor([flip]),
                                       torch.as_tensor(affine, dtype=torch.float32)[None], grid, NUM_CLASSES)
    return tokens[0].view(*grid, NUM_CLASSES), crop[0]


def expected_classes(box, grid, flip=False) -> np.ndarray:
    """``(S_h, S_w)`` quadrant class under each token's centre, mapped back through the flip and crop."""
    x1, y1, x2, y2 = box
    v, u = np.meshgrid(centres(grid[0]), centres(grid[1]), indexing='ij')
    u = 1 - u if flip else u
    return quadrant_class(x1 + u * (x2 - x1), y1 + v * (y2 - y1))


# Boxes whose token centres all lie off the quadrant boundaries, so every token has one right class.
ASYMMETRIC_BOXES = {
    'top-right quadrant': (0.5, 0.0, 1.0, 0.5),
    'left half': (0.0, 0.0, 0.5, 1.0),
    'thin horizontal strip': (0.1, 0.45, 0.8, 0.52),
    'off-centre rectangle': (0.3, 0.05, 0.65, 0.9),
}


def transformed_token_classes(image: np.ndarray) -> np.ndarray:
    """``(H/16, W/16)`` majority pixel class of each token's 16x16 cell."""
    classes = pixel_classes(image)
    height, width = classes.shape
    cells = classes.reshape(height // PATCH, PATCH, width // PATCH, PATCH).transpose(0, 2, 1, 3)
    cells = cells.reshape(height // PATCH, width // PATCH, -1)
    return np.apply_along_axis(lambda cell: np.bincount(cell, minlength=FILL + 1).argmax(), -1, cells)


def assert_tokens_follow_pixels(tokens: torch.Tensor, pixel_tokens: np.ndarray, checked: np.ndarray,
                                check_fill: bool = True) -> int:
    """Where ``checked``, a colour token has its class as argmax and (if ``check_fill``) a fill token a
    uniform label. Returns the number of tokens checked."""
    labels = tokens.argmax(-1).numpy()
    uniform = (tokens.max(-1).values - tokens.min(-1).values < 1e-6).numpy()
    colour = checked & (pixel_tokens != FILL)
    assert np.array_equal(labels[colour], pixel_tokens[colour])
    assert not uniform[colour].any()
    if check_fill:
        assert uniform[checked & (pixel_tokens == FILL)].all()
    return int(colour.sum() + check_fill * (checked & (pixel_tokens == FILL)).sum())


# Pipelines of the token-label transforms whose images and token labels must agree.
_RAND_AUGMENT = {'type': 'RandAugmentWithAffine', 'config_str': 'rand-n3-m9-mstd0.5-inc1',
                 'transforms': GEOMETRIC_RAND_AUGMENT}
PIPELINES = {
    'crop, flip, randaugment (the recipe)': [{'type': 'RandomResizedCropWithBox'},
                                             {'type': 'RandomFlipWithBox'}, _RAND_AUGMENT],
    'crop, randaugment, flip': [{'type': 'RandomResizedCropWithBox'}, _RAND_AUGMENT,
                                {'type': 'RandomFlipWithBox'}],
    'crop, flip, crop': [{'type': 'RandomResizedCropWithBox', 'size': 320, 'scale': (0.3, 1.0)},
                         {'type': 'RandomFlipWithBox'},
                         {'type': 'RandomResizedCropWithBox', 'scale': (0.3, 1.0)}],
    'crop, randaugment, crop, flip': [{'type': 'RandomResizedCropWithBox', 'size': 256, 'scale': (0.3, 1.0)},
                                      _RAND_AUGMENT,
                                      {'type': 'RandomResizedCropWithBox', 'scale': (0.7, 1.0),
                                       'ratio': (0.9, 1.1)},
                                      {'type': 'RandomFlipWithBox'}],
}
