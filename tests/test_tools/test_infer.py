"""tools/infer.py and lvseg.engine.inference: label PNGs and overlays from mmseg's MMSegInferencer, strict and
safe checkpoint loading, one clear error per bad input."""
import re

import numpy as np
import pytest
import torch
from lvseg_testing.tool_runner import DEMO_CONFIG, demo_overrides, import_tool, run_tool
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.apis import inference_model
from mmseg.registry import MODELS
from PIL import Image

import lvseg  # noqa: F401
from lvseg.checkpoints.fit import CheckpointMismatchError
from lvseg.checkpoints.safe_load import load_checkpoint_file
from lvseg.checkpoints.whole_model import load_checkpoint_strictly
from lvseg.engine.inference import (
    InferenceInputError,
    SegInferencer,
    class_meta,
    collect_images,
    numbered_palette,
    segment_images,
)

# the demo segmentor (width 128) cut to 4 blocks: seconds on a CPU
SMALL = {'model.backbone.arch.num_layers': 4, 'model.backbone.out_indices': (0, 1, 2, 3)}
CLASSES = tuple(f'thing {i}' for i in range(8))


def small_demo_config() -> Config:
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict(SMALL)
    init_default_scope(cfg.default_scope)  # as the tools do: lvseg registers in mmseg's registries
    return cfg


def write_image(path, height: int, width: int, seed: int = 0):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A checkpoint of the small demo segmentor in mmengine's layout, with class names in its meta."""
    torch.manual_seed(0)
    model = MODELS.build(small_demo_config().model)
    model.init_weights()
    path = tmp_path_factory.mktemp('ckpt') / 'small.pth'
    palette = [[i * 30, 255 - i * 30, 100] for i in range(8)]
    torch.save({'meta': {'dataset_meta': {'classes': CLASSES, 'palette': palette}},
                'state_dict': model.state_dict()}, path)
    return path


@pytest.fixture(scope='module')
def inferencer(checkpoint):
    return SegInferencer(small_demo_config(), checkpoint, device='cpu')


def test_mmseg_inferencer_segments_a_file_and_a_folder_with_a_lvseg_config(inferencer, tmp_path):
    folder = tmp_path / 'folder'
    folder.mkdir()
    images = [write_image(tmp_path / 'single.jpg', 96, 128, seed=1), write_image(folder / 'a.png', 70, 50, seed=2),
              write_image(folder / 'b.bmp', 33, 90, seed=3)]
    (folder / 'notes.txt').write_text('not an image')
    found = collect_images([tmp_path / 'single.jpg', folder])
    assert found == images

    labels = segment_images(inferencer, found, tmp_path / 'out')

    assert labels == [tmp_path / 'out/labels' / f'{name}.png' for name in ('single', 'a', 'b')]
    for image, label_file in zip(images, labels):
        width, height = Image.open(image).size
        label = np.asarray(Image.open(label_file))
        assert label.shape == (height, width) and label.dtype == np.uint8
        # the file holds the model's own prediction, as mmseg's inference_model gives it
        expected = inference_model(inferencer.model, str(image)).pred_sem_seg.data[0].numpy()
        np.testing.assert_array_equal(label, expected)
        assert label.max() < len(CLASSES)
        overlay = np.asarray(Image.open(tmp_path / 'out/overlays' / label_file.name))
        assert overlay.shape == (height, width, 3)
    assert not list((tmp_path / 'out').rglob('*.part'))


def test_class_names_come_from_the_checkpoint_else_the_config_dataset_else_numbers():
    ade = Config.fromfile(DEMO_CONFIG)
    ade.test_dataloader.dataset.type = 'ADE20KDataset'
    assert class_meta({'meta': {'dataset_meta': {'classes': CLASSES, 'palette': None}}}, ade, 8) == {
        'classes': list(CLASSES), 'palette': numbered_palette(8)}
    mmseg_0x = {'meta': {'CLASSES': ('a', 'b'), 'PALETTE': [[1, 2, 3], [4, 5, 6]]}}
    assert class_meta(mmseg_0x, ade, 2) == {'classes': ['a', 'b'], 'palette': [[1, 2, 3], [4, 5, 6]]}
    from_config = class_meta({}, ade, 150)
    assert len(from_config['classes']) == len(from_config['palette']) == 150 and from_config['classes'][0] == 'wall'
    numbered = class_meta({}, ade, 3)  # the data set's 150 classes do not fit a 3-class head
    assert numbered['classes'] == ['class 0', 'class 1', 'class 2'] and len(numbered['palette']) == 3


def test_a_checkpoint_that_does_not_fit_the_model_stops_naming_the_file_and_keys(checkpoint, tmp_path):
    state = load_checkpoint_file(checkpoint)['state_dict']
    state['decode_head.extra.weight'] = torch.zeros(1)
    del state['backbone.cls_token']
    state['decode_head.conv_seg.weight'] = torch.zeros(5, 64, 1, 1)
    broken = tmp_path / 'broken.pth'
    torch.save({'state_dict': state}, broken)
    model = MODELS.build(small_demo_config().model)
    with pytest.raises(CheckpointMismatchError) as error:
        load_checkpoint_strictly(model, broken)
    message = str(error.value)
    assert message.startswith(f'{broken}: ') and '\n' not in message
    for part in ("1 of the model's", 'are missing from it (backbone.cls_token)',
                 '1 tensors in it have no place in the model (decode_head.extra.weight)',
                 'decode_head.conv_seg.weight: [5, 64, 1, 1] in the checkpoint, [8, 64, 1, 1] in the model'):
        assert part in message

    torch.save({'state_dict': {'module.' + k: v for k, v in load_checkpoint_file(checkpoint)['state_dict'].items()}},
               tmp_path / 'ddp.pth')
    load_checkpoint_strictly(model, tmp_path / 'ddp.pth')  # DDP's prefix is taken off
    expected = load_checkpoint_file(checkpoint)['state_dict']['decode_head.conv_seg.weight']
    assert torch.equal(model.state_dict()['decode_head.conv_seg.weight'], expected)


def test_bad_inputs_are_errors_naming_them(inferencer, tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'readme.txt').write_text('x')
    (tmp_path / 'clip.mp4').write_bytes(b'\0' * 16)
    (tmp_path / 'x').mkdir()
    clash = [write_image(tmp_path / 'same.png', 8, 8), write_image(tmp_path / 'x/same.jpg', 8, 8)]
    for inputs, expected in (([tmp_path / 'nowhere.jpg'], f'{tmp_path / "nowhere.jpg"}: no such file or folder'),
                             ([empty], f'{empty}: the folder holds no images'),
                             ([tmp_path / 'clip.mp4'], f'{tmp_path / "clip.mp4"}: a video'),
                             (clash, f'{clash[0]} and {clash[1]}: two images named \'same\'')):
        with pytest.raises(InferenceInputError, match=re.escape(expected)):
            collect_images(inputs)
    assert collect_images([clash[0], clash[0]]) == [clash[0]]

    (tmp_path / 'garbage.jpg').write_bytes(b'not a jpeg at all')
    (tmp_path / 'empty.png').write_bytes(b'')
    for broken in (tmp_path / 'garbage.jpg', tmp_path / 'empty.png'):
        with pytest.raises(InferenceInputError) as error:
            segment_images(inferencer, [broken], tmp_path / 'out')
        assert str(error.value).startswith(f'{broken}: cannot read or prepare this image (')
        assert '\n' not in str(error.value)
    assert not (tmp_path / 'out/labels').exists()


def test_the_closing_line_counts_images_in_the_singular_and_the_plural():
    done_message = import_tool('infer').done_message

    assert done_message(1, 'out') == 'segmented 1 image: out/labels (class index per pixel), out/overlays'
    assert done_message(2, 'out') == 'segmented 2 images: out/labels (class index per pixel), out/overlays'


@pytest.mark.slow
def test_infer_tool_on_a_trained_checkpoint(ade_root, tmp_path):
    """tools/train.py for 2 iterations, then tools/infer.py on a file and a folder, as a user runs them."""
    small = ['model.backbone.arch.num_layers=4', 'model.backbone.out_indices=(0,1,2,3)']
    run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(tmp_path / 'work'), *demo_overrides(ade_root, iters=2),
             *small)
    checkpoint = str(tmp_path / 'work/iter_2.pth')
    single = sorted((ade_root / 'images/training').glob('*.jpg'))[0]
    images = [single, *sorted((ade_root / 'images/validation').glob('*.jpg'))]
    num_classes = len((ade_root / 'classes.txt').read_text().split())

    done = run_tool('infer.py', str(DEMO_CONFIG), checkpoint, str(single), str(ade_root / 'images/validation'),
                    '--out-dir', str(tmp_path / 'out'), '--cfg-options', *small)
    assert f'segmented {len(images)} images' in done.stdout
    assert sorted(p.name for p in (tmp_path / 'out/labels').iterdir()) == sorted(f'{i.stem}.png' for i in images)
    for image in images:
        label = np.asarray(Image.open(tmp_path / 'out/labels' / f'{image.stem}.png'))
        assert label.shape == np.asarray(Image.open(image)).shape[:2]
        assert label.max() < num_classes
        assert (tmp_path / 'out/overlays' / f'{image.stem}.png').is_file()

    mismatched = run_tool('infer.py', str(DEMO_CONFIG), checkpoint, str(single), '--out-dir', str(tmp_path / 'none'),
                          expect_failure=True)  # the demo model as configured has 8 blocks, the checkpoint 4
    assert re.fullmatch(rf'error: {re.escape(checkpoint)}: this checkpoint does not fit the model: it holds an LV-ViT '
                        r"of depth 4 and embed dim 128, the model has depth 8 and embed dim 128\. Give the checkpoint "
                        r"of this config's model", mismatched.stderr.strip().splitlines()[-1])
    assert not (tmp_path / 'none').exists()
