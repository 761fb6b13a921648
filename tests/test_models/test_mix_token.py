"""MixToken: the box, the token mixing with the flipped batch, the swap back, and the exact lam."""
import torch
import torch.nn.functional as F

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
    assert len({b.area for b in boxes}) > 20  # lam ~ Beta(1, 1) spreads the sizes
    assert sample_token_box((14, 14), torch.Generator().manual_seed(3)) == boxes[3]


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
