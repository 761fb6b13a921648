"""GPU configs on a machine without CUDA: the runner adapts the config, and says so."""
import pytest
import torch
from mmengine.config import Config

from lvseg.engine.device_fallbacks import adapt_config_to_cpu, init_cpu_process_group

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason='the fallbacks only act without CUDA')


def headline_config() -> Config:
    from lvseg_testing.tool_runner import REPO
    return Config.fromfile(REPO / 'configs/upernet_lvvit.py')


def test_amp_falls_back_to_fp32_and_syncbn_stays_for_single_process():
    cfg = headline_config()
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.model.decode_head.norm_cfg.type == 'SyncBN'
    changes = adapt_config_to_cpu(cfg, distributed=False)
    assert cfg.optim_wrapper.type == 'OptimWrapper' and 'loss_scale' not in cfg.optim_wrapper
    assert cfg.model.decode_head.norm_cfg.type == 'SyncBN'  # the Runner reverts it when not distributed
    assert len(changes) == 1


def test_distributed_cpu_run_gets_bn_gloo_and_cpu_ddp():
    cfg = headline_config()
    adapt_config_to_cpu(cfg, distributed=True)
    norm_types = {cfg.model.decode_head.norm_cfg.type, cfg.model.auxiliary_head.norm_cfg.type,
                  cfg.model.backbone.pyramid_norm_cfg.type}
    assert norm_types == {'BN'}
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.device_ids is None


def test_pytorch_launcher_without_torchrun_variables_is_a_clear_error(monkeypatch):
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(RuntimeError, match='torchrun --nproc_per_node'):
        init_cpu_process_group('pytorch')


def test_bf16_amp_becomes_fp16_with_loss_scaling_on_a_gpu_without_bf16(monkeypatch):
    from lvseg.engine.device_fallbacks import adapt_amp_to_gpu

    cfg = headline_config()
    assert cfg.optim_wrapper.dtype == 'bfloat16' and cfg.optim_wrapper.loss_scale == {'enabled': False}
    assert adapt_amp_to_gpu(cfg) == []  # no GPU: adapt_config_to_cpu's business
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'get_device_name', lambda *args: 'Tesla V100-SXM2-32GB')
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda *args, **kwargs: True)
    assert adapt_amp_to_gpu(cfg) == [] and cfg.optim_wrapper.dtype == 'bfloat16'
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda *args, **kwargs: False)
    assert adapt_amp_to_gpu(cfg) == ['Tesla V100-SXM2-32GB has no bfloat16: AMP in float16 with dynamic loss scaling']
    assert cfg.optim_wrapper.dtype == 'float16' and cfg.optim_wrapper.loss_scale == 'dynamic'


def training_configs() -> list:
    """Every shipped config that trains: the ADE20K ones, the pretraining ones and the demo's."""
    from lvseg_testing.tool_runner import REPO
    paths = [*(REPO / 'configs').glob('*.py'), *(REPO / 'configs/pretrain').glob('*.py'),
             *(REPO / 'configs/demo').glob('*.py')]
    return sorted(path for path in paths if 'train_cfg' in Config.fromfile(path))


@pytest.mark.parametrize('path', training_configs(), ids=lambda p: p.name)
def test_every_training_config_autocasts_to_bf16_without_loss_scaling_on_a_bf16_gpu(path, monkeypatch):
    from lvseg.engine.device_fallbacks import adapt_amp_to_gpu

    cfg = Config.fromfile(path)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda including_emulation=True: True)
    assert adapt_amp_to_gpu(cfg) == []
    optim_wrapper = cfg.optim_wrapper
    assert (optim_wrapper.type, optim_wrapper.dtype) == ('AmpOptimWrapper', 'bfloat16')
    assert optim_wrapper.loss_scale == {'enabled': False}


def test_a_gpu_that_only_emulates_bf16_gets_fp16(monkeypatch):
    """torch.cuda.is_bf16_supported() says yes on a V100 or T4 unless asked without emulation."""
    from lvseg.engine.device_fallbacks import adapt_amp_to_gpu, gpu_has_native_bf16

    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'get_device_name', lambda *args: 'Tesla T4')
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda including_emulation=True: including_emulation)
    assert not gpu_has_native_bf16()
    cfg = headline_config()
    assert adapt_amp_to_gpu(cfg) == ['Tesla T4 has no bfloat16: AMP in float16 with dynamic loss scaling']
    assert cfg.optim_wrapper.dtype == 'float16' and cfg.optim_wrapper.loss_scale == 'dynamic'


def test_amp_flag_scales_the_loss_for_float16_only():
    from lvseg.engine.launch import use_amp

    cfg = headline_config()  # AmpOptimWrapper in bfloat16, loss scaling off
    use_amp(cfg)
    assert cfg.optim_wrapper.dtype == 'bfloat16' and cfg.optim_wrapper.loss_scale == {'enabled': False}
    for dtype in (None, 'float16'):
        cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))))
        if dtype:
            cfg.optim_wrapper.dtype = dtype
        use_amp(cfg)
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
