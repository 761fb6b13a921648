"""bf16 autocast for training on the CPU: the config switch ``cpu_bf16``, the CPU check and real train steps."""
import re

import pytest
import torch
from lvseg_testing.tool_runner import DEMO_CONFIG, REPO, run_tool
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from lvseg.engine import device_fallbacks
from lvseg.engine.cpu_bf16 import CpuBf16OptimWrapper, cpu_has_native_bf16
from lvseg.engine.device_fallbacks import adapt_config_to_cpu

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU fallbacks only act without CUDA')
CONFIGS = [REPO / 'configs/upernet_lvvit.py', REPO / 'configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py']
PRETRAIN_DEMO_CONFIG = REPO / 'configs/demo/lvvit-demo_tokenlabel_synthetic-128.py'


def test_native_bf16_is_read_from_the_cpu_flags():
    assert cpu_has_native_bf16('processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n')
    assert cpu_has_native_bf16('flags\t\t: fpu avx512f amx_tile amx_bf16\n')
    assert cpu_has_native_bf16('Features\t: fp asimd bf16 i8mm\n')  # Arm
    assert not cpu_has_native_bf16('flags\t\t: fpu sse avx2 avx512f\n')
    assert not cpu_has_native_bf16('model name\t: bf16 in a name is no flag\n')


@pytest.mark.parametrize('path', CONFIGS, ids=lambda path: path.name)
def test_the_configs_train_in_fp32_on_the_cpu_by_default(path):
    cfg = Config.fromfile(path)
    assert cfg.cpu_bf16 is False and cfg.optim_wrapper.type == 'AmpOptimWrapper'
    changes = adapt_config_to_cpu(cfg, distributed=False)
    assert cfg.optim_wrapper.type == 'OptimWrapper' and not {'dtype', 'loss_scale'} & set(cfg.optim_wrapper)
    assert changes == ['[no GPU] AmpOptimWrapper -> OptimWrapper (fp32): mmengine allows AMP on GPUs only '
                       '(cpu_bf16=True: bf16 on CPUs that have it)']


@pytest.mark.parametrize('path', CONFIGS, ids=lambda path: path.name)
def test_cpu_bf16_switches_to_the_cpu_autocast_wrapper_where_the_cpu_has_bf16(monkeypatch, path):
    cfg = Config.fromfile(path)
    cfg.cpu_bf16 = True
    monkeypatch.setattr(device_fallbacks, 'cpu_has_native_bf16', lambda: True)
    changes = adapt_config_to_cpu(cfg, distributed=False)
    assert cfg.optim_wrapper.type == 'CpuBf16OptimWrapper' and not {'dtype', 'loss_scale'} & set(cfg.optim_wrapper)
    assert changes == ['[no GPU] AmpOptimWrapper -> CpuBf16OptimWrapper: bf16 autocast on the CPU (cpu_bf16=True)']


@pytest.mark.parametrize('native,dtype,reason', [(False, 'bfloat16', 'this CPU has no bf16 instructions'),
                                                 (True, 'float16', 'optim_wrapper.dtype is float16')])
def test_cpu_bf16_falls_back_to_fp32_and_says_why(monkeypatch, native, dtype, reason):
    cfg = Config.fromfile(CONFIGS[0])
    cfg.cpu_bf16 = True
    cfg.optim_wrapper.dtype = dtype
    monkeypatch.setattr(device_fallbacks, 'cpu_has_native_bf16', lambda: native)
    [change] = adapt_config_to_cpu(cfg, distributed=False)
    assert cfg.optim_wrapper.type == 'OptimWrapper' and reason in change


def test_the_wrapper_autocasts_to_bfloat16_only():
    with pytest.raises(ValueError, match="bfloat16 only, got dtype='float16'"):
        CpuBf16OptimWrapper(dtype='float16', optimizer=torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1))


def segmentation_data(batch: int, size: int, num_classes: int) -> dict:
    """What the data loader hands ``train_step``: uint8 images and data samples with label maps."""
    generator = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(batch):
        sample = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
        sample.gt_sem_seg = PixelData(data=torch.randint(num_classes, (1, size, size), generator=generator))
        samples.append(sample)
    images = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=generator) for _ in samples]
    return {'inputs': images, 'data_samples': samples}


def test_a_segmentation_train_step_runs_in_bf16_through_the_config_switch(monkeypatch):
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.cpu_bf16 = True
    monkeypatch.setattr(device_fallbacks, 'cpu_has_native_bf16', lambda: True)  # bf16 is emulated elsewhere
    adapt_config_to_cpu(cfg, distributed=False)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert isinstance(optim_wrapper, CpuBf16OptimWrapper)
    seen = []
    model.backbone.blocks[0].attn.qkv.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    weight = model.backbone.blocks[0].attn.qkv.weight
    before = weight.detach().clone()
    log_vars = model.train_step(segmentation_data(2, 128, cfg.num_classes), optim_wrapper)
    assert seen == [torch.bfloat16] and weight.dtype == torch.float32
    assert all(torch.isfinite(value) for value in log_vars.values()) and log_vars['decode.loss_ce'] > 0
    assert not torch.equal(weight, before)


@pytest.mark.slow
def test_pretraining_demo_runs_in_bf16_on_the_cpu(imagenet_root, tmp_path):
    """tools/pretrain.py with ``--cfg-options cpu_bf16=True``: bf16 where the CPU has it (the explicit attention
    kernel, by the rule), else fp32, with one line saying which."""
    loader = ['num_workers=0', 'persistent_workers=False', 'batch_size=4', f'dataset.data_root={imagenet_root}']
    result = run_tool('pretrain.py', str(PRETRAIN_DEMO_CONFIG), '--work-dir', str(tmp_path), '--cfg-options',
                      *[f'{split}_dataloader.{opt}' for split in ('train', 'val', 'test') for opt in loader],
                      'train_dataloader.dataset.indices=8', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                      'default_hooks.logger.interval=1', 'cpu_bf16=True')
    log = result.stdout + result.stderr
    assert re.search(r'Epoch\(train\) \[1\]\[2/2\].*loss_cls: [\d.]+\s+loss_token: [\d.]+', log)
    assert re.search(r'accuracy/top1: [\d.]+', log)
    if cpu_has_native_bf16():
        assert 'AmpOptimWrapper -> CpuBf16OptimWrapper' in log
        assert 'attention kernel for cpu bfloat16 training, up to 128 tokens: explicit (the CPU rule' in log
    else:
        assert 'AmpOptimWrapper -> OptimWrapper (fp32): cpu_bf16=True, but this CPU has no bf16' in log
