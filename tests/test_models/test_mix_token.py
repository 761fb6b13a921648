"""MixToken: the box, the token mixing with the flipped batch, the swap back, and the exact lam."""
import numpy as np
import torch
import torch.nn.functional as F
from lvseg_testing.reference_lvvit_classifier import mix_token_box
from scipy import stats

from lvseg.models.classifiers import mix_token
from lvseg.models.classifiers.mix_token import (
    TokenBox,
    box_from_centre,
    box_lam,
    box_mask,
    mix_class_target,
    sample_token_box,
    swap_in_box,
)

GRID = (3, 4)  # h, w: token i sits at row i // 4, column i % 4
BOX = TokenBox(top=1, bottom=3, left=1, right=3)  # rows 1-2, columns 1-2
INSIDE = [5, 6, 9, 10]


def test_box_follows_the_official_rand_bbox():
    # lam 0.75: sides int(6 * 0.5) = 3 and int(8 * 0.5) = 4 tokens, spanning centre -/+ side // 2, clipped.
    assert box_from_centre((6, 8), 0.75, centre=(3, 4)) == TokenBox(2, 4, 2, 6)
    assert box_from_centre((6, 8), 0.75, centre=(0, 7)) == TokenBox(0, 1, 5, 8)
    assert box_from_centre((6, 8), 1.0, centre=(3, 4)).area == 0


def test_sampled_boxes_lie_on_the_grid_and_follow_the_generator():
    boxes = [sample_token_box((14, 14), torch.Generator().manual_seed(seed)) for seed in range(200)]
    assert all(0 <= b.top <= b.bottom <= 14 and 0 <= b.left <= b.right <= 14 for b in boxes)
    assert sample_token_box((14, 14), torch.Generator().manual_seed(3)) == boxes[3]


# Statistical tests of the sampler on a 6 x 8 grid (not square, so that rows and columns cannot be confused), with
# fixed seeds. A test passes when its p-value is above P_MIN: a correct sampler would fail one in 1000 seeds. With
# DRAWS draws every chi-square cell expects at least 17 of them, and the Kolmogorov-Smirnov test rejects a lam drawn
# from Beta(2, 2) instead of Beta(1, 1) (a CDF gap of 0.096, sqrt(DRAWS) * 0.096 = 7.4 against 1.95 at P_MIN).
SAMPLER_GRID = (6, 8)
DRAWS = 6000
P_MIN = 1e-3


def test_sampled_lam_is_uniform_and_the_centre_uniform_over_the_grid(monkeypatch):
    drawn = []  # (lam, row, column) of each box, as sample_token_box hands them to box_from_centre

    def recording(grid, lam, centre):
        drawn.append((lam, *centre))
        return box_from_centre(grid, lam, centre)

    monkeypatch.setattr(mix_token, 'box_from_centre', recording)
    generator = torch.Generator().manual_seed(0)
    for _ in range(DRAWS):
        sample_token_box(SAMPLER_GRID, generator)
    lam, rows, cols = np.array(drawn).T
    assert stats.kstest(lam, 'uniform').pvalue > P_MIN  # lam ~ Beta(1, 1) = U(0, 1), the official self.beta = 1
    h, w = SAMPLER_GRID
    assert rows.min() >= 0 and rows.max() < h and cols.min() >= 0 and cols.max() < w
    cells = np.bincount((rows * w + cols).astype(int), minlength=h * w)  # 125 expected per cell
    assert stats.chisquare(cells).pvalue > P_MIN


def official_area_distribution(grid: tuple[int, int]) -> dict[int, float]:
    """P(box area = a) under the official rule (the reference's ``rand_bbox``), lam ~ U(0, 1) and a uniform centre.

    The box sides are ``int(h r)`` and ``int(w r)`` with ``r = sqrt(1 - lam)``, so ``r^2 ~ U(0, 1)`` and the sides
    are constant between the break points ``k / h`` and ``k / w``: an interval ``(a, b)`` has probability
    ``b^2 - a^2``."""
    h, w = grid
    breaks = sorted({k / h for k in range(h + 1)} | {k / w for k in range(w + 1)})
    probabilities: dict[int, float] = {}
    for low, high in zip(breaks[:-1], breaks[1:]):
        lam = 1 - ((low + high) / 2) ** 2
        for row in range(h):
            for col in range(w):
                top, left, bottom, right = mix_token_box(grid, lam, (row, col))
                area = (bottom - top) * (right - left)
                probabilities[area] = probabilities.get(area, 0.0) + (high ** 2 - low ** 2) / (h * w)
    return probabilities


def test_sampled_box_areas_follow_the_official_rule():
    expected = official_area_distribution(SAMPLER_GRID)
    generator = torch.Generator().manual_seed(1)
    areas = [sample_token_box(SAMPLER_GRID, generator).area for _ in range(DRAWS)]
    assert set(areas) <= set(expected)
    observed = [areas.count(area) for area in sorted(expected)]
    assert stats.chisquare(observed, [DRAWS * expected[area] for area in sorted(expected)]).pvalue > P_MIN


def test_box_mask_is_row_major():
    assert box_mask(BOX, GRID).nonzero().flatten().tolist() == INSIDE


def test_mixed_tokens_come_from_the_flipped_partner_inside_the_box_only():
    tokens = torch.randn(3, 12, 5)
    mixed = swap_in_box(tokens, BOX, GRID)
    outside = [i for i in range(12) if i not in INSIDE]
    for b in range(3):
        assert torch.equal(mixed[b, INSIDE], tokens[2 - b, INSIDE])
        assert torch.equal(mixed[b, outside], tokens[b, outside])


def test_predictions_are_swapped_back_inside_the_box_only():
    tokens = torch.randn(4, 12, 5)
    back = swap_in_box(swap_in_box(tokens, BOX, GRID), BOX, GRID)
    assert torch.equal(back, tokens)


def test_lam_is_one_minus_the_box_area_over_the_tokens():
    assert box_lam(BOX, GRID) == 1 - 4 / 12
    clipped = box_from_centre((6, 8), 0.75, centre=(0, 7))  # 1 x 3 tokens after clipping, not 3 x 4
    assert box_lam(clipped, (6, 8)) == 1 - 3 / 48


def test_class_target_is_mixed_with_the_partner_by_lam():
    target = torch.eye(3)
    mixed = mix_class_target(target, 0.75)
    assert torch.equal(mixed, torch.tensor([[0.75, 0, 0.25], [0, 1.0, 0], [0.25, 0, 0.75]]))


def test_swapping_predictions_back_equals_mixing_the_token_labels_by_the_box():
    torch.manual_seed(0)
    tokens, targets = torch.randn(4, 12, 8), torch.randn(4, 12, 6).softmax(-1)
    token_model = torch.nn.Linear(8, 6)  # acts on each token alone
    predictions = token_model(swap_in_box(tokens, BOX, GRID))

    swapped_back = swap_in_box(predictions, BOX, GRID)
    mixed_targets = swap_in_box(targets, BOX, GRID)
    assert torch.equal(mixed_targets[0, INSIDE], targets[3, INSIDE])  # the partner's labels inside the box

    def cross_entropy(logits, target):
        return F.cross_entropy(logits.reshape(-1, 6), target.reshape(-1, 6))

    assert torch.allclose(cross_entropy(swapped_back, targets), cross_entropy(predictions, mixed_targets))
    # For a token-wise model the swap back returns each image's own, unmixed predictions.
    assert torch.allclose(swapped_back, token_model(tokens))
