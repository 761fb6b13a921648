"""Segment a user's images with a trained segmentor: one label PNG and one overlay picture per image.

Built on mmseg's ``MMSegInferencer``, which works with lvseg's configs as they are: it takes the config's test
pipeline (``LoadAnnotations`` dropped), batches, runs the model's ``test_step`` (``whole`` or ``slide`` as the
config says; labels at the image's own size) and draws overlays with the config's ``SegLocalVisualizer``.
:class:`SegInferencer` changes five things:

- the weights: read by :func:`lvseg.checkpoints.safe_load.load_checkpoint_file` (weights only unless
  ``LVSEG_UNSAFE_LOAD=1``), a released file converted, and loaded strictly
  (:func:`lvseg.checkpoints.whole_model.load_checkpoint_strictly`, as ``tools/test.py`` loads): a key missing
  from the file, left over in it, or of another shape stops with a line naming the file and the modules (mmengine
  only warns);
- the class names and colours: from the checkpoint (mmseg 1.x ``meta.dataset_meta``, 0.x ``meta.CLASSES`` /
  ``PALETTE``), else from the config's test dataset class (``ADE20KDataset``: the 150 ADE20K classes), else
  numbered (``MMSegInferencer`` falls back to Cityscapes' 19 classes, whatever the model predicts);
- an image that cannot be read or prepared stops with a line naming it;
- an ONNX file of ``tools/export.py`` in place of the checkpoint is run by onnxruntime as the model's
  ``encode_decode`` (:class:`lvseg.deploy.onnx_segmentor.OnnxSegmentor`), everything around it unchanged;
- :func:`segment_images` segments one image at a time and writes its files at once, atomically, under the
  input's name (``MMSegInferencer`` holds every prediction, ``(K, H, W)`` logits included, until the last
  image, and numbers its label files).

Videos: mmseg 1.2.2's ``MMSegInferencer`` reads images only (paths or arrays; mmseg's ``demo/video_demo.py``
uses ``inference_model`` frame by frame instead), so video files are refused with a message saying so.
"""
from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from mmengine.config import Config
from mmseg.apis import MMSegInferencer
from mmseg.registry import DATASETS
from PIL import Image
from rich.progress import track

from ..checkpoints.whole_model import load_checkpoint_strictly
from ..deploy.onnx_segmentor import OnnxSegmentor
from ..utils.atomic_write import atomic_write_path

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')  # found in folders
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.mpg', '.mpeg', '.m4v', '.wmv')
LABEL_DIR, OVERLAY_DIR = 'labels', 'overlays'
# What MMSegInferencer warns when built without weights (mmseg 1.2.2), as SegInferencer builds it to load them itself.
_NO_WEIGHTS_WARNINGS = ('Checkpoint is not loaded', 'weights is None')


class InferenceInputError(ValueError):
    """An input that cannot be segmented: missing, unreadable, a video, a folder without images, a name clash."""


def collect_images(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """The image files named by ``inputs``: files as given, folders' images (``IMAGE_EXTENSIONS``, not
    recursive) in sorted order; each file once.

    Raises:
        InferenceInputError: an input does not exist, is a video, or is a folder without images; or two images
            have the same file stem (their outputs would overwrite each other).
    """
    images: dict[str, Path] = {}  # by stem, the name of the outputs
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise InferenceInputError(f'{item}: the folder holds no images (looked for '
                                          f'{", ".join(IMAGE_EXTENSIONS)}; subfolders are not searched)')
        elif item.is_file():
            if item.suffix.lower() in VIDEO_EXTENSIONS:
                raise InferenceInputError(f'{item}: a video; mmseg 1.2.2\'s MMSegInferencer segments images only, '
                                          'extract the frames to a folder and pass the folder')
            found = [item]
        else:
            raise InferenceInputError(f'{item}: no such file or folder')
        for image in found:
            other = images.setdefault(image.stem, image)
            if other.resolve() != image.resolve():
                raise InferenceInputError(f'{other} and {image}: two images named {image.stem!r}, whose outputs '
                                          f'would overwrite each other; segment them into separate --out-dir')
    return list(images.values())


def numbered_palette(num_classes: int) -> list[list[int]]:
    """``num_classes`` distinct-looking RGB colours, the same for every call (for classes without a palette)."""
    return np.random.default_rng(0).integers(0, 256, (num_classes, 3)).tolist()


def class_meta(checkpoint: Mapping, cfg: Config, num_classes: int) -> dict:
    """``dict(classes=..., palette=...)`` for the ``num_classes`` outputs of a segmentor: from the checkpoint's
    meta (mmseg 1.x / 0.x), else from the config's test dataset class, else ``'class 0'`` ... with
    :func:`numbered_palette`. A palette of another length than the classes is replaced by the numbered one."""
    meta = checkpoint.get('meta') or {}
    dataset_meta = meta.get('dataset_meta') or {}
    classes = dataset_meta.get('classes') or meta.get('CLASSES')
    palette = dataset_meta.get('palette') or meta.get('PALETTE')
    if not classes:
        dataset_type = cfg.get('test_dataloader', {}).get('dataset', {}).get('type')
        metainfo = getattr(DATASETS.get(dataset_type), 'METAINFO', {}) if isinstance(dataset_type, str) else {}
        classes, palette = metainfo.get('classes'), metainfo.get('palette')
    if not classes or len(classes) != num_classes:
        classes, palette = [f'class {i}' for i in range(num_classes)], None
    if not palette or len(palette) != len(classes):
        palette = numbered_palette(len(classes))
    return {'classes': list(classes), 'palette': [list(colour) for colour in palette]}


def is_onnx_file(weights: str | os.PathLike) -> bool:
    """Whether ``weights`` names an ONNX graph (``tools/export.py``), not a checkpoint: it ends in ``.onnx``."""
    return Path(weights).suffix.lower() == '.onnx'


class SegInferencer(MMSegInferencer):
    """``MMSegInferencer`` that loads the checkpoint safely and strictly, names the classes from the checkpoint
    or the config, and names the image in errors of reading or preparing it (see the module).

    With an ONNX file (:func:`is_onnx_file`) for weights, the model is an
    :class:`~lvseg.deploy.onnx_segmentor.OnnxSegmentor` of the config's preprocessor and test mode: the same
    pipeline, normalisation, whole or sliding-window inference and overlays, the graph run by onnxruntime; the
    class names come from the file's metadata (``tools/export.py`` writes the checkpoint's).

    Args:
        model: the config (a file name or a ``Config``, ``--cfg-options`` applied).
        weights: the checkpoint file (required: a randomly initialised segmentor is no use for inference), or an
            ONNX file.
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``, ...; None picks CUDA when available (the CPU for an ONNX file,
            whose graph runs where onnxruntime's provider for the device is).
    """

    def __init__(self, model: str | os.PathLike | Config, weights: str | os.PathLike,
                 device: str | None = None) -> None:
        cfg = Config.fromfile(os.fspath(model)) if isinstance(model, str | os.PathLike) else copy.deepcopy(model)
        if 'visualizer' in cfg:  # it only draws here: backends (local, TensorBoard) would want a save_dir
            cfg.visualizer.pop('vis_backends', None)
        onnx = is_onnx_file(weights)
        if onnx:  # the inputs are prepared on the CPU and handed to onnxruntime, which runs on ``device``
            cfg.model = OnnxSegmentor.config_for(cfg.model, weights, device or 'cpu')
            device = 'cpu'
        with warnings.catch_warnings():  # mmseg's words for weights=None; the weights are loaded right below
            for message in _NO_WEIGHTS_WARNINGS:
                warnings.filterwarnings('ignore', message=message)
            super().__init__(model=cfg, weights=None, device=device)
        checkpoint = ({'meta': {'dataset_meta': self.model.file_dataset_meta}} if onnx
                      else load_checkpoint_strictly(self.model, weights))
        self.model.dataset_meta = class_meta(checkpoint, cfg, self.model.num_classes)
        self.pipeline = _naming_the_image(self.pipeline)


def _naming_the_image(pipeline: Callable[[str], dict]) -> Callable[[str], dict]:
    """``pipeline`` (an image path -> the model's inputs), raising :class:`InferenceInputError` naming the image
    when the image cannot be read or prepared."""

    def prepare(image: str) -> dict:
        try:
            return pipeline(image)
        except Exception as error:  # mmcv's loader: an AssertionError for undecodable bytes, cv2.error, ...
            cause = ' '.join(str(error).split())  # one line: OpenCV's messages end in a newline
            raise InferenceInputError(f'{image}: cannot read or prepare this image '
                                      f'({type(error).__name__}: {cause})') from error
    return prepare


def _write_png(array: np.ndarray, path: Path) -> None:
    with atomic_write_path(path) as tmp:
        Image.fromarray(array).save(tmp, format='PNG')


def segment_images(inferencer: SegInferencer, images: Sequence[Path], out_dir: str | os.PathLike,
                   opacity: float = 0.5) -> list[Path]:
    """Segment ``images`` one at a time, with a progress bar; write ``out_dir/labels/<stem>.png`` and
    ``out_dir/overlays/<stem>.png`` for each, and return the label files.

    A label PNG holds each pixel's class index ``0..K-1`` (the order of the class names; for ADE20K the
    annotation files' value minus 1), at the image's size, 8-bit (16-bit above 256 classes). An overlay is the
    image with the predicted classes' colours blended in at ``opacity`` and their names written on the regions.
    Every file is written to a temporary name and renamed, so a crash leaves only complete files.

    One image per forward pass: mmseg's ``SegDataPreProcessor`` refuses a test batch of images of different
    sizes, and the test pipelines keep each image's aspect ratio.
    """
    out_dir = Path(out_dir)
    label_dtype = np.uint8 if len(inferencer.model.dataset_meta['classes']) <= 256 else np.uint16
    inferencer.show_progress = False  # its bar would restart at every image: this loop draws one for all
    written = []
    for image in track(images, description='Inference'):
        result = inferencer(str(image), return_vis=True, opacity=opacity)
        _write_png(result['predictions'].astype(label_dtype), out_dir / LABEL_DIR / f'{image.stem}.png')
        _write_png(result['visualization'], out_dir / OVERLAY_DIR / f'{image.stem}.png')
        written.append(out_dir / LABEL_DIR / f'{image.stem}.png')
    return written
