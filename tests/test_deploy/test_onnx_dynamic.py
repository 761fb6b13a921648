"""Dynamic ONNX exports (lvseg/deploy/onnx_export.py): batch, height and width follow the input for the LV-ViT,
T2T-ViT and DeiT demo segmentors and for FPN + LV-ViT-S, compared with mmseg's ``encode_decode`` at sizes and
batches the export was neither traced nor checked at (slow)."""
import pytest
import torch
from lvseg_testing.onnx_checks import DEMO, TOLERANCE, built, mmseg_logits, onnx_logits, relative_difference
from lvseg_testing.tool_runner import REPO

from lvseg.deploy.onnx_export import export_segmentor, input_axes

FPN = REPO / 'configs/fpn_lvvit-s_8xb2-80k_ade20k-512x512.py'  # LV-ViT-S, FPN neck and head (mmseg's Upsample)


@pytest.mark.slow
@pytest.mark.parametrize('config', [*DEMO.values(), FPN], ids=[*DEMO, 'fpn-lvvit-s'])
def test_a_dynamic_export_follows_batch_height_and_width(config, tmp_path):
    model = built(config)
    exported = export_segmentor(model, tmp_path / 'model.onnx', (128, 128), dynamic=True)
    assert exported.axes == input_axes(tmp_path / 'model.onnx')
    batch, channels, height, width = exported.axes
    assert channels == 3 and all(isinstance(axis, str) for axis in (batch, height, width))
    # none of these is the traced example (2 x 136 x 152) nor the compared ones (2 x 128 x 128, 1 x 168 x 104)
    for seed, shape in enumerate([(1, 3, 128, 128), (3, 3, 100, 150), (1, 3, 224, 72), (2, 3, 160, 160)]):
        images = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
        got = onnx_logits(tmp_path / 'model.onnx', images)
        assert relative_difference(got, mmseg_logits(model, images)) < TOLERANCE, shape
