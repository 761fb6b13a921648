"""tools/export.py and tools/infer.py on an ONNX file (slow): the demo segmentor exported with fixed and dynamic
axes, a released-layout UperNet + LV-ViT-S at its crop and at a non-square size, each graph's logits against
mmseg's ``encode_decode`` of the checkpoint; and infer.py on real photos giving the same label maps with either
backend, in whole mode (dynamic graph) and in slide mode around a graph of the window's size."""
import re

import numpy as np
import pytest
import torch
from lvseg_testing.official_checkpoints import official_segmentor_state_dict
from lvseg_testing.onnx_checks import TOLERANCE, built, difference_to_mmseg
from lvseg_testing.tool_runner import DEMO_CONFIG, REPO, run_tool
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from PIL import Image

from lvseg.checkpoints.whole_model import load_checkpoint_strictly
from lvseg.engine.inference import SegInferencer

pytestmark = pytest.mark.slow
RELEASED_CONFIG = REPO / 'configs/official/upernet_lvvit-s_released_ade20k-512x512.py'
EXPORTED = re.compile(r'^exported (\S+): input "images" \(batch (\S+), channels 3, height (\S+), width (\S+)\), '
                      r'float32', re.M)
COMPARED = re.compile(r'^onnxruntime vs PyTorch on a random input of (\S+): largest logit difference (\S+) '
                      r'\((\S+) of the largest logit\)$', re.M)
SLIDE_128 = ['model.test_cfg.mode=slide', 'model.test_cfg.crop_size=(128,128)', 'model.test_cfg.stride=(85,85)']


def segmentor(config, checkpoint) -> torch.nn.Module:
    """The config's segmentor with the checkpoint loaded as the tools load it, in eval mode."""
    init_default_scope('mmseg')
    model = MODELS.build(Config.fromfile(config).model).eval()
    load_checkpoint_strictly(model, checkpoint)
    return model


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """(folder, the demo segmentor's checkpoint with 8 named classes); its classifier weights scaled up so that
    the classes' logits are far apart, as a trained model's."""
    folder = tmp_path_factory.mktemp('export_demo')
    model = built(DEMO_CONFIG)
    model.decode_head.conv_seg.weight.data *= 100
    meta = {'classes': [f'thing {i}' for i in range(8)], 'palette': [[30 * i, 255 - 30 * i, 90] for i in range(8)]}
    torch.save({'state_dict': model.state_dict(), 'meta': {'dataset_meta': meta}}, folder / 'demo.pth')
    return folder, folder / 'demo.pth'


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    """Three real photos of scikit-image's (512x512, 400x600, 300x451)."""
    data = pytest.importorskip('skimage.data')
    folder = tmp_path_factory.mktemp('photos')
    for name in ('astronaut', 'coffee', 'chelsea'):
        Image.fromarray(getattr(data, name)()).save(folder / f'{name}.png')
    return folder


def exported(result) -> tuple[list[str], list[tuple[str, float]]]:
    """(batch, height, width as printed, [(shape, relative difference)]) of tools/export.py's output."""
    axes = EXPORTED.search(result.stdout)
    return list(axes.groups()[1:]), [(shape, float(rel)) for shape, _, rel in COMPARED.findall(result.stdout)]


def label_maps(folder) -> dict[str, np.ndarray]:
    return {path.stem: np.array(Image.open(path)) for path in sorted((folder / 'labels').iterdir())}


def test_the_demo_exports_with_fixed_and_with_dynamic_axes(demo):
    folder, checkpoint = demo
    fixed = run_tool('export.py', str(DEMO_CONFIG), str(checkpoint), str(folder / 'fixed.onnx'))
    dynamic = run_tool('export.py', str(DEMO_CONFIG), str(checkpoint), str(folder / 'dynamic.onnx'), '--dynamic')
    assert exported(fixed) == (['1', '128', '128'], [('1x3x128x128', pytest.approx(0, abs=TOLERANCE))])
    axes, comparisons = exported(dynamic)
    assert axes == ['dynamic'] * 3
    assert [shape for shape, _ in comparisons] == ['2x3x128x128', '1x3x168x104']
    assert all(relative < TOLERANCE for _, relative in comparisons)
    model = segmentor(DEMO_CONFIG, checkpoint)
    assert difference_to_mmseg(model, folder / 'fixed.onnx', (1, 3, 128, 128)) < TOLERANCE
    for shape in ((1, 3, 128, 128), (2, 3, 176, 96)):
        assert difference_to_mmseg(model, folder / 'dynamic.onnx', shape) < TOLERANCE


def test_infer_labels_real_photos_alike_on_both_backends_in_whole_mode(demo, photos):
    folder, checkpoint = demo
    if not (folder / 'dynamic.onnx').is_file():
        run_tool('export.py', str(DEMO_CONFIG), str(checkpoint), str(folder / 'dynamic.onnx'), '--dynamic')
    for model, out in ((checkpoint, 'whole_torch'), (folder / 'dynamic.onnx', 'whole_onnx')):
        run_tool('infer.py', str(DEMO_CONFIG), str(model), str(photos), '--out-dir', str(folder / out))
    torch_labels, onnx_labels = label_maps(folder / 'whole_torch'), label_maps(folder / 'whole_onnx')
    assert {k: v.shape for k, v in onnx_labels.items()} == {
        'astronaut': (512, 512), 'chelsea': (300, 451), 'coffee': (400, 600)}
    for name, labels in torch_labels.items():
        assert len(np.unique(labels)) >= 3, name  # a picture of several classes, not one
        assert (onnx_labels[name] == labels).mean() >= 0.999, name
    assert sorted(p.name for p in (folder / 'whole_onnx/overlays').iterdir()) == [
        'astronaut.png', 'chelsea.png', 'coffee.png']


def test_infer_slides_around_a_graph_of_the_windows_size(demo, photos):
    folder, checkpoint = demo
    run_tool('export.py', str(DEMO_CONFIG), str(checkpoint), str(folder / 'window.onnx'))  # 1 x 3 x 128 x 128
    for model, out in ((checkpoint, 'slide_torch'), (folder / 'window.onnx', 'slide_onnx')):
        run_tool('infer.py', str(DEMO_CONFIG), str(model), str(photos), '--out-dir', str(folder / out),
                 '--cfg-options', *SLIDE_128)
    torch_labels, onnx_labels = label_maps(folder / 'slide_torch'), label_maps(folder / 'slide_onnx')
    assert torch_labels.keys() == onnx_labels.keys() == {'astronaut', 'chelsea', 'coffee'}
    for name, labels in torch_labels.items():
        assert (onnx_labels[name] == labels).mean() >= 0.999, name
    whole = run_tool('infer.py', str(DEMO_CONFIG), str(folder / 'window.onnx'), str(photos / 'coffee.png'),
                     '--out-dir', str(folder / 'refused'), expect_failure=True)
    assert whole.stderr.strip().splitlines()[-1] == (
        f'error: {folder / "window.onnx"}: the graph takes inputs of 1 x 3 x 128 x 128 (batch x channels x height x '
        "width), this image comes to 1 x 3 x 128 x 192 in 'whole' mode: export it with --dynamic, or infer in slide "
        'mode with the crop the graph was exported at')


def test_a_released_upernet_lvvit_s_exports_at_its_crop_and_a_non_square_size(tmp_path, photos):
    """The official segmentor layout at LV-ViT-S's sizes (random tensors), with the config made for it."""
    weights = official_segmentor_state_dict(embed_dims=384, depth=16, stem=64, grid=32, pyramid_channels=2048,
                                            channels=256, aux_channels=256, num_classes=150)
    torch.save({'meta': {'mmseg_version': '0.14.1'}, 'state_dict': weights}, tmp_path / 'released.pth')
    crop = run_tool('export.py', str(RELEASED_CONFIG), str(tmp_path / 'released.pth'), str(tmp_path / 'crop.onnx'))
    wide = run_tool('export.py', str(RELEASED_CONFIG), str(tmp_path / 'released.pth'), str(tmp_path / 'wide.onnx'),
                    '--shape', '256', '384')
    assert exported(crop)[0] == ['1', '512', '512'] and exported(wide)[0] == ['1', '256', '384']
    model = segmentor(RELEASED_CONFIG, tmp_path / 'released.pth')
    assert difference_to_mmseg(model, tmp_path / 'crop.onnx', (1, 3, 512, 512)) < TOLERANCE
    assert difference_to_mmseg(model, tmp_path / 'wide.onnx', (1, 3, 256, 384)) < TOLERANCE
    for model_file, out in ((tmp_path / 'released.pth', 'torch'), (tmp_path / 'crop.onnx', 'onnx')):
        run_tool('infer.py', str(RELEASED_CONFIG), str(model_file), str(photos / 'astronaut.png'), '--out-dir',
                 str(tmp_path / out))
    torch_labels, onnx_labels = label_maps(tmp_path / 'torch'), label_maps(tmp_path / 'onnx')
    assert (onnx_labels['astronaut'] == torch_labels['astronaut']).mean() >= 0.999


def test_infer_names_the_classes_the_export_carried_over(demo):
    """tools/export.py writes the checkpoint's class names and colours into the file; the ONNX inferencer reads
    them (the overlays are labelled with them)."""
    folder, checkpoint = demo
    if not (folder / 'fixed.onnx').is_file():
        run_tool('export.py', str(DEMO_CONFIG), str(checkpoint), str(folder / 'fixed.onnx'))
    inferencer = SegInferencer(str(DEMO_CONFIG), folder / 'fixed.onnx', device='cpu')
    assert type(inferencer.model).__name__ == 'OnnxSegmentor'
    assert inferencer.model.dataset_meta == {
        'classes': [f'thing {i}' for i in range(8)], 'palette': [[30 * i, 255 - 30 * i, 90] for i in range(8)]}
