"""Evaluation split over 1, 2 and 3 gloo processes gives the metrics of one process: segmentation's mIoU
(mmseg's ``IoUMetric``) and pretraining's top-k (lvseg's ``TopKAccuracy``), with the val sampler and evaluator
of lvseg's configs, on 7 images, which neither 2 nor 3 divides.

mmengine's ``DefaultSampler`` pads the ranks to equal lengths by repeating the first images of its order, and
``BaseMetric.evaluate`` gathers the ranks' per-image results in that order and cuts them to the data set's size.
Each rank here feeds its metric the fixed predictions of its sampler's shard, batch by batch, as the ``ValLoop``
does; the predictions are chosen so that a metric counting the repeated images would report other figures.
"""
import functools
import math
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from lvseg_testing.tool_runner import DEMO_CONFIG, PRETRAIN_DEMO_CONFIG
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from mmengine.structures import BaseDataElement, PixelData
from mmseg.registry import DATA_SAMPLERS

import lvseg  # noqa: F401  (registers TopKAccuracy)

NUM_IMAGES = 7
WORLD_SIZES = (1, 2, 3)
NUM_CLASSES = 8
# Image i's label is ranked LABEL_RANK[i]-th by its scores: top-1 hits 0, 1 and 3 (3/7), top-5 hits 0, 1, 2, 3
# and 5 (5/7). Images 0 and 1 are the ones repeated on 2 or 3 ranks: counted twice, they would give 4/8, 5/9.
LABEL_RANK = (0, 0, 5, 0, 7, 1, 6)
SEG_CLASSES, SEG_SIZE, IGNORE = 4, (6, 5), 255


def classification_samples() -> list[BaseDataElement]:
    """Predicted data samples of the 7 images: scores ``(K,)`` falling with the class index, label =
    ``LABEL_RANK[i]`` (so the label has that many classes above it)."""
    scores = torch.linspace(1.0, 0.2, NUM_CLASSES)
    return [BaseDataElement(pred_score=scores, gt_label=torch.tensor(rank)) for rank in LABEL_RANK]


def segmentation_samples() -> list[BaseDataElement]:
    """Predicted data samples of the 7 images, ``(1, 6, 5)`` maps over 4 classes with a few ignored pixels:
    image i's prediction is wrong on a share of its pixels that grows with i (image 0 is perfect)."""
    generator = torch.Generator().manual_seed(0)
    samples = []
    for i in range(NUM_IMAGES):
        truth = torch.randint(0, SEG_CLASSES, (1, *SEG_SIZE), generator=generator)
        truth[0, 0, :i % 3] = IGNORE
        wrong = torch.rand((1, *SEG_SIZE), generator=generator) < i / NUM_IMAGES
        prediction = torch.where(wrong, (truth + 1) % SEG_CLASSES, truth)
        samples.append(BaseDataElement(pred_sem_seg=PixelData(data=prediction), gt_sem_seg=PixelData(data=truth)))
    return samples


def expected_iou_metrics(images: list[int]) -> dict[str, float]:
    """aAcc, mIoU and mAcc (percent, 2 decimals, as mmseg reports them) of ``images`` (repeats counted),
    computed here with numpy."""
    samples = segmentation_samples()
    intersect, union, label_area = (np.zeros(SEG_CLASSES) for _ in range(3))
    for i in images:
        truth = samples[i].gt_sem_seg.data.numpy().ravel()
        prediction = samples[i].pred_sem_seg.data.numpy().ravel()
        kept = truth != IGNORE
        truth, prediction = truth[kept], prediction[kept]
        for c in range(SEG_CLASSES):
            intersect[c] += np.sum((truth == c) & (prediction == c))
            union[c] += np.sum((truth == c) | (prediction == c))
            label_area[c] += np.sum(truth == c)
    return {'aAcc': round(intersect.sum() / label_area.sum() * 100, 2),
            'mIoU': round(np.mean(intersect / union) * 100, 2), 'mAcc': round(np.mean(intersect / label_area) * 100, 2)}


def expected_topk(images: list[int]) -> dict[str, float]:
    """accuracy/top1 and top5 (percent) of ``images``."""
    return {f'accuracy/top{k}': 100 * sum(LABEL_RANK[i] < k for i in images) / len(images) for k in (1, 5)}


@functools.cache  # read once in this process, before the ranks fork from it
def val_setup(task: str) -> tuple[dict, dict, int, list[BaseDataElement], dict]:
    """The val sampler, evaluator and batch size of the task's config, its fixed predictions and its metainfo."""
    if task == 'segmentation':
        cfg, meta = Config.fromfile(DEMO_CONFIG), {'classes': tuple(f'class{c}' for c in range(SEG_CLASSES))}
        loader = cfg.val_dataloader
        return loader.sampler, cfg.val_evaluator, loader.batch_size, segmentation_samples(), meta
    cfg = Config.fromfile(PRETRAIN_DEMO_CONFIG)  # its val batch of 32 would hold every shard: 2 makes several
    return cfg.val_dataloader.sampler, cfg.val_evaluator, 2, classification_samples(), {}


def evaluate(task: str) -> tuple[list[int], dict]:
    """In this process's group (or alone): this rank's indices and the metrics, as the ValLoop evaluates."""
    sampler_cfg, evaluator_cfg, batch_size, samples, meta = val_setup(task)
    with DefaultScope.overwrite_default_scope('mmseg'):
        sampler = DATA_SAMPLERS.build(sampler_cfg, default_args=dict(dataset=list(range(NUM_IMAGES)), seed=0))
        evaluator = Evaluator(evaluator_cfg)  # what the ValLoop evaluates with
    evaluator.dataset_meta = meta
    indices = list(sampler)
    for start in range(0, len(indices), batch_size):
        evaluator.process([samples[i] for i in indices[start:start + batch_size]], data_batch={})
    return indices, evaluator.evaluate(NUM_IMAGES)


def evaluate_on_rank(task: str, rank: int, world_size: int, store: str, results) -> None:
    """A process of a gloo group of ``world_size``: evaluate and put ``(rank, indices, metrics)`` in ``results``."""
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{store}', rank=rank, world_size=world_size)
    try:
        results.put((rank, *evaluate(task)))
    finally:
        dist.destroy_process_group()


def evaluate_on_ranks(task: str, world_size: int, folder: Path) -> list[tuple[list[int], dict]]:
    """Each rank's ``(indices, metrics)`` from a gloo group of ``world_size`` processes forked from this one."""
    context = multiprocessing.get_context('fork')  # the children have torch, mmengine and mmseg imported
    results = context.SimpleQueue()
    store = folder / f'store-{task}-{world_size}'
    ranks = [context.Process(target=evaluate_on_rank, args=(task, rank, world_size, str(store), results))
             for rank in range(world_size)]
    for process in ranks:
        process.start()
    for process in ranks:
        process.join(timeout=60)
    for process in ranks:
        if process.is_alive():
            process.kill()
    assert [process.exitcode for process in ranks] == [0] * world_size
    return [entry[1:] for entry in sorted(results.get() for _ in range(world_size))]


def padding(world_size: int) -> list[int]:
    """The images that ``DefaultSampler(shuffle=False)`` hands out twice on ``world_size`` ranks: the first
    ``ceil(7 / N) * N - 7``."""
    return list(range(math.ceil(NUM_IMAGES / world_size) * world_size - NUM_IMAGES))


@pytest.mark.parametrize(('expected', 'key'), [(expected_iou_metrics, 'mIoU'), (expected_topk, 'accuracy/top1')])
def test_the_test_data_would_expose_a_metric_that_counts_the_padded_images(expected, key):
    every_image = list(range(NUM_IMAGES))
    for world_size in (2, 3):
        assert padding(world_size)
        assert abs(expected(every_image + padding(world_size))[key] - expected(every_image)[key]) > 1


@pytest.mark.parametrize('task', ['segmentation', 'classification'])
def test_metrics_on_1_2_and_3_ranks_equal_those_of_one_process(task, tmp_path):
    alone_indices, alone = evaluate(task)
    expected = expected_iou_metrics(alone_indices) if task == 'segmentation' else expected_topk(alone_indices)
    assert alone_indices == list(range(NUM_IMAGES))
    assert alone == pytest.approx(expected, abs=1e-4)  # top-k: a float32 mean; mIoU: 2 decimals either way

    for world_size in WORLD_SIZES:
        ranks = evaluate_on_ranks(task, world_size, tmp_path)
        shards = [indices for indices, _ in ranks]
        # the premise: the shards cover every image, and repeat some to have equal lengths
        assert sorted(i for shard in shards for i in shard) == sorted(list(range(NUM_IMAGES)) + padding(world_size))
        assert len({len(shard) for shard in shards}) == 1
        assert all(metrics == alone for _, metrics in ranks), (world_size, ranks, alone)
