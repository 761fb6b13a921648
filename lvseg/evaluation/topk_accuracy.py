"""Top-k classification accuracy for the token-labeling pretraining (mmseg has no classification metric)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class TopKAccuracy(BaseMetric):
    """Percentage of images whose label is among the k highest-scoring classes, for each k in ``topk``.

    Reads ``pred_score`` ``(K,)`` and ``gt_label`` (an int or a one-element tensor) of each predicted data
    sample. Per-image hits are gathered from all ranks by :class:`mmengine.evaluator.BaseMetric`, so the
    result is exact in distributed evaluation. Reports ``top{k}`` (percent), prefixed ``accuracy/``. A class
    tied with the label's score does not push the label out of the top k.

    Args:
        topk: the k values. Default (1, 5), ImageNet's usual pair. A k above the number of classes counts
            every image as a hit.
        collect_device: 'cpu' or 'gpu', where the per-rank results are gathered.
        prefix: prefix of the metric names. Default 'accuracy'.
    """

    default_prefix = 'accuracy'

    def __init__(self, topk: Sequence[int] = (1, 5), collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = tuple(topk)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Record, per image, a bool ``(len(topk),)`` tensor: is the label within each top k."""
        for sample in data_samples:
            score = torch.as_tensor(sample['pred_score']).detach().cpu()
            label = int(torch.as_tensor(sample['gt_label']).reshape(()))
            rank = int((score > score[label]).sum())  # classes scoring strictly higher than the label
            self.results.append(torch.tensor([rank < k for k in self.topk]))

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Average the hits over all images, in percent."""
        hits = torch.stack(results).float().mean(dim=0) * 100
        return {f'top{k}': float(v) for k, v in zip(self.topk, hits)}
