"""Lazily decoded training images: the pixels of mmcv's loading, the draws of timm's crop, exact boxes from reduced
JPEG decodes, and torch's resampling within rounding of PIL's."""
import random
import shutil
from io import BytesIO

import cv2
import numpy as np
import pytest
import torch
from lvseg_testing.quadrants import PIPELINES, quadrant_image
from lvseg_testing.tool_runner import REPO
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import TRANSFORMS
from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile

import lvseg  # noqa: F401  (registers the transforms)
from lvseg.datasets.bad_sample import BadSampleError
from lvseg.datasets.lazy_images import LoadLazyImageFromFile, decode, open_image, resize, resized_crop
from lvseg.datasets.token_label_transforms import PackTokenLabelInputs, RandomResizedCropWithBox
from lvseg.engine.bad_samples import CheckedDataset

RECIPE = REPO / 'configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py'


def photo(size: tuple[int, int]) -> Image.Image:
    """scikit-image's astronaut photo (real content: decode and resampling differences show) at ``size``."""
    data = pytest.importorskip('skimage.data')
    return Image.fromarray(data.astronaut()).resize(size, Image.Resampling.LANCZOS)


def seeded(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)


def run(transforms, results: dict, seed: int) -> dict:
    seeded(seed)
    for transform in transforms:
        results = transform(results)
    return PackTokenLabelInputs()(results)


def assert_same_geometry(packed: dict, expected: dict) -> None:
    for key in ('token_label_box', 'token_label_flip', 'token_label_affine'):
        assert torch.equal(packed['data_samples'].get(key), expected['data_samples'].get(key)), key


def recipe_pipeline() -> list:
    return Config.fromfile(RECIPE).train_dataloader.dataset.pipeline


def textured_quadrants() -> np.ndarray:
    image = quadrant_image(180, 240)
    image[::5, ::3] = 40  # texture, so that resampling differences would show
    return image


def test_flip_randaugment_and_pack_treat_an_rgb_pil_image_as_its_bgr_array():
    transforms = [TRANSFORMS.build(t) for t in recipe_pipeline() if t.type in ('RandomFlipWithBox',
                                                                              'RandAugmentWithAffine')]
    image = textured_quadrants()
    for seed in range(12):
        as_array = run(transforms, {'img': image.copy()}, seed)
        as_pil = run(transforms, {'img': Image.fromarray(image[..., ::-1].copy())}, seed)
        assert_same_geometry(as_pil, as_array)
        assert torch.equal(as_pil['inputs'], as_array['inputs'])


def test_the_crop_of_a_pil_image_is_timms_within_2_grey_levels():
    """Same box as the array's (timm's draw); torch's resampling of the pixels rounds like PIL's, up to 2 levels."""
    crop = TRANSFORMS.build(next(t for t in recipe_pipeline() if t.type == 'RandomResizedCropWithBox'))
    image = np.asarray(photo((320, 240)))[..., ::-1]  # BGR; crops from 0.08 (upsampled) to the whole photo
    for seed in range(16):
        as_array = run([crop], {'img': image.copy()}, seed)
        as_pil = run([crop], {'img': Image.fromarray(image[..., ::-1].copy())}, seed)
        assert_same_geometry(as_pil, as_array)
        assert (as_pil['inputs'].int() - as_array['inputs'].int()).abs().max() <= 2


@pytest.mark.parametrize('pipeline', PIPELINES.values(), ids=PIPELINES.keys())
def test_pil_images_get_the_geometry_of_bgr_arrays(pipeline):
    """Draw for draw, so the geometry tests of arrays (tests/test_token_labels.py) hold for PIL images."""
    transforms = [TRANSFORMS.build(cfg) for cfg in pipeline]
    image = textured_quadrants()
    for seed in range(6):
        as_array = run(transforms, {'img': image.copy()}, seed)
        as_pil = run(transforms, {'img': Image.fromarray(image[..., ::-1].copy())}, seed)
        assert_same_geometry(as_pil, as_array)
        assert (as_pil['inputs'].float() - as_array['inputs'].float()).abs().mean() < 1


def test_a_lazily_opened_jpeg_decodes_to_the_pixels_of_mmcv_loading(tmp_path):
    path = tmp_path / 'photo.jpg'
    photo((320, 240)).save(path, quality=90)
    lazy = LoadLazyImageFromFile()({'img_path': str(path)})
    assert isinstance(lazy['img'], Image.Image) and lazy['ori_shape'] == lazy['img_shape'] == (240, 320)
    mmcv = TRANSFORMS.build(dict(type='LoadImageFromFile'))({'img_path': str(path)})
    assert np.array_equal(np.asarray(decode(lazy['img']))[..., ::-1], mmcv['img'])


def test_a_crop_shrunk_2x_or_more_decodes_a_reduced_jpeg_with_the_same_box(tmp_path, monkeypatch):
    path = tmp_path / 'photo.jpg'
    photo((1536, 1152)).save(path, quality=90)
    scales = []
    draft = JpegImageFile.draft

    def spy(self, mode, size):
        answer = draft(self, mode, size)
        scales.append(round(1536 / answer[1][2]))
        return answer

    monkeypatch.setattr(JpegImageFile, 'draft', spy)
    crop = RandomResizedCropWithBox(size=224, scale=(0.02, 1.0), interpolation='bicubic')
    full = Image.open(path).convert('RGB')
    for seed in range(30):
        seeded(seed)
        drafted = len(scales)
        reduced = crop({'img': open_image(str(path))})
        seeded(seed)
        exact = crop({'img': full})  # decoded already: no draft
        assert np.array_equal(reduced['token_label_box'], exact['token_label_box'])
        assert reduced['img'].size == (224, 224) and reduced['img'].mode == 'RGB'
        difference = mean_difference(reduced['img'], exact['img'])
        if len(scales) == drafted:  # shrunk less than 2x: decoded at full scale, the same pixels
            assert difference == 0
            continue
        # The same region, a little softer: several times closer to the exact crop than that crop moved by one
        # pixel of the reduced image is (0.3-1.3 grey levels against 3.7-8.9 here).
        left, top, right, bottom = (exact['token_label_box'] * [1536, 1152, 1536, 1152]).round().astype(int)
        moved = full.crop((left + scales[-1], top, right + scales[-1], bottom)).resize((224, 224), Image.BICUBIC)
        assert difference < mean_difference(moved, exact['img']) / 4
    assert {2, 4} <= set(scales) and len(scales) < 30  # crops of 448 and 896 px and more; not every crop


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, float) - np.asarray(b, float)).mean())


@pytest.mark.parametrize('size', [(224, 224), (96, 160), (500, 380)], ids=['down', 'down, 2.6x', 'up'])
@pytest.mark.parametrize('resample', [Image.Resampling.BILINEAR, Image.Resampling.BICUBIC], ids=['bilinear', 'bicubic'])
def test_resize_by_torch_is_pils_up_to_rounding(size, resample):
    image = photo((317, 251))
    ours, pils = (np.asarray(im, dtype=int) for im in (resize(image, size, resample), image.resize(size, resample)))
    assert ours.shape == pils.shape and np.abs(ours - pils).max() <= 2 and np.abs(ours - pils).mean() < 0.5


def test_resize_leaves_other_filters_to_pil():
    image = photo((317, 251))
    assert np.array_equal(np.asarray(resize(image, (224, 224), Image.Resampling.LANCZOS)),
                          np.asarray(image.resize((224, 224), Image.Resampling.LANCZOS)))


def test_resized_crop_places_a_fractional_region_of_the_reduced_image():
    """A 1/4-scale crop of a smooth ramp reads the same values as the full-scale crop (the box maps by 1/4)."""
    ramp = np.tile(np.linspace(0, 255, 1600)[None, :, None], (1200, 1, 3)).astype(np.uint8)
    box, size = (403, 211, 1403, 1011), (224, 179)
    expected = np.asarray(Image.fromarray(ramp).crop(box).resize(size, Image.Resampling.BILINEAR), float)
    buffer = BytesIO()
    Image.fromarray(ramp).save(buffer, format='JPEG', quality=95)
    reduced = resized_crop(Image.open(BytesIO(buffer.getvalue())), box, size, Image.Resampling.BILINEAR)
    assert reduced.size == size
    np.testing.assert_allclose(np.asarray(reduced, float)[:, 2:-2], expected[:, 2:-2], atol=3)


@pytest.mark.parametrize('mode', ['L', 'CMYK', 'P', 'RGBA', 'I;16'])
def test_any_image_mode_decodes_to_8_bit_rgb_as_opencv_reads_it(tmp_path, mode):
    rgb = np.asarray(photo((64, 48)))
    image = Image.fromarray(rgb)
    path = tmp_path / ('image.png' if mode in ('P', 'RGBA', 'I;16') else 'image.jpg')
    if mode == 'I;16':
        image = Image.fromarray(np.asarray(image.convert('L')).astype(np.uint16) * 257)  # 16-bit grey
    else:
        image = image.convert(mode)
    image.save(path)
    decoded = np.asarray(decode(open_image(str(path))))
    opencv = cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]
    assert decoded.shape == (48, 64, 3) and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - opencv).max() <= (12 if mode == 'CMYK' else 1)


def test_the_exif_orientation_turns_the_image_upright_as_opencv_does(tmp_path):
    path = tmp_path / 'rotated.jpg'
    image = photo((64, 48))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image.save(path, quality=95, exif=exif)
    results = LoadLazyImageFromFile()({'img_path': str(path)})
    assert results['ori_shape'] == (64, 48)  # upright: the stored 64x48 stands on its side
    opencv = cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]
    assert np.abs(np.asarray(decode(results['img'])).astype(int) - opencv).max() <= 1


def test_a_truncated_jpeg_is_a_bad_sample_naming_its_file(imagenet_root, tmp_path):
    init_default_scope('mmseg')
    cfg = Config.fromfile(RECIPE).train_dataloader.dataset
    cfg.update(data_root=str(imagenet_root), label_map_root=None)
    dataset = CheckedDataset(cfg.to_dict())
    path = dataset.get_data_info(0)['img_path']
    shutil.copytree(imagenet_root / 'train', tmp_path / 'train')
    data = open(path, 'rb').read()
    (tmp_path / 'train' / path.split('/train/')[1]).write_bytes(data[:len(data) // 2])
    cfg.update(data_root=str(tmp_path))
    with pytest.raises(BadSampleError, match=f'image {tmp_path}/train/.*: RandomResizedCropWithBox failed: '
                                             'OSError: .*cannot decode the image'):
        CheckedDataset(cfg.to_dict())[0]
