"""ONNX export of segmentors (lvseg/deploy/onnx_export.py), compared with mmseg's own ``encode_decode`` on
onnxruntime: LV-ViT, T2T-ViT and DeiT demo segmentors at the crop and at a non-square size, and the refusals (slow:
each export takes seconds). Dynamic exports: test_onnx_dynamic.py."""
import numpy as np
import onnx
import pytest
import torch
from lvseg_testing.onnx_checks import DEMO, TOLERANCE, built, mmseg_logits, onnx_logits, relative_difference

import lvseg.deploy.onnx_export as onnx_export
from lvseg.deploy.onnx_export import (
    DATASET_META_KEY,
    ExportError,
    SegmentorLogits,
    export_segmentor,
    input_axes,
)
from lvseg.deploy.traceable import BinAveragePool
from lvseg.utils.user_errors import UserError


def test_the_exported_module_gives_mmseg_encode_decode():
    model = built(DEMO['lvvit'])
    images = torch.randn(2, 3, 96, 160, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got = SegmentorLogits(model)(images).numpy()
    np.testing.assert_array_equal(got, mmseg_logits(model, images))


@pytest.mark.slow
@pytest.mark.parametrize('shape', [(128, 128), (96, 160)], ids=['crop', 'non-square'])
@pytest.mark.parametrize('name', list(DEMO))
def test_a_fixed_export_gives_mmseg_logits(name, shape, tmp_path):
    model = built(DEMO[name])
    meta = {'classes': [f'c{i}' for i in range(8)], 'palette': [[i, i, i] for i in range(8)]}
    exported = export_segmentor(model, tmp_path / 'model.onnx', shape, dynamic=False, dataset_meta=meta)
    assert input_axes(tmp_path / 'model.onnx') == exported.axes == [1, 3, *shape]
    comparisons = exported.comparisons
    images = torch.randn(1, 3, *shape, generator=torch.Generator().manual_seed(7))
    assert relative_difference(onnx_logits(tmp_path / 'model.onnx', images), mmseg_logits(model, images)) < TOLERANCE
    assert [c.shape for c in comparisons] == [(1, 3, *shape)] and comparisons[0].relative < TOLERANCE
    props = {p.key: p.value for p in onnx.load(tmp_path / 'model.onnx').metadata_props}
    assert props[DATASET_META_KEY] == '{"classes": ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"], "palette": ' \
                                      '[[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4], [5, 5, 5], [6, 6, 6], ' \
                                      '[7, 7, 7]]}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model.onnx']  # no temporary file left


def test_only_encoder_decoders_of_several_classes_are_exported(tmp_path):
    model = built(DEMO['lvvit'])
    model.out_channels = 1
    with pytest.raises(ExportError, match='binary segmentor'):
        export_segmentor(model, tmp_path / 'model.onnx', (128, 128), dynamic=False)
    with pytest.raises(ExportError, match='only EncoderDecoder segmentors are exported, this one is Linear'):
        export_segmentor(torch.nn.Linear(2, 2), tmp_path / 'model.onnx', (128, 128), dynamic=False)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_a_graph_that_computes_other_logits_is_refused_and_not_written(tmp_path, monkeypatch):
    """The exported copy pools the pyramid's 2x2, 3x3 and 6x6 bins into one, as if the replacement were wrong:
    the comparison refuses the file."""
    def one_bin_each(model):
        for name, module in list(model.named_modules()):
            if isinstance(module, torch.nn.AdaptiveAvgPool2d):
                parent, _, attribute = name.rpartition('.')
                setattr(model.get_submodule(parent), attribute, BinAveragePool(1))

    monkeypatch.setattr(onnx_export, 'make_traceable', one_bin_each)
    (tmp_path / 'model.onnx').write_text('an older export')
    with pytest.raises(ExportError, match=r'the graph computes other logits than PyTorch \(1x3x128x128: largest logit '
                                          r'difference .* of the largest logit\); refused above 0.001 of the largest '
                                          r'logit\): nothing written'):
        export_segmentor(built(DEMO['lvvit']), tmp_path / 'model.onnx', (128, 128), dynamic=False)
    assert [p.name for p in tmp_path.iterdir()] == ['model.onnx']
    assert (tmp_path / 'model.onnx').read_text() == 'an older export'


@pytest.mark.slow
def test_a_model_torch_cannot_export_gets_one_line(tmp_path, monkeypatch):
    """A forward that branches on a tensor's value cannot be traced."""
    decode_head_forward = type(built(DEMO['lvvit']).decode_head).forward

    def branching(self, inputs):
        logits = decode_head_forward(self, inputs)
        return logits if logits.sum() > 0 else -logits

    model = built(DEMO['lvvit'])
    monkeypatch.setattr(type(model.decode_head), 'forward', branching)
    with pytest.raises(ExportError, match=r'^torch.onnx.export or onnx.checker refused the graph: \w+: .+$'):
        export_segmentor(model, tmp_path / 'model.onnx', (128, 128), dynamic=False)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_a_graph_that_fails_at_another_size_is_refused(tmp_path, monkeypatch):
    """Traced at the crop (where DeiT's position embedding is not resized), a 'dynamic' graph fails at other
    sizes: the check at a second size finds it."""
    monkeypatch.setattr(onnx_export, 'OFF_SIZE', (0, 0))
    with pytest.raises(ExportError, match=r'the graph fails on onnxruntime at 1x3x168x104 \(\w+: .*\); export '
                                          'without --dynamic'):
        export_segmentor(built(DEMO['deit']), tmp_path / 'model.onnx', (128, 128), dynamic=True)
    assert not list(tmp_path.iterdir())


def test_missing_deploy_packages_are_named_with_how_to_install_them(monkeypatch):
    find_spec = onnx_export.importlib.util.find_spec
    monkeypatch.setattr(onnx_export.importlib.util, 'find_spec',
                        lambda name: None if name in ('onnx', 'onnxruntime') else find_spec(name))
    with pytest.raises(UserError, match=r'^onnx, onnxruntime not installed: pip install -e "\.\[deploy\]" \(make '
                                        r'setup installs it\)$'):
        onnx_export.require_deploy_packages()
    with pytest.raises(UserError, match=r'^m\.onnx: onnxruntime not installed: '):
        onnx_export.require_deploy_packages(('onnxruntime',), subject='m.onnx: ')
    onnx_export.require_deploy_packages(('onnxscript',))  # installed: nothing raised
