"""The data-loader side of ``augment_on='device'``: read an image's file bytes, check its header, pack the bytes.

The workers do no pixel work: :class:`LoadImageBytes` reads the file into a 1-D uint8 tensor and reads the image
size and EXIF orientation from its JPEG or PNG header (a few dozen bytes; a file that is not a readable JPEG or
PNG fails here, in the worker, so the data set's bad-sample policy applies to it as to any unreadable image), and
:class:`PackImageBytes` packs the bytes with the image label and the token-label map. The model's data
preprocessor decodes the batch on the training device, turns each image upright by its orientation (as OpenCV,
mmcv's ``LoadImageFromFile``, does on the CPU path) and augments it (:mod:`lvseg.datasets.device_augment`).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmengine.structures import BaseDataElement
from mmseg.registry import TRANSFORMS

from .token_label_transforms import TOPK_KEY

BYTES_KEY = 'img_bytes'  # results key of the encoded image, a 1-D uint8 tensor
ORIENTATION_KEY = 'exif_orientation'  # results and metainfo key: the EXIF orientation, 1 (upright) to 8
JPEG_SIGNATURE, PNG_SIGNATURE = b'\xff\xd8', b'\x89PNG\r\n\x1a\n'
# JPEG start-of-frame markers (baseline, extended, progressive, lossless, ...): 0xC0-0xCF but DHT, JPG, DAC.
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_MARKERS_WITHOUT_LENGTH = frozenset([0x01, *range(0xD0, 0xD8)])  # TEM, RST0-7
_JPEG_SCAN_OR_END = frozenset([0xDA, 0xD9])  # start of scan, end of image: no frame header before them
_JPEG_APP1, _EXIF_HEADER = 0xE1, b'Exif\x00\x00'
_EXIF_ORIENTATION_TAG, _EXIF_SHORT = 0x0112, 3
_TIFF_BYTE_ORDERS = {b'II': 'little', b'MM': 'big'}


class ImageHeader(NamedTuple):
    """What an image file's header says: ``height`` and ``width`` in pixels as stored, the EXIF ``orientation``
    (1: stored upright; 5 to 8: stored transposed, upright it is ``width`` x ``height``), and for a JPEG the number
    of ``components`` of its frame (1 grayscale, 3 YCbCr or RGB, 4 CMYK or YCCK; None for a PNG)."""

    height: int
    width: int
    orientation: int = 1
    components: int | None = None

    @property
    def upright_shape(self) -> tuple[int, int]:
        """``(height, width)`` of the image turned upright."""
        return (self.width, self.height) if self.orientation >= 5 else (self.height, self.width)


def image_header(data: memoryview | bytes) -> ImageHeader:
    """The :class:`ImageHeader` of a JPEG or PNG file's bytes.

    JPEG: walks the marker segments from the start to the frame header (SOFn), reading only their lengths and
    the orientation tag of an EXIF segment (APP1) on the way; the frame header is laid out as ITU-T T.81 (the JPEG
    standard), B.2.2 says: SOFn, Lf (2 bytes), P (1), Y (2), X (2), Nc (1). PNG: the IHDR chunk (orientation 1). Raises
    ``ValueError`` saying what is wrong for anything else: another format, a header cut short, a zero-sized
    image.
    """
    if bytes(data[:8]) == PNG_SIGNATURE:
        if len(data) < 24:
            raise ValueError(f'PNG header cut short ({len(data)} bytes)')
        header = ImageHeader(int.from_bytes(data[20:24], 'big'), int.from_bytes(data[16:20], 'big'))
    elif bytes(data[:2]) == JPEG_SIGNATURE:
        header = _jpeg_header(data)
    else:
        raise ValueError(f'not a JPEG or PNG file (it starts with {bytes(data[:8])!r})')
    if header.height == 0 or header.width == 0:
        raise ValueError(f'the header gives a {header.height}x{header.width} image')
    return header


def _jpeg_header(data: memoryview | bytes) -> ImageHeader:
    position, end, orientation = 2, len(data), 1
    while position + 4 <= end:
        if data[position] != 0xFF:
            raise ValueError(f'JPEG: no marker at byte {position} (corrupt header)')
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
        elif marker in _JPEG_MARKERS_WITHOUT_LENGTH:
            position += 2
        elif marker in _JPEG_FRAME_MARKERS:
            if position + 10 > end:
                break
            return ImageHeader(int.from_bytes(data[position + 5:position + 7], 'big'),
                               int.from_bytes(data[position + 7:position + 9], 'big'), orientation, data[position + 9])
        elif marker in _JPEG_SCAN_OR_END:
            raise ValueError(f'JPEG: marker 0x{marker:02X} before any frame header')
        else:
            length = int.from_bytes(data[position + 2:position + 4], 'big')
            if marker == _JPEG_APP1 and bytes(data[position + 4:position + 10]) == _EXIF_HEADER:
                orientation = _exif_orientation(data[position + 10:position + 2 + length])
            position += 2 + length
    raise ValueError(f'JPEG: the file ends ({end} bytes) before its frame header')


def _exif_orientation(tiff: memoryview | bytes) -> int:
    """The orientation tag of the first image directory of EXIF data ``tiff`` (a TIFF structure); 1 if it has
    none or the data is malformed (as decoders then leave the image as stored)."""
    order = _TIFF_BYTE_ORDERS.get(bytes(tiff[:2]))
    if order is None or len(tiff) < 8:
        return 1
    directory = int.from_bytes(tiff[4:8], order)
    if directory + 2 > len(tiff):
        return 1
    for entry in range(directory + 2, directory + 2 + 12 * int.from_bytes(tiff[directory:directory + 2], order), 12):
        if entry + 10 > len(tiff):
            break
        if (int.from_bytes(tiff[entry:entry + 2], order) == _EXIF_ORIENTATION_TAG
                and int.from_bytes(tiff[entry + 2:entry + 4], order) == _EXIF_SHORT):
            value = int.from_bytes(tiff[entry + 8:entry + 10], order)
            return value if 1 <= value <= 8 else 1
    return 1


def read_file_bytes(path: str, backend_args: dict | None = None) -> np.ndarray:
    """The bytes of file ``path`` as a writable 1-D uint8 array (read straight into it for a local file;
    through mmengine's file backends with ``backend_args``)."""
    if backend_args is not None:
        return np.frombuffer(bytearray(fileio.get(path, backend_args=backend_args)), dtype=np.uint8)
    with open(path, 'rb') as file:
        size = os.fstat(file.fileno()).st_size
        data = np.empty(size, dtype=np.uint8)
        if file.readinto(memoryview(data)) != size:
            raise OSError(f'{path}: the file changed size while it was read')
    return data


@TRANSFORMS.register_module()
class LoadImageBytes(BaseTransform):
    """Read ``results['img_path']`` into ``results['img_bytes']`` (1-D uint8 tensor) without decoding it.

    Sets ``exif_orientation`` from the file's header, and ``ori_shape`` and ``img_shape`` to the ``(height,
    width)`` of the image turned upright; raises ``ValueError`` naming the file if it is not a JPEG or PNG with
    a readable header (see :func:`image_header`).

    Args:
        backend_args: mmengine file backend arguments (as ``LoadImageFromFile``'s); None reads local files.
    """

    def __init__(self, backend_args: dict | None = None) -> None:
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        data = read_file_bytes(path, self.backend_args)
        try:
            header = image_header(memoryview(data))
        except ValueError as error:
            raise ValueError(f'{path}: {error}') from None
        results[BYTES_KEY] = torch.from_numpy(data)
        results[ORIENTATION_KEY] = header.orientation
        results['ori_shape'] = results['img_shape'] = header.upright_shape
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(backend_args={self.backend_args})'


@TRANSFORMS.register_module()
class PackImageBytes(BaseTransform):
    """Pack an encoded image for the device path: ``dict(inputs=..., data_samples=...)``.

    - ``inputs``: the file bytes, a 1-D uint8 tensor (``results['img_bytes']``);
    - ``data_samples``: an mmengine ``BaseDataElement`` with the ``meta_keys`` present in ``results`` and
      ``exif_orientation`` (always: the decoder needs it) as metainfo, and the data fields ``gt_label`` (``()``
      int64, if ``results`` has one) and ``token_label_topk`` (``(2, k, h, w)`` float16, if the loading step
      put a map in ``results``). The geometry fields of the CPU path are made on the device, with the pixels.
    """

    def __init__(self, meta_keys: Sequence[str] = ('img_path', 'ori_shape')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        fields = {}
        if 'gt_label' in results:
            fields['gt_label'] = torch.as_tensor(results['gt_label'], dtype=torch.int64).reshape(())
        if results.get(TOPK_KEY) is not None:
            fields[TOPK_KEY] = torch.as_tensor(results[TOPK_KEY]).to(torch.float16)
        metainfo = {key: results[key] for key in self.meta_keys if key in results}
        metainfo[ORIENTATION_KEY] = results.get(ORIENTATION_KEY, 1)
        return {'inputs': results[BYTES_KEY], 'data_samples': BaseDataElement(metainfo=metainfo, **fields)}

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
