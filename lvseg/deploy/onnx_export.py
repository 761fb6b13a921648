"""A trained segmentor as an ONNX graph: normalised images ``(B, 3, H, W)`` in, class logits ``(B, K, H, W)`` out,
checked by onnx's checker and compared with PyTorch on onnxruntime before the file is written.

The graph is what mmseg's ``EncoderDecoder.encode_decode`` computes for an unpadded batch: backbone, neck, decode
head (auxiliary heads are training-only and left out), logits resized bilinearly to the input's size. The data
preprocessor's normalisation, whole or sliding-window inference and the resize to the image's own size stay
outside, in :class:`lvseg.deploy.onnx_segmentor.OnnxSegmentor`, as mmseg runs them around ``encode_decode``.

Exported by torch's ``torch.export``-based exporter (``dynamo=True``), on a copy of the segmentor whose adaptive
average pools and unsized upsamplings follow the input's size (:func:`~lvseg.deploy.traceable.make_traceable`).
Without ``dynamic`` every axis is fixed at the given shape, batch 1. With it, batch, height and width are
``torch.export.Dim.AUTO``: dynamic where the model's code allows, fixed where it would not (:func:`input_axes`
reads which from the file). The traced example is then a batch of 2 of :data:`OFF_SIZE` more pixels than the
shape: no multiple of the 16-pixel patch and off the position embedding's grid, so that the steps the backbones
take only at such sizes (padding to the patch in LV-ViT's and T2T-ViT's stems and mmcv's ``PatchEmbed``, the
position-embedding resize) are traced into the graph, where they follow the input (a zero padding and a resize to
the same grid change nothing). Every export is then run on onnxruntime against PyTorch at the shape and, with
dynamic axes, at one more size and batch.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.segmentors import EncoderDecoder

from ..utils.atomic_write import atomic_write_path
from ..utils.user_errors import UserError
from .traceable import make_traceable

if TYPE_CHECKING:  # imported where used: `import lvseg` needs no onnx
    import onnx

INPUT, OUTPUT = 'images', 'logits'
DATASET_META_KEY = 'lvseg.dataset_meta'  # the class names and colours, JSON, in the file's metadata_props
DEPLOY_PACKAGES = ('onnx', 'onnxscript', 'onnxruntime')  # the deploy extra of setup.py
DEFAULT_OPSET = 18
OFF_SIZE = (8, 24)  # pixels added to the height and width of the traced example of a dynamic export
# Largest |onnxruntime - PyTorch| over the largest |PyTorch logit| above which an export is refused (float32
# graphs measure about 1e-6; docs/deployment.md).
REFUSED_DIFFERENCE = 1e-3


def require_deploy_packages(names: tuple[str, ...] = DEPLOY_PACKAGES, subject: str = '') -> None:
    """Raise :class:`~lvseg.utils.user_errors.UserError` naming those of ``names`` that are not installed (after
    ``subject``, e.g. the ONNX file they are needed for), and how to install them."""
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f'{subject}{", ".join(missing)} not installed: pip install -e ".[deploy]" '
                        '(make setup installs it)')


class ExportError(Exception):
    """A segmentor that cannot be exported, or whose graph computes other logits than PyTorch; one line."""


class SegmentorLogits(nn.Module):
    """What the graph computes: ``images (B, 3, H, W)``, normalised -> ``logits (B, K, H, W)`` (see the module)."""

    def __init__(self, segmentor: EncoderDecoder) -> None:
        super().__init__()
        self.segmentor = segmentor

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.segmentor.decode_head(self.segmentor.extract_feat(images))
        return F.interpolate(logits, size=images.shape[2:], mode='bilinear',
                             align_corners=self.segmentor.align_corners)


@dataclass(frozen=True)
class Comparison:
    """onnxruntime against PyTorch on one random input of ``shape``: the largest absolute logit difference and
    that over the largest absolute PyTorch logit."""

    shape: tuple[int, ...]
    largest: float
    relative: float

    def describe(self) -> str:
        return (f'{"x".join(map(str, self.shape))}: largest logit difference {self.largest:.2e} '
                f'({self.relative:.2e} of the largest logit)')


def require_exportable(segmentor: nn.Module) -> None:
    """Raise :class:`ExportError` unless ``segmentor`` is an ``EncoderDecoder`` with more than one class."""
    if type(segmentor) is not EncoderDecoder:
        raise ExportError(f'only EncoderDecoder segmentors are exported, this one is {type(segmentor).__name__}')
    if segmentor.out_channels == 1:
        raise ExportError('a binary segmentor (one output channel, thresholded) is not exported: the graph gives '
                          'logits and infer.py takes the class of the largest')


@dataclass(frozen=True)
class Exported:
    """What :func:`export_segmentor` wrote: the input's axes (a number where fixed, a name where dynamic) and the
    comparisons with PyTorch."""

    axes: list[int | str]
    comparisons: list[Comparison]


def input_axes(graph: str | os.PathLike | onnx.ModelProto) -> list[int | str]:
    """The shape of the input of ``graph`` (a file, or a loaded model): a number where an axis is fixed, its name
    where it is dynamic."""
    import onnx
    if not isinstance(graph, onnx.ModelProto):
        graph = onnx.load(os.fspath(graph), load_external_data=False)
    return [dim.dim_value if dim.HasField('dim_value') else dim.dim_param
            for dim in graph.graph.input[0].type.tensor_type.shape.dim]


def random_images(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Normal images of ``shape``, the same for a seed (normalised images are about zero-mean, unit-variance)."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def compare(path: str | os.PathLike, segmentor: EncoderDecoder, shapes: list[tuple[int, ...]]) -> list[Comparison]:
    """Run the graph in ``path`` on onnxruntime (CPU) and ``segmentor`` in PyTorch on random inputs of ``shapes``.

    Raises:
        ExportError: onnxruntime fails to run the graph at one of ``shapes``.
    """
    import onnxruntime
    session = onnxruntime.InferenceSession(os.fspath(path), providers=['CPUExecutionProvider'])
    reference = SegmentorLogits(segmentor).eval()
    found = []
    for seed, shape in enumerate(shapes):
        images = random_images(shape, seed)
        with torch.no_grad():
            expected = reference(images).numpy()
        try:
            got = session.run([OUTPUT], {INPUT: images.numpy()})[0]
        except Exception as error:  # onnxruntime's Fail, InvalidArgument, ...: the graph fails at this shape
            raise ExportError(f'the graph fails on onnxruntime at {"x".join(map(str, shape))} ({first_line(error)});'
                              ' export without --dynamic') from error
        largest = float(np.abs(got - expected).max())
        found.append(Comparison(shape, largest, largest / max(float(np.abs(expected).max()), 1e-12)))
    return found


def check_shapes(axes: list[int | str], shape: tuple[int, int]) -> list[tuple[int, ...]]:
    """The input shapes an export is compared on: ``shape`` (batch 2 where the batch is dynamic), and where height
    or width are dynamic one more of another batch and size (neither a multiple of 16 pixels nor the example's)."""
    batch = 1 if axes[0] == 1 else 2
    first = (batch, 3, *shape)
    if isinstance(axes[2], int) and isinstance(axes[3], int):
        return [first]
    height, width = (size if isinstance(axis, int) else size + delta
                     for axis, size, delta in zip(axes[2:], shape, (40, -24)))
    return [first, (1 if isinstance(axes[0], str) else batch, 3, height, width)]


def export_segmentor(segmentor: EncoderDecoder, out: str | os.PathLike, shape: tuple[int, int], dynamic: bool,
                     opset: int = DEFAULT_OPSET, dataset_meta: dict | None = None) -> Exported:
    """Export ``segmentor`` (float32, eval) to ``out`` at ``shape`` (height, width) with batch 1, or with every axis
    ``Dim.AUTO`` (``dynamic``; see the module); check it, compare it with PyTorch (:func:`check_shapes`), and write
    it (atomically) only if every difference is within :data:`REFUSED_DIFFERENCE`. ``dataset_meta`` (class names
    and colours) goes into the file's metadata. Returns the graph's input axes and the comparisons.

    Raises:
        ExportError: the segmentor is not exportable, torch's exporter or onnx's checker refuses the graph, or
            the graph's logits differ from PyTorch's.
    """
    import onnx
    require_exportable(segmentor)
    segmentor = segmentor.float().eval()
    exported = copy.deepcopy(segmentor)
    make_traceable(exported)
    traced = (2, 3, shape[0] + OFF_SIZE[0], shape[1] + OFF_SIZE[1]) if dynamic else (1, 3, *shape)
    axes = {INPUT: {axis: torch.export.Dim.AUTO for axis in (0, 2, 3)}} if dynamic else None
    with atomic_write_path(Path(out)) as partial:
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter('ignore')
                torch.onnx.export(SegmentorLogits(exported).eval(), (random_images(traced, seed=0),), partial,
                                  dynamo=True, input_names=[INPUT], output_names=[OUTPUT], opset_version=opset,
                                  dynamic_shapes=axes, external_data=False, verbose=False)
            model = onnx.load(os.fspath(partial))
            onnx.checker.check_model(model, full_check=True)
        except Exception as error:  # torch.export's and onnx's many error types; the first line says what failed
            raise ExportError(f'torch.onnx.export or onnx.checker refused the graph: {first_line(error)}') from error
        if dataset_meta:
            model.metadata_props.add(key=DATASET_META_KEY, value=json.dumps(dataset_meta))
        onnx.save(model, os.fspath(partial))
        axes = input_axes(model)
        comparisons = compare(partial, segmentor, check_shapes(axes, shape))
        wrong = [c for c in comparisons if not c.relative <= REFUSED_DIFFERENCE]
        if wrong:
            raise ExportError(f'the graph computes other logits than PyTorch ({"; ".join(c.describe() for c in wrong)}'
                              f'; refused above {REFUSED_DIFFERENCE:g} of the largest logit): nothing written')
    return Exported(axes, comparisons)


def first_line(error: BaseException) -> str:
    """The first non-empty line of an exception's message, with its type (terminal colour codes removed)."""
    lines = [line.strip() for line in re.sub(r'\x1b\[[0-9;]*m', '', str(error)).splitlines() if line.strip()]
    return f'{type(error).__name__}: {lines[0] if lines else "(no message)"}'
