"""A segmentation dataset in ADE20K's folder layout whose class names come from a text file."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS


@DATASETS.register_module()
class ClassFileSegDataset(BaseSegDataset):
    """``BaseSegDataset`` with ``metainfo.classes`` read from ``<data_root>/<classes_file>``.

    One class name per line, in label order (label 1 is the first line when ``reduce_zero_label=True``,
    as in ADE20K). For data sets of one's own, and for lvseg's synthetic demo data
    (:mod:`lvseg.demo.synthetic`), which writes ``classes.txt``. Class names given in ``metainfo`` win.
    """

    def __init__(self, classes_file: str = 'classes.txt', metainfo: dict | None = None,
                 data_root: str | None = None, **kwargs) -> None:
        metainfo = dict(metainfo or {})
        if not metainfo.get('classes'):
            path = Path(data_root or '.') / classes_file
            if not path.is_file():
                raise FileNotFoundError(f'{path}: no class-name file (one name per line); set data_root to the '
                                        'dataset folder or give metainfo=dict(classes=(...))')
            metainfo['classes'] = _class_names(path)
        super().__init__(metainfo=metainfo, data_root=data_root, **kwargs)

    @classmethod
    def count_classes(cls, cfg: Mapping) -> tuple[int, str] | None:
        """How many classes a data set of config ``cfg`` (this class's arguments; ``metainfo.classes`` aside) has,
        and the file that says so, without building it; None without the file (the data set then raises its own
        clear error). For the config checks (:mod:`lvseg.engine.config_checks`)."""
        path = Path(cfg.get('data_root') or '.') / cfg.get('classes_file', 'classes.txt')
        return (len(_class_names(path)), str(path)) if path.is_file() else None


def _class_names(path: Path) -> tuple[str, ...]:
    """The class names of a class-name file: one per line, in label order; blank lines skipped."""
    return tuple(name.strip() for name in path.read_text().splitlines() if name.strip())
