"""Datasets for lvseg, registered in mmseg's ``DATASETS``, and the synthetic demo data generator."""
from .class_file import ClassFileSegDataset

__all__ = ['ClassFileSegDataset']
