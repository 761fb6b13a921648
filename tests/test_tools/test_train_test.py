"""End to end through tools/train.py and tools/test.py on generated ADE20K-layout data (slow)."""
import re

import pytest
import torch
from lvseg_testing.official_checkpoints import official_segmentor_state_dict, official_state_dict
from lvseg_testing.segmentation_metrics import metrics_of_written_predictions, printed_metrics
from lvseg_testing.tool_runner import DEMO_CONFIG, REPO, demo_overrides, run_tool

from lvseg.checkpoints.safe_load import load_checkpoint_file

pytestmark = pytest.mark.slow


def same(a, b) -> bool:
    """``a`` and ``b`` (tensors, numbers, nested dicts and lists of them) are equal, tensors to the bit."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return a == b


def test_train_test_and_resume(ade_root, tmp_path):
    work = tmp_path / 'work'
    trained = run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(work), *demo_overrides(ade_root, iters=6))
    assert (work / 'iter_3.pth').is_file() and (work / 'iter_6.pth').is_file()
    # the demo config opts out of pretrained weights on purpose: said once, as a warning
    assert (trained.stdout + trained.stderr).count('training the segmentor from random initialisation') == 1
    assert re.search(r'Iter\(val\).*mIoU: \d+\.\d+', trained.stdout + trained.stderr)

    # only the test data at hand: the pictures (mmseg's VisualizationHook reads runner.iter) need no training set;
    # a picture of each test image, though the config, as the ADE20K ones, draws every 50th batch without --show-dir
    sparse = tmp_path / 'every_50th.py'
    sparse.write_text(f"_base_ = ['{DEMO_CONFIG}']\ndefault_hooks = dict(visualization=dict(interval=50))\n")
    elsewhere = [f'{split}_dataloader.dataset.data_root={tmp_path / "absent"}' for split in ('train', 'val')]
    tested = run_tool('test.py', str(sparse), str(work / 'iter_6.pth'), '--work-dir', str(tmp_path / 'test'),
                      '--out', str(tmp_path / 'pred'), '--show-dir', str(tmp_path / 'pictures'),
                      *demo_overrides(ade_root), *elsewhere)
    assert len(list((tmp_path / 'pred').glob('*.png'))) == 2
    # the metrics printed are those of the label maps written, counted here from a confusion matrix
    by_hand = metrics_of_written_predictions(tmp_path / 'pred', ade_root / 'annotations/validation', num_classes=8)
    assert printed_metrics(tested.stdout + tested.stderr) == pytest.approx(by_hand, abs=0.005)
    assert by_hand['aAcc'] > 1  # a trained model's predictions, not a constant map
    pictures = tmp_path / 'pictures/vis_data/vis_image'
    assert f'--show-dir: 2 pictures, one per test image, go to {pictures}' in tested.stdout + tested.stderr
    assert len(list(pictures.glob('*.png'))) == 2

    augmented = run_tool('test.py', str(DEMO_CONFIG), str(work / 'iter_6.pth'), '--tta', '--work-dir',
                         str(tmp_path / 'tta'), *demo_overrides(ade_root))
    assert re.search(r'Iter\(test\).*mIoU: \d+\.\d+', augmented.stdout + augmented.stderr)

    # --resume from the run's iteration 3 into a work dir of its own (load_from names the file): at iteration 6
    # the weights, BN statistics, AdamW state and schedule are the uninterrupted run's, to the bit. The saved
    # state a later run starts from; tests/test_engine/test_resume.py compares the losses and metrics logged
    # after a kill.
    resumed = run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(tmp_path / 'resumed'), '--resume',
                       *demo_overrides(ade_root, iters=6), f'load_from={work / "iter_3.pth"}')
    assert 'resumed epoch: 0, iter: 3' in resumed.stdout + resumed.stderr
    at_3, uninterrupted, continued = (load_checkpoint_file(path) for path in
                                      (work / 'iter_3.pth', work / 'iter_6.pth', tmp_path / 'resumed/iter_6.pth'))
    assert continued['meta']['iter'] == 6
    assert [key for key in uninterrupted['state_dict'] if not same(uninterrupted['state_dict'][key],
                                                                   continued['state_dict'][key])] == []
    assert same(uninterrupted['optimizer'], continued['optimizer'])
    assert same(uninterrupted['param_schedulers'], continued['param_schedulers'])
    assert not same(at_3['state_dict'], uninterrupted['state_dict'])  # iterations 4 to 6 changed the weights


def test_two_processes_with_torchrun_on_gloo(ade_root, tmp_path):
    work = tmp_path / 'ddp'
    result = run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(work), *demo_overrides(ade_root, iters=2),
                      nproc=2)
    log = result.stdout + result.stderr
    # mmengine reports the world size as 'GPU number', GPUs or not
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert load_checkpoint_file(work / 'iter_2.pth')['meta']['iter'] == 2  # rank 0's, whole (not rank 1's empty file)


def test_full_size_headline_config_trains_an_iteration_and_slide_tests(ade_root, tmp_path):
    """configs/upernet_lvvit.py as published (LV-ViT-S, UperNet, 512x512, slide 512/341), one iteration, from a
    file in the official LV-ViT-S layout (224, 1000 classes, two heads) as the pretrained weights."""
    official = tmp_path / 'lvvit_s-26M-224-83.3.pth.tar'
    weights = official_state_dict(embed_dims=384, depth=16, stem=64, num_classes=1000)
    torch.save({'state_dict_ema': weights}, official)
    trunk = [key for key in weights if not key.startswith(('head.', 'aux_head.', 'norm.'))]  # heads, final norm dropped
    loader = ['num_workers=0', 'persistent_workers=False', f'dataset.data_root={ade_root}']
    options = [f'{split}_dataloader.{opt}' for split in ('train', 'val', 'test') for opt in loader]
    options += ['train_cfg.max_iters=1', 'train_cfg.val_interval=1', f'model.pretrained={official}',
                'default_hooks.checkpoint.interval=1', 'val_dataloader.dataset.indices=1']
    trained = run_tool('train.py', str(REPO / 'configs/upernet_lvvit.py'), '--work-dir', str(tmp_path),
                       '--cfg-options', *options)
    log = trained.stdout + trained.stderr
    assert f'LVViT: loaded {len(trunk)} tensors from {official}' in log and 'from random initialisation' not in log
    checkpoint = load_checkpoint_file(tmp_path / 'iter_1.pth')
    assert checkpoint['state_dict']['backbone.pos_embed'].shape == (1, 1 + 32 * 32, 384)
    assert checkpoint['state_dict']['decode_head.conv_seg.weight'].shape[0] == 150


def headline_flops_by_hand() -> int:
    """FLOPs of configs/upernet_lvvit.py's model on one 512x512 image, counted from its architecture in the
    conventions of mmengine's ``FlopAnalyzer`` (fvcore's): a multiply-add is 1; a convolution counts its kernel at
    every output pixel, a transposed one at every input pixel; eval-mode BN 2 per element, LayerNorm 5, a bilinear
    resize 4 per output element, adaptive average pooling 1 per input element; biases, activations, additions and
    softmax nothing. ``EncoderDecoder``'s tensor mode runs the backbone and the decode head, not the auxiliary
    head."""
    width, depth, tokens, stem, pyramid, channels, classes = 384, 16, 1 + 32 * 32, 64, 2048, 256, 150

    def conv(pixels: int, inputs: int, outputs: int, kernel: int = 1) -> int:
        return pixels * inputs * outputs * kernel * kernel

    # stem: 7x7 stride 2 and two 3x3 at 256x256, the 8x8 stride-8 projection to the 32x32 token grid
    stem_macs = conv(256 ** 2, 3, stem, 7) + 2 * conv(256 ** 2, stem, stem, 3) + conv(32 ** 2, stem, width, 8)
    # per block: qkv, proj, fc1, fc2 (MLP ratio 3) over every token, q k^T and attention x v
    block_macs = tokens * width * (3 * width + width + 3 * width + 3 * width) + 2 * tokens ** 2 * width
    # side layers: deconv x4 + 1x1 (128x128), deconv x2 + 1x1 (64x64), 1x1 (32x32), 1x1 to 2048 (32x32)
    side_macs = (conv(32 ** 2, width, width, 4) + conv(128 ** 2, width, width) + conv(32 ** 2, width, width, 2)
                 + conv(64 ** 2, width, width) + conv(32 ** 2, width, width) + conv(32 ** 2, width, pyramid))
    # UperNet: PSP 1x1 on 1, 2, 3, 6 pooled grids, its 3x3 bottleneck; lateral 1x1 and FPN 3x3 at 128, 64, 32;
    # the 3x3 FPN bottleneck and the classifier at 128x128
    head_macs = (sum(conv(s * s, pyramid, channels) for s in (1, 2, 3, 6))
                 + conv(32 ** 2, pyramid + 4 * channels, channels, 3)
                 + sum(conv(s * s, width, channels) + conv(s * s, channels, channels, 3) for s in (128, 64, 32))
                 + conv(128 ** 2, 4 * channels, channels, 3) + conv(128 ** 2, channels, classes))
    batch_norm = (3 * 256 ** 2 * stem + 2 * 128 ** 2 * width + 2 * 64 ** 2 * width + 32 ** 2 * (width + pyramid)
                  + channels * (1 + 4 + 9 + 36 + 32 ** 2 + 2 * (128 ** 2 + 64 ** 2 + 32 ** 2) + 128 ** 2))
    layer_norm = 2 * depth * tokens * width
    # resizes: the 4 PSP maps to 32x32, the top-down path to 32, 64, 128, the 3 coarser FPN maps to 128x128
    resized = channels * (4 * 32 ** 2 + 32 ** 2 + 64 ** 2 + 128 ** 2 + 3 * 128 ** 2)
    pooled = 4 * 32 ** 2 * pyramid
    return (stem_macs + depth * block_macs + side_macs + head_macs + 2 * batch_norm + 5 * layer_norm + 4 * resized
            + pooled)


def test_flops_tool_counts_the_headline_model():
    result = run_tool('analysis/get_flops.py', str(REPO / 'configs/upernet_lvvit.py'), '--shape', '512', '512')
    flops = headline_flops_by_hand()
    # parameters: those of the official UperNet + LV-ViT-S file's tensors (BN statistics aside), 44.45M (published:
    # 44M, the official TokenLabeling README)
    with torch.device('meta'):
        official = official_segmentor_state_dict(embed_dims=384, depth=16, stem=64, grid=32, pyramid_channels=2048,
                                                 channels=256, aux_channels=256, num_classes=150)
    params = sum(value.numel() for key, value in official.items()
                 if not key.endswith(('running_mean', 'running_var', 'num_batches_tracked')))
    assert f'flops: {flops / 1e9:.2f} G ({flops:.4g})\nparams: {params / 1e6:.2f} M ({params})' in result.stdout, \
        (flops, params, result.stdout)
