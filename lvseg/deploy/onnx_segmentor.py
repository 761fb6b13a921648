"""``OnnxSegmentor``: mmseg's inference around an ONNX graph of :mod:`lvseg.deploy.onnx_export`, run by
onnxruntime.

It is an ``EncoderDecoder`` whose ``encode_decode`` runs the graph, so that everything around it is mmseg's own
code, as for the PyTorch segmentor: the data preprocessor's normalisation and padding, ``whole`` or ``slide``
inference with the config's crop and stride (the windows are cut around the graph), the resize back to each image's
size and the argmax. Its backbone and heads are not built (``EncoderDecoder.__init__`` builds them; this class
initialises as a ``BaseSegmentor``); it cannot train.
"""
from __future__ import annotations

import json
import os

import torch
from mmseg.models.segmentors import BaseSegmentor, EncoderDecoder
from mmseg.registry import MODELS

from .onnx_export import DATASET_META_KEY, INPUT, OUTPUT


class OnnxInputError(ValueError):
    """The ONNX file cannot be opened, or cannot take the inputs it is given; one line for the user."""


def providers_for(device: str) -> list:
    """onnxruntime's execution providers for ``device`` ('cpu', 'cuda', 'cuda:N'): the CPU's, or CUDA's on GPU N
    (0 for 'cuda') with the CPU's for what CUDA's lacks."""
    import onnxruntime
    if not device.startswith('cuda'):
        return ['CPUExecutionProvider']
    if 'CUDAExecutionProvider' not in onnxruntime.get_available_providers():
        raise OnnxInputError(f'--device {device}: this onnxruntime has no CUDA provider (it has '
                             f'{", ".join(onnxruntime.get_available_providers())}); install onnxruntime-gpu, or run '
                             'on the CPU with --device cpu')
    gpu = int(device.partition(':')[2] or 0)
    return [('CUDAExecutionProvider', {'device_id': gpu}), 'CPUExecutionProvider']


@MODELS.register_module()
class OnnxSegmentor(EncoderDecoder):
    """Whole or sliding-window inference (``test_cfg``) with the graph in ``onnx_file`` as ``encode_decode``.

    Args:
        onnx_file: a graph written by ``tools/export.py``.
        data_preprocessor: the config's ``model.data_preprocessor`` (mean, std, channel order, test padding).
        test_cfg: the config's ``model.test_cfg`` (``mode``, ``crop_size``, ``stride``).
        align_corners: the decode head's, for the resize to each image's size.
        device: where onnxruntime runs the graph: 'cpu' or 'cuda[:N]' (with onnxruntime-gpu).
    """

    def __init__(self, onnx_file: str, data_preprocessor: dict | None = None, test_cfg: dict | None = None,
                 align_corners: bool = False, device: str = 'cpu', init_cfg: dict | None = None) -> None:
        BaseSegmentor.__init__(self, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        import onnxruntime
        from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidGraph, InvalidProtobuf
        from onnxruntime.capi.onnxruntime_pybind11_state import NotImplemented as NotImplementedHere
        try:
            self.session = onnxruntime.InferenceSession(os.fspath(onnx_file), providers=providers_for(device))
        except (Fail, InvalidGraph, InvalidProtobuf, NotImplementedHere) as error:  # not ONNX, or not for this runtime
            raise OnnxInputError(f'{onnx_file}: onnxruntime cannot load this file ({" ".join(str(error).split())})'
                                 ) from error
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if [i.name for i in inputs] != [INPUT] or [o.name for o in outputs] != [OUTPUT]:
            raise OnnxInputError(f'{onnx_file}: not a graph of tools/export.py (it takes {[i.name for i in inputs]} '
                                 f'and gives {[o.name for o in outputs]}, not {[INPUT]} and {[OUTPUT]})')
        self.onnx_file = os.fspath(onnx_file)
        self.input_axes = inputs[0].shape  # ints where fixed, names where dynamic
        self.num_classes = self.out_channels = outputs[0].shape[1]
        self.test_cfg = test_cfg
        self.align_corners = align_corners
        self.file_dataset_meta = json.loads(self.session.get_modelmeta().custom_metadata_map.get(
            DATASET_META_KEY, '{}'))

    @staticmethod
    def config_for(model: dict, onnx_file: str | os.PathLike, device: str = 'cpu') -> dict:
        """The ``OnnxSegmentor`` config that stands for the segmentor config ``model`` (its preprocessor, test
        mode and ``align_corners``), running ``onnx_file`` on ``device``."""
        return dict(type='OnnxSegmentor', onnx_file=os.fspath(onnx_file),
                    data_preprocessor=model.get('data_preprocessor'), test_cfg=model.get('test_cfg'),
                    align_corners=model.get('decode_head', {}).get('align_corners', False), device=device)

    def encode_decode(self, inputs: torch.Tensor, batch_img_metas: list[dict]) -> torch.Tensor:
        """The graph's logits ``(B, K, H, W)`` of normalised ``inputs (B, 3, H, W)``."""
        fixed = [(axis, size) for axis, size in zip(self.input_axes, inputs.shape) if isinstance(axis, int)]
        if any(axis != size for axis, size in fixed):
            shape = ' x '.join(str(axis) for axis in self.input_axes)
            raise OnnxInputError(
                f'{self.onnx_file}: the graph takes inputs of {shape} (batch x channels x height x width), this '
                f'image comes to {" x ".join(map(str, inputs.shape))} in {self.test_cfg.get("mode", "whole")!r} '
                'mode: export it with --dynamic, or infer in slide mode with the crop the graph was exported at')
        logits = self.session.run([OUTPUT], {INPUT: inputs.detach().float().cpu().numpy()})[0]
        return torch.from_numpy(logits).to(inputs.device)

    def extract_feat(self, inputs: torch.Tensor):
        raise NotImplementedError('an OnnxSegmentor has no backbone: it runs a whole graph (encode_decode)')

    def loss(self, inputs, data_samples):
        raise NotImplementedError('an OnnxSegmentor cannot train')
