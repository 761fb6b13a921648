"""What the ONNX tests compare: a segmentor's logits by mmseg's own ``encode_decode`` against a graph's on
onnxruntime."""
import numpy as np
import onnxruntime
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from .tool_runner import REPO

DEMO = {name: REPO / f'configs/demo/upernet_{name}-demo_synthetic-128.py' for name in ('lvvit', 't2t-vit', 'deit')}
TOLERANCE = 1e-4  # largest |onnxruntime - mmseg| over the largest |logit|, float32


def built(config) -> torch.nn.Module:
    """The config's segmentor with its initial weights (seeded; no pretrained file), in eval mode."""
    init_default_scope('mmseg')
    torch.manual_seed(0)
    cfg = Config.fromfile(config)
    cfg.model.pretrained = None
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def mmseg_logits(model, images: torch.Tensor) -> np.ndarray:
    """mmseg's ``EncoderDecoder.encode_decode`` of an unpadded batch: the logits the graph must give."""
    metas = [dict(img_shape=images.shape[2:], pad_shape=images.shape[2:], ori_shape=images.shape[2:])] * len(images)
    with torch.no_grad():
        return model.encode_decode(images, metas).numpy()


def onnx_logits(path, images: torch.Tensor) -> np.ndarray:
    """The graph's logits of ``images`` on onnxruntime's CPU provider."""
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return session.run(['logits'], {'images': images.numpy()})[0]


def relative_difference(got: np.ndarray, expected: np.ndarray) -> float:
    """max |got - expected| / max |expected|, for arrays of the same shape."""
    assert got.shape == expected.shape
    return float(np.abs(got - expected).max() / np.abs(expected).max())


def difference_to_mmseg(model, onnx_file, shape: tuple[int, ...], seed: int = 11) -> float:
    """:func:`relative_difference` of the graph's logits to ``model``'s on random images of ``shape``."""
    images = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    return relative_difference(onnx_logits(onnx_file, images), mmseg_logits(model, images))
