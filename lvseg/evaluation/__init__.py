"""Metrics, registered in mmseg's ``METRICS``."""
from .topk_accuracy import TopKAccuracy

__all__ = ['TopKAccuracy']
