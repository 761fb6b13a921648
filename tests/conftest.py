"""Shared fixtures: tiny generated data sets. Tests make all their data."""
from pathlib import Path

import pytest


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: end-to-end runs of the tools (seconds to minutes); CI runs them')
    # mmengine 0.10 imports pkg_resources (setuptools is pinned below 81 for it): known, not lvseg's to fix.
    config.addinivalue_line('filterwarnings', 'ignore:pkg_resources is deprecated:UserWarning')


@pytest.fixture(scope='session')
def ade_root(tmp_path_factory) -> Path:
    """A synthetic ADE20K-layout folder: 8 classes, 8 training and 2 validation images of 96x128."""
    from lvseg.datasets.synthetic import write_ade20k_layout

    root = tmp_path_factory.mktemp('ade')
    write_ade20k_layout(root, num_classes=8, num_train=8, num_val=2, image_size=(96, 128), seed=0)
    return root
