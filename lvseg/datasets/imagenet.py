"""An ImageNet-layout classification data set whose training images carry token-label maps."""
from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Container, Mapping, Sequence
from pathlib import Path, PurePosixPath

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmseg.registry import DATASETS

from .label_store import LabelStore
from .sample_seed import PerSampleSeeding
from .token_label_loading import PATH_KEY, STORE_ENTRY_KEY, STORE_KEY

IMAGE_EXTENSIONS = frozenset({'.jpeg', '.jpg', '.png'})  # compared lower-case
MISSING_LABEL_MAP_POLICIES = ('error', 'broadcast')
_EXAMPLES = 3  # how many offending files an error message names


@DATASETS.register_module()
class ImageNetTokenLabelDataset(PerSampleSeeding, BaseDataset):
    """Images in ImageNet's class folders, ``<data_root>/<data_prefix.img_path>/<wnid>/<name>.JPEG``.

    Images are files ending in ``.jpeg``, ``.jpg`` or ``.png`` (any case); other files are skipped. The
    class index of a folder is its place among the sorted folder names, or, with ``classes_file``, the line
    of its wnid in that file. ``metainfo['classes']`` is the wnids in class order; it is set when the data
    list is built (at construction, unless ``lazy_init=True``). Each data info holds ``img_path``,
    ``gt_label`` (int class index) and, when the images have token-label maps, where the image's map is,
    for :class:`~lvseg.datasets.token_label_loading.LoadTokenLabelMap` to read:

    - with ``label_map_root``, ``token_label_path``: the file ``<label_map_root>/<wnid>/<image stem>.pt``
      (the official TokenLabeling layout; the stem is the file name without its extension);
    - with ``label_store``, ``token_label_store`` (the store's folder) and ``token_label_key``: the image's
      key in the store, its path relative to the image root, ``<wnid>/<file name>`` (see
      :mod:`lvseg.datasets.label_store`; ``tools/label_store.py pack`` makes a store of the official files).

    Every map is checked to exist (a file, or a row of the store) when the data list is built, so a missing
    map stops a job at its start, not hours into training. A batch cannot mix images with and without maps
    (the model either reads every token's label from the maps or broadcasts every image label), so missing
    maps are handled per data set:

    - ``missing_label_map='error'`` (default): any missing map raises ``FileNotFoundError`` naming how many
      are missing and, for the first few, the image and the map expected (file, or key in the store).
    - ``missing_label_map='broadcast'``: for a data set that has *no* maps at all (e.g. one config for data
      written with and without maps). If no image has a map, no sample says where a map is (a warning is
      logged) and the model broadcasts each image label to its tokens, as the official code does without
      maps; a ``label_store`` folder that does not exist counts as no maps, a broken store is an error. If
      only some maps are missing, it raises like ``'error'``: using the maps that exist would mix batches,
      dropping them would silently discard the annotator.

    A :class:`~.sample_seed.SeededIndex` (from :class:`~lvseg.engine.mid_epoch_resume.ResumableSampler`) reseeds the
    random generators before its sample's pipeline runs (:class:`~.sample_seed.PerSampleSeeding`).

    Args:
        data_root: Root folder of the data set; relative ``data_prefix``, ``classes_file``,
            ``label_map_root`` and ``label_store`` are under it.
        data_prefix: ``dict(img_path=<split folder>)``. Default ``dict(img_path='train')``.
        classes_file: Optional class map: one wnid per line, line ``i`` (0-based, blank lines skipped) is
            class ``i``; text after the wnid on a line is ignored (so ``LOC_synset_mapping.txt`` works).
            Class folders may be a subset of the map; a folder the map lacks is an error. Default None:
            sorted folder names.
        label_map_root: Folder of the token-label map files of this split, e.g. ``'label_maps/train'``.
            Default None: no map files.
        label_store: Folder of a packed label store of this split's maps, e.g. ``'label_store/train'``;
            not with ``label_map_root``. Default None: no store. With neither, no maps (validation, or
            training with broadcast labels).
        missing_label_map: ``'error'`` or ``'broadcast'``, see above. Default ``'error'``.
        pipeline: Transforms, as configs or callables.
        test_mode: mmengine's test mode flag.
        metainfo: Extra meta information; ``classes`` cannot be given here (it comes from the folders or
            ``classes_file``).
        **kwargs: Other ``BaseDataset`` arguments (``indices``, ``serialize_data``, ``lazy_init``,
            ``max_refetch``).
    """

    def __init__(self, data_root: str = '', data_prefix: dict | None = None, classes_file: str | None = None,
                 label_map_root: str | None = None, label_store: str | None = None, missing_label_map: str = 'error',
                 pipeline: Sequence[dict | Callable] = (), test_mode: bool = False, metainfo: dict | None = None,
                 **kwargs) -> None:
        if missing_label_map not in MISSING_LABEL_MAP_POLICIES:
            raise ValueError(f'missing_label_map must be one of {MISSING_LABEL_MAP_POLICIES}, '
                             f'got {missing_label_map!r}')
        if label_map_root is not None and label_store is not None:
            raise ValueError('give label_map_root (one map file per image) or label_store (a packed store of the '
                             f'maps), not both; got {label_map_root!r} and {label_store!r}. To read the store, '
                             'also set label_map_root=None (e.g. --cfg-options '
                             'train_dataloader.dataset.label_map_root=None)')
        if metainfo and 'classes' in metainfo:
            raise ValueError('ImageNetTokenLabelDataset takes its classes from the class folders or classes_file, '
                             'not from metainfo')
        self.classes_file = _under(data_root, classes_file)
        self.label_map_root = _under(data_root, label_map_root)
        self.label_store = _under(data_root, label_store)
        self.missing_label_map = missing_label_map
        self.wnids: tuple[str, ...] | None = None  # the classes, once the data list is built
        super().__init__(ann_file='', metainfo=metainfo, data_root=data_root,
                         data_prefix=data_prefix if data_prefix is not None else dict(img_path='train'),
                         pipeline=list(pipeline), test_mode=test_mode, **kwargs)

    @property
    def metainfo(self) -> dict:
        """``BaseDataset``'s meta information (a copy), with ``classes``: the wnids in class order, once the data
        list is built."""
        metainfo = super().metainfo
        if self.wnids is not None:
            metainfo['classes'] = self.wnids
        return metainfo

    @classmethod
    def count_classes(cls, cfg: Mapping) -> tuple[int, str] | None:
        """How many classes a data set of config ``cfg`` (this class's arguments) has, and where the number comes
        from (``classes_file``, or the class folders), without building it; None when the file or the folders are
        missing (the data set then raises its own clear error). For the config checks
        (:mod:`lvseg.engine.config_checks`)."""
        data_root = cfg.get('data_root')
        classes_file = _under(data_root, cfg.get('classes_file'))
        if classes_file is not None:
            return (len(_wnids_in(classes_file)), str(classes_file)) if classes_file.is_file() else None
        image_root = _under(data_root, (cfg.get('data_prefix') or {}).get('img_path', 'train'))
        try:
            return len(_class_folders(image_root)), f'the class folders of {image_root}'
        except FileNotFoundError:
            return None

    def load_data_list(self) -> list[dict]:
        """Scan the class folders; set ``metainfo['classes']``; check the token-label maps (see the class)."""
        image_root = Path(self.data_prefix['img_path'])
        folders = _class_folders(image_root)
        self.wnids = tuple(self._class_map(folders) if self.classes_file else folders)
        store_keys = self._label_store_keys()
        data_list: list[dict] = []
        missing: list[tuple[Path, str]] = []  # (image, the map it needs)
        present_folders = set(folders)
        for class_index, wnid in enumerate(self.wnids):
            if wnid not in present_folders:
                continue
            images = _images(image_root / wnid)
            maps = _file_names(self.label_map_root / wnid) if self.label_map_root else set()
            for image in images:
                info = {'img_path': str(image), 'gt_label': class_index}
                key = image_key(image, image_root)
                if self.label_map_root:
                    map_path = self.label_map_root / label_map_path(key)
                    info[PATH_KEY] = str(map_path)
                    if map_path.name not in maps:
                        missing.append((image, str(map_path)))
                elif self.label_store:
                    info[STORE_KEY], info[STORE_ENTRY_KEY] = str(self.label_store), key
                    if key not in store_keys:
                        missing.append((image, f'a row {key!r} in label store {self.label_store}'))
                data_list.append(info)
        if missing:
            self._handle_missing_maps(data_list, missing, image_root)
        return data_list

    def _label_store_keys(self) -> Container[str]:
        """The keys of ``label_store`` (a :class:`LabelStore`, checked), or none at all if it is not set, or
        if it does not exist and ``missing_label_map='broadcast'``."""
        if self.label_store is None or (self.missing_label_map == 'broadcast' and not self.label_store.exists()):
            return frozenset()
        return LabelStore(self.label_store)

    def _class_map(self, folders: list[str]) -> list[str]:
        """The wnids of ``classes_file`` in line order, checked against the class ``folders``."""
        if not self.classes_file.is_file():
            raise FileNotFoundError(f'{self.classes_file}: no class-map file (one wnid per line)')
        wnids = _wnids_in(self.classes_file)
        duplicates = sorted(wnid for wnid, count in Counter(wnids).items() if count > 1)
        if duplicates:
            raise ValueError(f'{self.classes_file}: wnids listed more than once: {duplicates[:_EXAMPLES]}')
        unknown = sorted(set(folders) - set(wnids))
        if unknown:
            raise ValueError(f'{self.classes_file} lacks {len(unknown)} class folders of '
                             f'{self.data_prefix["img_path"]}, e.g. {unknown[:_EXAMPLES]}')
        return wnids

    def _handle_missing_maps(self, data_list: list[dict], missing: list[tuple[Path, str]],
                             image_root: Path) -> None:
        """Apply ``missing_label_map`` when ``missing`` (image, the map it needs) pairs are not empty."""
        if self.missing_label_map == 'broadcast' and len(missing) == len(data_list):
            for info in data_list:
                for key in (PATH_KEY, STORE_KEY, STORE_ENTRY_KEY):
                    info.pop(key, None)
            print_log(f'no image of {image_root} has a token-label map in '
                      f'{self.label_map_root or self.label_store}: every token is labelled with its image label '
                      '(missing_label_map="broadcast")', logger='current', level=logging.WARNING)
            return
        examples = '; '.join(f'{image} needs {label_map}' for image, label_map in missing[:_EXAMPLES])
        advice = ('A batch cannot mix images with and without maps, so "broadcast" applies only to a data set '
                  'without any map' if self.missing_label_map == 'broadcast' else
                  'Write the maps, or set label_map_root and label_store to None (or missing_label_map="broadcast" '
                  'for a data set without any map) to label every token with its image label')
        raise FileNotFoundError(f'{len(missing)} of {len(data_list)} images of {image_root} have no token-label '
                                f'map: {examples}. {advice}')


def list_image_keys(image_root: str | os.PathLike) -> list[str]:
    """The images of the class folders of ``image_root`` as keys (:func:`image_key`), sorted by folder, then name.

    Images are found as the data set finds them (same extensions, same errors for empty or missing folders).
    """
    image_root = Path(image_root)
    return [image_key(image, image_root) for wnid in _class_folders(image_root)
            for image in _images(image_root / wnid)]


def image_key(image: Path, image_root: Path) -> str:
    """An image's key for token-label maps: its path relative to the image root, ``'<wnid>/<file name>'``."""
    return image.relative_to(image_root).as_posix()


def label_map_path(key: str) -> str:
    """The official map file of image ``key``, relative to the maps' root: ``'<wnid>/<image stem>.pt'``."""
    return str(PurePosixPath(key).with_suffix('.pt'))


def _under(data_root: str | None, path: str | None) -> Path | None:
    """``path`` joined to ``data_root`` unless absolute (as mmengine joins ``data_prefix``); None stays None."""
    if path is None:
        return None
    return Path(data_root or '') / path


def _wnids_in(classes_file: Path) -> list[str]:
    """The wnids of a class-map file in line order: the first word of each line, blank lines skipped."""
    return [line.split()[0] for line in classes_file.read_text().splitlines() if line.strip()]


def _class_folders(image_root: Path) -> list[str]:
    """The sorted names of the class folders in ``image_root``; errors name the folder."""
    if not image_root.is_dir():
        raise FileNotFoundError(f'{image_root}: no such image folder')
    folders = sorted(entry.name for entry in os.scandir(image_root) if entry.is_dir())
    if not folders:
        raise FileNotFoundError(f'{image_root} has no class folders (expected <wnid>/<image> under it; a flat '
                                'ImageNet val folder must first be sorted into class folders)')
    return folders


def _images(folder: Path) -> list[Path]:
    """The image files of a class folder, sorted by name; an error naming the folder if there are none."""
    images = sorted(Path(entry.path) for entry in os.scandir(folder)
                    if entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS)
    if not images:
        raise FileNotFoundError(f'{folder} holds no image (files ending in {sorted(IMAGE_EXTENSIONS)}, any case)')
    return images


def _file_names(folder: Path) -> set[str]:
    """Names in ``folder`` (one listing per class instead of one ``stat`` per image); empty if it is missing."""
    return set(os.listdir(folder)) if folder.is_dir() else set()
