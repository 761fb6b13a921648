"""Deployment: a trained segmentor as an ONNX graph (``tools/export.py``), and that graph run by onnxruntime
inside mmseg's inference (``tools/infer.py MODEL.onnx``).

- :mod:`.traceable`: adaptive pooling and upsampling as ops that follow the input's size in an exported graph;
- :mod:`.onnx_export`: the graph (normalised images in, class logits at the input's size out), its export,
  check and comparison with PyTorch;
- :mod:`.onnx_segmentor`: ``OnnxSegmentor``, mmseg's whole and sliding-window inference around the graph.

``onnx``, ``onnxscript`` and ``onnxruntime`` are the ``deploy`` extra (``pip install -e ".[deploy]"``, installed
by ``make setup``); they are imported when used, so that ``import lvseg`` does not need them.
"""
from .onnx_segmentor import OnnxSegmentor

__all__ = ['OnnxSegmentor']
