"""Decoding on the training device: which path each image takes (nvjpeg for the batch, nvjpeg per image, the CPU
decoder), CMYK and non-JPEG files sent to the CPU decoder before nvjpeg sees them, the one-time warnings, and the
per-epoch report of ``DecodeStatsHook``.

Without a GPU, nvjpeg is simulated: ``NVJPEG_DEVICES`` names the CPU and ``decode_jpeg`` is replaced in the module by
:class:`FakeNvjpeg`, whose calls with ``device=`` stand for nvjpeg's. It decodes as the CPU decoder does, except that
it fails where told to and gives a CMYK JPEG's colours inverted.
"""
import io
import logging
from collections import Counter
from types import SimpleNamespace

import pytest
import torch
from lvseg_testing.photos import photo
from lvseg_testing.tool_runner import PRETRAIN_DEMO_CONFIG
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.structures import BaseDataElement
from mmseg.registry import HOOKS
from PIL import Image
from torchvision.io import ImageReadMode, decode_image, decode_jpeg

import lvseg  # noqa: F401  (registers the hooks)
from lvseg.datasets import device_decode
from lvseg.datasets.device_decode import (
    CPU_AFTER_NVJPEG,
    CPU_CMYK,
    CPU_NOT_JPEG,
    NVJPEG_ALONE,
    NVJPEG_BATCH,
    ON_CPU,
    UNDECODABLE,
    DecodeStats,
    decode_images,
    jpeg_components,
)
from lvseg.engine.augment_on import apply_augment_on
from lvseg.engine.hooks import CPU_DECODE_SHARE, DecodeStatsHook
from lvseg.models.classifiers.data_preprocessor import TokenLabelingDataPreprocessor

pytestmark = pytest.mark.filterwarnings('ignore:The image decoding and encoding capabilities of TorchVision')
SOF0, SOF2 = b'\xff\xc0', b'\xff\xc2'
# A frame header of a 3-component 16x16 image (ITU-T T.81, B.2.2), to hide inside other segments as a decoy.
DECOY_FRAME = SOF0 + b'\x00\x11\x08\x00\x10\x00\x10\x03'


def encode(mode: str, seed: int = 0, image_format: str = 'JPEG', **options) -> bytes:
    """A small photo-like image converted to ``mode`` (``L``, ``RGB``, ``CMYK``), encoded by PIL."""
    buffer = io.BytesIO()
    Image.fromarray(photo(24, 32, seed=seed)).convert(mode).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def as_tensor(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def segment(marker: int, payload: bytes) -> bytes:
    """A JPEG marker segment: marker, length (2 bytes, counting itself), payload."""
    return bytes([0xFF, marker]) + (2 + len(payload)).to_bytes(2, 'big') + payload


@pytest.mark.parametrize('mode, options, components', [
    ('L', {}, 1),
    ('RGB', {}, 3),
    ('CMYK', {}, 4),
    ('RGB', {'progressive': True}, 3),
    ('CMYK', {'progressive': True}, 4),
], ids=['gray', 'rgb', 'cmyk', 'progressive-rgb', 'progressive-cmyk'])
def test_jpeg_components_reads_the_count_from_the_frame_header(mode, options, components):
    data = encode(mode, **options)
    assert (SOF2 if options else SOF0) in data  # the progressive files do have an SOF2 frame
    assert jpeg_components(data) == components
    assert jpeg_components(as_tensor(data)) == components  # the file bytes as the device path holds them


def test_segments_before_the_frame_are_stepped_over_not_searched():
    """EXIF (APP1), an ICC profile (APP2) and a comment before the frame of a 1-component JPEG, the comment and
    another APP1 hiding a 3-component frame header: only the real frame counts."""
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation
    data = encode('L', exif=exif, icc_profile=b'\x00' * 300)
    assert data.index(b'Exif\x00\x00') < data.index(SOF0)
    spliced = data[:2] + segment(0xFE, b'note ' + DECOY_FRAME) + segment(0xE1, DECOY_FRAME) + data[2:]
    assert spliced.index(DECOY_FRAME) < spliced.index(SOF0 + b'\x00\x0b')  # the decoy comes first
    assert jpeg_components(spliced) == 1
    fill_bytes = spliced.replace(SOF0 + b'\x00\x0b', b'\xff\xff' + SOF0 + b'\x00\x0b')  # 0xFF padding, T.81 B.1.1.2
    assert jpeg_components(fill_bytes) == 1


def test_anything_but_a_jpeg_with_a_whole_frame_header_gives_none():
    data = encode('RGB')
    frame = data.index(SOF0)
    for not_jpeg in (encode('RGB', image_format='PNG'), b'', b'\xff\xd8', b'<html>not found</html>',
                     data[:frame], data[:frame + 9]):  # cut before the frame, and inside it (before Nc)
        assert jpeg_components(not_jpeg) is None
    assert jpeg_components(data[:frame + 10]) == 3  # Nc is the 10th byte of the frame header


class FakeNvjpeg:
    """``torchvision.io.decode_jpeg`` with the calls that pass ``device`` standing for nvjpeg's; see the module.

    Args:
        batch_fails: the call with a list of images raises.
        fails: file bytes that nvjpeg cannot decode, alone or in a batch.
    """

    def __init__(self, batch_fails: bool = False, fails: tuple[bytes, ...] = ()) -> None:
        self.batch_fails, self.fails = batch_fails, set(fails)
        self.batches: list[list[bytes]] = []  # the files of each batched call
        self.alone: list[bytes] = []  # the files of the calls with one image

    def __call__(self, data, mode=ImageReadMode.UNCHANGED, device=None):
        if device is None:  # the CPU decoder
            return decode_jpeg(data, mode=mode)
        if isinstance(data, list):
            files = [bytes(item.numpy()) for item in data]
            self.batches.append(files)
            if self.batch_fails or self.fails.intersection(files):
                raise RuntimeError('nvjpeg: simulated failure of the batch')
            return [self.nvjpeg(item, mode) for item in data]
        self.alone.append(bytes(data.numpy()))
        if bytes(data.numpy()) in self.fails:
            raise RuntimeError('nvjpeg: simulated failure of one image')
        return self.nvjpeg(data, mode)

    @staticmethod
    def nvjpeg(data: torch.Tensor, mode: ImageReadMode) -> torch.Tensor:
        image = decode_jpeg(data, mode=mode)
        cmyk = Image.open(io.BytesIO(bytes(data.numpy()))).mode == 'CMYK'
        return 255 - image if cmyk else image  # CMYK: the colours inverted (Adobe's inverted CMYK misread)


@pytest.fixture
def warnings_logged(monkeypatch):
    """The messages that ``print_log`` logs as warnings during the test, in a process that has logged none yet."""
    monkeypatch.setattr(device_decode, '_warned_paths', set())
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield lambda: [record.getMessage() for record in records if record.levelno == logging.WARNING]
    logger.removeHandler(handler)


@pytest.fixture
def simulated_gpu(monkeypatch):
    """Make ``decode_images(..., 'cpu')`` take the CUDA paths with nvjpeg as the given :class:`FakeNvjpeg`."""
    def use(nvjpeg: FakeNvjpeg) -> FakeNvjpeg:
        monkeypatch.setattr(device_decode, 'NVJPEG_DEVICES', ('cpu',))
        monkeypatch.setattr(device_decode, 'decode_jpeg', nvjpeg)
        return nvjpeg
    return use


def cpu_decoded(files: list[bytes]) -> list[torch.Tensor]:
    """Each file as torchvision's CPU decoders give it in RGB (libjpeg-turbo turns CMYK into RGB)."""
    return [decode_image(as_tensor(data), mode=ImageReadMode.RGB) for data in files]


def test_cmyk_and_png_files_go_to_the_cpu_decoder_and_never_reach_nvjpeg(simulated_gpu, warnings_logged):
    files = [encode('RGB', 0), encode('CMYK', 1), encode('L', 2), encode('RGB', 3, 'PNG'),
             encode('CMYK', 4, progressive=True), encode('RGB', 5)]
    nvjpeg, stats = simulated_gpu(FakeNvjpeg()), DecodeStats()
    images, problems = decode_images([as_tensor(data) for data in files], 'cpu', stats=stats)
    assert nvjpeg.batches == [[files[0], files[2], files[5]]] and nvjpeg.alone == []
    assert stats.batch == Counter({NVJPEG_BATCH: 3, CPU_CMYK: 2, CPU_NOT_JPEG: 1}) and problems == {}
    assert all(torch.equal(image, expected) for image, expected in zip(images, cpu_decoded(files)))
    assert not torch.equal(FakeNvjpeg.nvjpeg(as_tensor(files[1]), ImageReadMode.RGB), images[1])  # the decoy works
    assert warnings_logged() == []  # by design, not a failure


def test_cmyk_is_decoded_to_its_rgb_colour():
    buffer = io.BytesIO()
    Image.new('CMYK', (16, 8), (0, 255, 255, 0)).save(buffer, format='JPEG', quality=95)  # magenta + yellow: red
    (image,), _ = decode_images([as_tensor(buffer.getvalue())], 'cpu')
    assert image[:, 0, 0].tolist() == [255, 0, 0]


def test_a_failed_batch_is_decoded_image_by_image_then_on_the_cpu_warning_once(simulated_gpu, warnings_logged):
    files = [encode('RGB', seed) for seed in range(4)] + [encode('CMYK', 4)]
    nvjpeg, stats = simulated_gpu(FakeNvjpeg(batch_fails=True, fails=(files[2],))), DecodeStats()
    encoded = [as_tensor(data) for data in files]
    images, problems = decode_images(encoded, 'cpu', stats=stats)
    assert nvjpeg.batches == [files[:4]] and nvjpeg.alone == files[:4]  # the CMYK file in neither
    assert stats.batch == Counter({NVJPEG_ALONE: 3, CPU_AFTER_NVJPEG: 1, CPU_CMYK: 1}) and problems == {}
    assert all(torch.equal(image, expected) for image, expected in zip(images, cpu_decoded(files)))
    first = warnings_logged()
    assert len(first) == 2
    assert first[0].startswith('nvjpeg could not decode a batch of 4 images together (nvjpeg: simulated failure of '
                               'the batch); decoding them one at a time on cpu')
    assert first[1].startswith('nvjpeg could not decode 1 of 4 images (nvjpeg: simulated failure of one image); '
                               'decoding them on the CPU, in the training process')
    decode_images(encoded, 'cpu', stats=stats)  # the same fallbacks again: counted, not logged again
    assert warnings_logged() == first
    assert stats.total == Counter({NVJPEG_ALONE: 6, CPU_AFTER_NVJPEG: 2, CPU_CMYK: 2})


def test_one_bad_image_in_a_batch_costs_the_batched_call_only(simulated_gpu, warnings_logged):
    """A batch that nvjpeg fails on because of one image: the others are still decoded by nvjpeg, alone."""
    files = [encode('RGB', seed) for seed in range(3)]
    nvjpeg, stats = simulated_gpu(FakeNvjpeg(fails=(files[1],))), DecodeStats()
    images, _ = decode_images([as_tensor(data) for data in files], 'cpu', stats=stats)
    assert len(nvjpeg.batches) == 1 and nvjpeg.alone == files
    assert stats.batch == Counter({NVJPEG_ALONE: 2, CPU_AFTER_NVJPEG: 1})
    assert all(torch.equal(image, expected) for image, expected in zip(images, cpu_decoded(files)))


@pytest.mark.parametrize('gpu', [False, True], ids=['cpu', 'simulated-gpu'])
def test_undecodable_images_are_counted_apart(gpu, simulated_gpu, warnings_logged):
    files = [encode('RGB', 0), b'\xff\xd8\xff garbage', encode('CMYK', 1)]
    nvjpeg = simulated_gpu(FakeNvjpeg()) if gpu else None
    stats = DecodeStats()
    images, problems = decode_images([as_tensor(data) for data in files], 'cpu', stats=stats)
    assert list(problems) == [1] and images[1] is None
    expected = Counter({NVJPEG_BATCH: 1, CPU_CMYK: 1, UNDECODABLE: 1}) if gpu else Counter({ON_CPU: 2,
                                                                                           UNDECODABLE: 1})
    assert stats.batch == expected
    if nvjpeg is not None:
        assert nvjpeg.batches == [[files[0]]]  # no JPEG frame: not for nvjpeg
    assert warnings_logged() == []


def encoded_batch(count: int) -> dict:
    return {'inputs': [as_tensor(encode('RGB', seed)) for seed in range(count)],
            'data_samples': [BaseDataElement(metainfo={'img_path': f'{index}.JPEG'}, gt_label=torch.tensor(index))
                             for index in range(count)]}


def device_preprocessor() -> TokenLabelingDataPreprocessor:
    return TokenLabelingDataPreprocessor(device_augment=dict(size=16, rand_augment=None), random_erasing_prob=0.0)


class Classifier(torch.nn.Module):
    """What the hook reads of a model: its ``data_preprocessor``."""

    def __init__(self, data_preprocessor) -> None:
        super().__init__()
        self.data_preprocessor = data_preprocessor


def hook_runner(model: torch.nn.Module) -> SimpleNamespace:
    """A runner as the hook sees it; ``logged`` collects ``(level, message)``."""
    logged: list[tuple[str, str]] = []
    logger = SimpleNamespace(info=lambda message: logged.append(('info', message)),
                             warning=lambda message: logged.append(('warning', message)))
    return SimpleNamespace(model=model, logger=logger, logged=logged, epoch=0, iter=0)


def run_iterations(hook: DecodeStatsHook, runner: SimpleNamespace, stats: DecodeStats, batches) -> None:
    """Training iterations whose data preprocessor decoded ``batches`` (each a list of decoding paths)."""
    for paths in batches:
        stats.add_batch(paths)
        hook.after_train_iter(runner, runner.iter)
        runner.iter += 1


def test_the_hook_reports_each_epochs_counts_through_a_wrapped_model():
    preprocessor = device_preprocessor()
    runner = hook_runner(torch.nn.DataParallel(Classifier(preprocessor)))  # unwrapped as DDP would be
    hook = DecodeStatsHook()
    for _ in range(2):  # the preprocessor fills the counts
        preprocessor(encoded_batch(3), training=True)
        hook.after_train_iter(runner, runner.iter)
        runner.iter += 1
    hook.after_train_epoch(runner)
    assert runner.logged == [('info', 'epoch 1: images decoded by path: cpu 6')]
    runner.epoch = 1
    run_iterations(hook, runner, preprocessor.decode_stats, [[NVJPEG_BATCH] * 3 + [CPU_CMYK]])
    hook.after_train_epoch(runner)  # the next epoch starts from zero
    assert runner.logged[1:] == [('info', 'epoch 2: images decoded by path: nvjpeg batch 3, cpu (CMYK) 1')]


def test_the_hook_warns_of_a_batch_decoded_mostly_on_the_cpu_once_per_epoch():
    assert CPU_DECODE_SHARE == 0.25
    stats = DecodeStats()
    runner, hook = hook_runner(Classifier(SimpleNamespace(decode_stats=stats))), DecodeStatsHook()
    run_iterations(hook, runner, stats, [
        [NVJPEG_BATCH] * 3 + [CPU_NOT_JPEG],  # 25%: not more than the threshold
        [ON_CPU] * 4,  # training on the CPU: no fallback
        [NVJPEG_BATCH] * 2 + [CPU_AFTER_NVJPEG, CPU_CMYK],  # 50%: warned
        [CPU_AFTER_NVJPEG] * 3 + [NVJPEG_ALONE],  # 75%: counted, not warned again
    ])
    hook.after_train_epoch(runner)
    assert runner.logged == [
        ('warning', 'iteration 3: 50% of the batch was decoded on the CPU (nvjpeg batch 2, cpu (nvjpeg failed) 1, cpu '
                    '(CMYK) 1), more than 25%: the GPU waits for the training process to decode them (further such '
                    'batches of this epoch are counted at its end)'),
        ('info', 'epoch 1: images decoded by path: nvjpeg batch 5, nvjpeg per image 1, cpu (nvjpeg failed) 4, '
                 'cpu (CMYK) 1, cpu (not JPEG) 1, cpu 4; batches decoded more than 25% on the CPU: 2')]
    runner.epoch = 1
    run_iterations(hook, runner, stats, [[NVJPEG_BATCH, CPU_CMYK]])  # a new epoch warns again
    hook.after_train_epoch(runner)
    assert [level for level, _ in runner.logged[2:]] == ['warning', 'info']
    assert runner.logged[3][1] == ('epoch 2: images decoded by path: nvjpeg batch 1, cpu (CMYK) 1; batches decoded '
                                   'more than 25% on the CPU: 1')


def test_the_hook_leaves_models_without_decode_stats_alone():
    runner, hook = hook_runner(Classifier(torch.nn.Identity())), DecodeStatsHook()
    hook.after_train_iter(runner, 0)
    hook.after_train_epoch(runner)
    assert runner.logged == []


def test_augment_on_device_adds_the_hook_once():
    cfg = Config.fromfile(PRETRAIN_DEMO_CONFIG)
    cfg.augment_on = 'device'
    hooks_before = list(cfg.custom_hooks)
    changes = apply_augment_on(cfg)
    assert cfg.custom_hooks == [*hooks_before, dict(type='DecodeStatsHook')]
    assert any('DecodeStatsHook added' in change for change in changes)
    assert isinstance(HOOKS.build(cfg.custom_hooks[-1]), DecodeStatsHook)
    cfg = Config.fromfile(PRETRAIN_DEMO_CONFIG)
    cfg.augment_on, cfg.custom_hooks = 'device', [dict(type='DecodeStatsHook')]  # a config that asks for it
    changes = apply_augment_on(cfg)
    assert cfg.custom_hooks == [dict(type='DecodeStatsHook')]
    assert not any('DecodeStatsHook' in change for change in changes)
    cfg = Config.fromfile(PRETRAIN_DEMO_CONFIG)  # augment_on='cpu': nothing to count
    apply_augment_on(cfg)
    assert 'DecodeStatsHook' not in [hook['type'] for hook in cfg.custom_hooks]
