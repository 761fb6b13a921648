"""MixToken: CutMix on the token grid (Jiang et al., NeurIPS 2021, arXiv 2104.10858; docs/method.md#mixtoken).

After the patch embedding, the tokens of sample ``b`` inside a box on the ``(h, w)`` token grid are
replaced by those of its partner ``B - 1 - b`` (the batch flipped). The dense predictions are swapped back
inside the same box, so every patch prediction is compared with the token label of the image its token came
from; this equals mixing the token labels by the box. The class target is mixed by
``lam = 1 - box area / N``.

Swapping with the flipped batch inside a box is its own inverse, so :func:`swap_in_box` serves both to mix the
tokens and to swap the predictions back. Token tensors are row-major over the grid: token ``i`` sits at row
``i // w``, column ``i % w``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch


class TokenBox(NamedTuple):
    """A box on the token grid in tokens, half-open: rows ``top:bottom``, columns ``left:right``."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def area(self) -> int:
        """Number of tokens inside the box."""
        return (self.bottom - self.top) * (self.right - self.left)


def box_from_centre(grid: tuple[int, int], lam: float, centre: tuple[int, int]) -> TokenBox:
    """The CutMix box of the official ``rand_bbox`` (``tlt/models/lvvit.py``) for a given ``lam`` and centre.

    Each side is ``int(side * sqrt(1 - lam))`` tokens; the box spans ``centre -/+ side // 2`` (so an odd
    side loses a token, as in the official code) and is clipped to the grid, so it can be smaller than asked
    (hence :func:`box_lam` recomputes lam from the area).

    Args:
        grid: token grid ``(h, w)``.
        lam: the sampled mixing ratio in [0, 1].
        centre: ``(row, column)`` of the box centre, in tokens.
    """
    h, w = grid
    ratio = math.sqrt(1.0 - lam)
    half_h, half_w = int(h * ratio) // 2, int(w * ratio) // 2
    row, col = centre
    return TokenBox(top=min(max(row - half_h, 0), h), bottom=min(max(row + half_h, 0), h),
                    left=min(max(col - half_w, 0), w), right=min(max(col + half_w, 0), w))


def sample_token_box(grid: tuple[int, int], generator: torch.Generator | None = None) -> TokenBox:
    """Draw a MixToken box: ``lam ~ Beta(1, 1)``, i.e. uniform on [0, 1), and a centre uniform over the grid.

    Beta(1, 1) is the official choice (``self.beta = 1.0`` in ``tlt/models/lvvit.py``). Drawn on the CPU,
    so no device synchronisation; ``generator`` (a CPU ``torch.Generator``) makes it reproducible, None uses
    torch's global RNG.

    Args:
        grid: token grid ``(h, w)``.
        generator: the random source.
    """
    lam = float(torch.rand((), generator=generator))
    row = int(torch.randint(grid[0], (), generator=generator))
    col = int(torch.randint(grid[1], (), generator=generator))
    return box_from_centre(grid, lam, (row, col))


def box_lam(box: TokenBox, grid: tuple[int, int]) -> float:
    """The exact share of a sample's own tokens after mixing: ``1 - box.area / (h * w)``."""
    return 1.0 - box.area / (grid[0] * grid[1])


def box_mask(box: TokenBox, grid: tuple[int, int], device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean ``(h * w,)`` mask of the tokens inside ``box``, row-major over the grid ``(h, w)``."""
    mask = torch.zeros(grid, dtype=torch.bool, device=device)
    mask[box.top:box.bottom, box.left:box.right] = True
    return mask.flatten()


def swap_in_box(x: torch.Tensor, box: TokenBox, grid: tuple[int, int]) -> torch.Tensor:
    """Take the values of the batch-flipped partner (``b <- B - 1 - b``) at the tokens inside ``box``.

    Mixes the patch tokens ``(B, N, C)`` before the transformer, and (applied again, being its own inverse)
    swaps the dense predictions ``(B, N, K)`` back so that each follows the image its token came from.
    ``N = h * w``; returns a new tensor of the same shape.
    """
    mask = box_mask(box, grid, x.device)[None, :, None]
    return torch.where(mask, x.flip(0), x)


def mix_class_target(target: torch.Tensor, lam: float) -> torch.Tensor:
    """Mix class targets ``(B, K)`` with the partner's: ``lam * y + (1 - lam) * y.flip(0)``."""
    return lam * target + (1.0 - lam) * target.flip(0)
