"""The workers' side of the device path: file bytes and the header's size, packed with the labels; a file that is
not an image goes through the data set's bad-sample policy."""
import io

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from PIL import Image

from lvseg.datasets.bad_sample import BadSampleError
from lvseg.datasets.image_bytes import LoadImageBytes, PackImageBytes, image_header
from lvseg.demo.mask_label_maps import write_label_maps_from_masks
from lvseg.demo.synthetic import write_imagenet_layout
from lvseg.engine.bad_samples import CheckedDataset

DEVICE_PIPELINE = [dict(type='LoadImageBytes'), dict(type='LoadTokenLabelMap', num_classes=4),
                   dict(type='PackImageBytes')]


def encoded(image_format: str, height: int = 30, width: int = 50, **options) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format=image_format, **options)
    return buffer.getvalue()


@pytest.mark.parametrize('image_format, options', [
    ('JPEG', {}), ('JPEG', {'progressive': True}), ('JPEG', {'exif': Image.Exif(), 'icc_profile': b'\0' * 3000}),
    ('PNG', {})], ids=['baseline', 'progressive', 'with-app-segments', 'png'])
def test_the_header_gives_the_image_size(image_format, options):
    components = 3 if image_format == 'JPEG' else None  # a JPEG's frame says how many; a PNG's header has none
    assert image_header(encoded(image_format, 30, 50, **options)) == (30, 50, 1, components)


@pytest.mark.parametrize('orientation', range(1, 9))
@pytest.mark.parametrize('byte_order', ['<', '>'], ids=['little-endian', 'big-endian'])
def test_the_header_gives_the_exif_orientation(orientation, byte_order):
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    exif.endian = byte_order
    header = image_header(encoded('JPEG', 30, 50, exif=exif))
    assert header == (30, 50, orientation, 3)
    assert header.upright_shape == ((50, 30) if orientation >= 5 else (30, 50))


@pytest.mark.parametrize('data, problem', [
    (b'GIF89a....', 'not a JPEG or PNG file'),
    (b'', 'not a JPEG or PNG file'),
    (encoded('JPEG')[:40], 'ends .* before its frame header'),
    (b'\xff\xd8\xff\xda\x00\x02', 'before any frame header'),
    (b'\xff\xd8\x00\x00\x00\x00', 'no marker at byte 2'),
], ids=['gif', 'empty', 'cut-short', 'scan-first', 'no-marker'])
def test_a_file_that_is_not_a_readable_image_says_why(data, problem):
    with pytest.raises(ValueError, match=problem):
        image_header(data)


def test_load_and_pack_give_the_bytes_the_label_and_the_map(tmp_path):
    path = tmp_path / 'a.JPEG'
    path.write_bytes(encoded('JPEG'))
    topk = torch.zeros(2, 5, 3, 3, dtype=torch.float16)
    results = LoadImageBytes()({'img_path': str(path), 'gt_label': 3, 'token_label_topk': topk})
    assert results['ori_shape'] == (30, 50)
    packed = PackImageBytes()(results)
    assert packed['inputs'].dtype == torch.uint8 and packed['inputs'].numpy().tobytes() == path.read_bytes()
    sample = packed['data_samples']
    assert sample.gt_label.item() == 3 and torch.equal(sample.token_label_topk, topk)
    assert sample.img_path == str(path) and sample.ori_shape == (30, 50) and 'token_label_box' not in sample
    assert sample.exif_orientation == 1


@pytest.fixture
def small_imagenet(tmp_path):
    init_default_scope('mmseg')  # as in every config: lvseg registers in mmseg's registries
    write_imagenet_layout(tmp_path, num_classes=4, per_class_train=1, per_class_val=1, image_size=(32, 32), seed=0)
    write_label_maps_from_masks(tmp_path / 'masks/train', tmp_path / 'label_maps/train', num_classes=4, grid=(2, 2),
                                k=2)
    return tmp_path


def test_a_file_that_is_not_an_image_goes_through_the_bad_sample_policy(small_imagenet):
    dataset = dict(type='ImageNetTokenLabelDataset', data_root=str(small_imagenet), label_map_root='label_maps/train',
                   pipeline=DEVICE_PIPELINE)
    images = sorted((small_imagenet / 'train').glob('*/*.JPEG'))
    images[1].write_bytes(b'<html>404</html>')
    with pytest.raises(BadSampleError, match=f'image {images[1]}.*LoadImageBytes failed.*not a JPEG or PNG'):
        CheckedDataset(dataset)[1]
    skipping = CheckedDataset(dataset, policy='skip')
    sample = skipping[1]
    assert sample['data_samples'].img_path == str(images[2])
    assert sample['inputs'].numpy().tobytes() == images[2].read_bytes()
    assert sample['data_samples'].token_label_topk.shape[-2:] == (2, 2)
