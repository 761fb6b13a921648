"""Judging the GPU check: its figures against the goals of lvseg's GPU work, the ratio of the device path to the
train step it must feed, and the checks (steps finished, CUDA tests passed, losses finite and falling in bf16)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .plan import Step

MULTI_GPU_SKIP = 'needs 2 GPUs'  # the skip reason of tests/test_cuda.py's tests that need two devices


@dataclass(frozen=True)
class Goal:
    """A figure the report judges: ``key`` in the figures, at least ``minimum``."""

    key: str
    what: str
    minimum: float
    unit: str


# The goals of lvseg's GPU work: a fraction of the GPU's dense bf16 peak (its datasheet figure; a multiply-add
# counts 2 FLOPs) for the train steps, images/s for slide inference on one H100/H200.
GOALS = (
    Goal('train_step.lvseg.peak_fraction', 'LV-ViT-S token-labeling train step, batch 128 at 224, bf16: fraction '
         "of the GPU's dense bf16 peak", 0.40, 'fraction'),
    Goal('seg_step.train.peak_fraction', 'UperNet + LV-ViT-S train step, 2 x 512x512, bf16: fraction of the '
         "GPU's dense bf16 peak", 0.30, 'fraction'),
    Goal('seg_step.slide.images_per_s', 'UperNet + LV-ViT-S slide inference of a 512x683 image, bf16', 25.0,
         'images/s'),
    Goal('feed.ratio', "augment_on='device': images/s of GPU decode + augment + normalize over the LV-ViT-S train "
         "step's images/s (can the path feed the step?)", 1.0, 'x'),
)


def feed_figures(figures: dict) -> dict:
    """Can ``augment_on='device'`` feed the train step? The images/s of decode + augment + normalize of a batch on the
    GPU (``bench/device_pipeline.py``), and their ratio to the LV-ViT-S train step's images/s
    (``bench/train_step.py``): below 1, the GPU would wait for its own augmentation."""
    batch, ms = figures.get('device_pipeline.cuda_batch'), figures.get('device_pipeline.cuda_decode_augment_ms')
    path = 1e3 * batch / ms if batch and ms else None
    step = figures.get('train_step.lvseg.images_per_s')
    return {'feed.device_path_images_per_s': path, 'feed.train_step_images_per_s': step,
            'feed.ratio': path / step if path and step else None}


def all_figures(steps: Sequence[Step]) -> dict:
    """The figures the steps found, and the measured ones of :func:`feed_figures`."""
    figures = {k: v for step in steps for k, v in step.found.items()}
    return figures | {k: v for k, v in feed_figures(figures).items() if v is not None}


def shown_value(value: float, unit: str) -> str:
    """A figure as the report shows it: a fraction in percent, a ratio ('x') with two decimals, else with its unit."""
    if unit == 'fraction':
        return f'{100 * value:.1f}%'
    return f'{value:.2f}x' if unit == 'x' else f'{value:.1f} {unit}'


def judge(goal: Goal, figures: dict, dry_run: bool) -> tuple[str, str]:
    """(measured, verdict) of ``goal``."""
    value = figures.get(goal.key)
    if value is None:
        return 'not measured', 'not measured'
    shown = shown_value(value, goal.unit)
    if dry_run:
        return shown, 'not judged (dry run on the CPU)'
    return shown, 'met' if value >= goal.minimum else 'not met'


def judged_goals(figures: dict, dry_run: bool) -> list[dict]:
    """Each of :data:`GOALS` as the report lists it: key, what, minimum, unit, the goal as shown (``>= 40%``),
    measured and verdict."""
    goals = []
    for goal in GOALS:
        measured, verdict = judge(goal, figures, dry_run)
        minimum = f'{100 * goal.minimum:.0f}%' if goal.unit == 'fraction' else shown_value(goal.minimum, goal.unit)
        goals.append({'key': goal.key, 'what': goal.what, 'minimum': goal.minimum, 'unit': goal.unit,
                      'goal': f'>= {minimum}', 'measured': measured, 'verdict': verdict})
    return goals


def checks(steps: Sequence[Step], figures: dict, dry_run: bool) -> list[tuple[str, bool]]:
    """(what, passed) for every check of the run: each step finished, no CUDA test failed, the tools' losses
    finite and falling (falling is judged on the GPU only: the dry run is too short to show it)."""
    results = [(f'step "{s.name}" finished', s.status == 'ok') for s in steps]
    results.append(('no CUDA test failed', figures.get('cuda_tests.failed', 1) == 0))
    if not dry_run:
        # Only the tests that need more GPUs than the node has may skip.
        unexpected = [reason for reason in figures.get('cuda_tests.skip_reasons', ['not run'])
                      if reason != MULTI_GPU_SKIP]
        results.append(('CUDA tests ran (none skipped but those needing more GPUs)', not unexpected
                        and figures.get('cuda_tests.passed', 0) > 0))
    for tool in ('pretrain', 'pretrain_device', 'train'):
        results.append((f'{tool}: every logged loss finite', bool(figures.get(f'{tool}.all_finite'))))
        if not dry_run:
            results.append((f'{tool}: loss falls (mean of the last 5 < mean of the first 5)',
                            bool(figures.get(f'{tool}.falls'))))
            results.append((f'{tool}: AMP in bf16', figures.get(f'{tool}.amp_dtype') == 'bfloat16'))
    return results
