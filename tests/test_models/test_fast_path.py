"""The fast path: fused attention in every LV-ViT block in fp32, a loss path that reads nothing back from the device,
plain optimizer groups for ``compile=True`` (slow), and the attention benchmark's short run (slow). The other
benchmarks' short runs are checked on the dry run of ``make gpu-check`` (tests/test_tools/test_gpu_check.py).

The compiled runs use dynamo with its ``eager`` backend: the graph capture of ``train_step`` (where mmengine's
``ConfigDict`` groups break it), run without code generation (inductor's C++ build takes minutes on a CPU); the
backend is the only difference from ``compile=True``. Each is compared with the same run uncompiled, iteration by
iteration (every loss, logged without smoothing, from the runs' scalars.json), to a relative ``COMPILED_RTOL``:
the captured graph does not compute every float the way the eager ops do. Measured: the first iteration's losses
(before any update) equal to the bit, the second's at most 3.4e-7 apart relatively (1 to 2 float32 ulps), in both
runs; ``COMPILED_RTOL`` is about 6 times that. A compiled step that left the weights as they were (a learning rate
of 0, measured) moves the second losses by 0.8% to 3% (pretraining) and 0.6% to 3% (segmentation)."""
import copy
import itertools
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from lvseg_testing.run_records import train_records
from lvseg_testing.tiny_classifier import ARCH, classifier, loader_batch
from lvseg_testing.tool_runner import DEMO_CONFIG, REPO, demo_overrides, run_tool
from torch.utils._python_dispatch import TorchDispatchMode

import lvseg  # noqa: F401  (registers the modules)
from lvseg.models import LVViT
from lvseg.models.backbones.attention import MultiHeadAttention
from lvseg.models.classifiers import token_labeling
from lvseg.models.classifiers.mix_token import TokenBox

# Ops that make the host wait for the device on CUDA: reading a value back (``.item()``, ``bool(t)``,
# ``if t:``, ``float(t)`` all end in ``_local_scalar_dense``) or producing a data-dependent shape.
HOST_READS = {torch.ops.aten._local_scalar_dense.default, torch.ops.aten.nonzero.default,
              torch.ops.aten.masked_select.default, torch.ops.aten.equal.default}


class RecordHostReads(TorchDispatchMode):
    """Records the name of every op in ``HOST_READS`` dispatched while active."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in HOST_READS:
            self.reads.append(str(func))
        return func(*args, **(kwargs or {}))


class CountSDPA:
    """Stands in for ``F.scaled_dot_product_attention`` and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.sdpa = F.scaled_dot_product_attention

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.sdpa(*args, **kwargs)


def tiny_lvvit() -> LVViT:
    torch.manual_seed(0)
    model = LVViT(arch=ARCH, img_size=64, pyramid='none', out_indices=(0, 1, 2), final_norm=True)
    model.init_weights()
    return model.eval()


def test_every_lvvit_block_attends_through_scaled_dot_product_attention_in_float32(monkeypatch):
    model = tiny_lvvit()
    sdpa = CountSDPA()
    monkeypatch.setattr(F, 'scaled_dot_product_attention', sdpa)
    model(torch.randn(2, 3, 64, 64))
    assert [m.kernel for m in model.modules() if isinstance(m, MultiHeadAttention)] == ['auto'] * ARCH['num_layers']
    assert sdpa.calls == ARCH['num_layers']


def test_explicit_attention_is_the_same_model(monkeypatch):
    """The benchmarks' naive baseline: the same weights with the official explicit ``softmax(q k^T / sqrt(d)) v``."""
    model = tiny_lvvit()
    naive = copy.deepcopy(model)
    for module in naive.modules():
        if isinstance(module, MultiHeadAttention):
            module.kernel = 'explicit'
    images = torch.randn(2, 3, 64, 64)
    sdpa = CountSDPA()
    monkeypatch.setattr(F, 'scaled_dot_product_attention', sdpa)
    fused_outs, naive_outs = model(images), naive(images)
    assert sdpa.calls == ARCH['num_layers']  # all from the fused model
    for fused, unfused in zip(fused_outs, naive_outs, strict=True):
        torch.testing.assert_close(unfused, fused, rtol=1e-4, atol=1e-5)


def test_the_stem_runs_channels_last_and_hands_contiguous_tokens_equal_to_the_default_layout():
    model = tiny_lvvit()
    stem = model.patch_embed
    nchw = copy.deepcopy(stem)
    nchw.channels_last = False
    seen = []
    stem.conv1.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    images = torch.randn(2, 3, 50, 70)  # padded to 64 x 80
    tokens, grid = stem(images)
    assert stem.channels_last and seen[0].is_contiguous(memory_format=torch.channels_last)
    assert not seen[0].is_contiguous()
    assert tokens.is_contiguous() and grid == (4, 5)
    reference, _ = nchw(images)
    torch.testing.assert_close(tokens, reference, rtol=1e-4, atol=1e-5)
    assert not LVViT(arch=ARCH, img_size=64, pyramid='none', stem_channels_last=False).patch_embed.channels_last


@pytest.mark.parametrize('class_target,with_map', [('annotator', True), ('ground_truth', True), ('both', True),
                                                   ('annotator', False)])
def test_loss_path_reads_nothing_back_from_the_device(monkeypatch, class_target, with_map):
    """Pre-processing (random erasing included), MixToken, targets, both losses and backward, as in training.

    The MixToken box is drawn on the host by design (a CPU random number, no device involved); it is drawn
    here before recording so that everything the step does on the device is checked."""
    model = classifier(class_target)
    monkeypatch.setattr(token_labeling, 'sample_token_box', lambda grid: TokenBox(1, 3, 0, 2))
    with RecordHostReads() as recorder:
        data = model.data_preprocessor(loader_batch(with_map), training=True)
        losses = model(**data, mode='loss')
        sum(losses.values()).backward()
    assert recorder.reads == []
    assert model.backbone.blocks[0].attn.qkv.weight.grad is not None


def test_the_recorder_sees_a_host_read():
    with RecordHostReads() as recorder:
        F.one_hot(torch.tensor([1, 2]), 4)  # checks the label range with .item() on the CPU
    assert recorder.reads


def test_lvseg_runner_builds_optimizers_with_plain_dict_groups_that_dynamo_can_step(tmp_path):
    """LvsegRunner.build_optim_wrapper: ``compile=True`` compiles the optimizer step too."""
    from lvseg.engine.runner import LvsegRunner

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    runner = LvsegRunner(model=model, work_dir=str(tmp_path), default_scope='mmseg')  # as lvseg's configs
    optim_wrapper = runner.build_optim_wrapper(dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
                                                    paramwise_cfg=dict(norm_decay_mult=0.0)))
    groups = optim_wrapper.optimizer.param_groups
    assert len(groups) == 4 and all(type(group) is dict for group in groups)
    assert [group['weight_decay'] for group in groups] == [0.05, 0.05, 0.0, 0.0]

    @torch.compile(backend='eager', fullgraph=False)
    def step(x):
        model(x).square().sum().backward()
        optim_wrapper.step()

    before = model[0].weight.detach().clone()
    step(torch.randn(3, 4))
    assert not torch.equal(model[0].weight, before)


def run_bench(script: str) -> str:
    result = subprocess.run([sys.executable, str(REPO / 'bench' / script), '--short'], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


NUMBER = r'[\d.]+'


@pytest.mark.slow
def test_attention_kernels_bench_prints_both_kernels_and_the_choice_per_case():
    out = run_bench('attention_kernels.py')
    assert re.search(r'^machine: .*, 1 thread\(s\), 2 repeats; load average before: ', out, re.M)
    for dtype, mode in itertools.product(('fp32', 'bf16'), ('training', 'inference')):
        line = re.search(rf'^demo LV-ViT, 128 px, batch 32 \[{dtype}, {mode}\]: fused {NUMBER} ms '
                         rf'\({NUMBER} - {NUMBER}\), explicit {NUMBER} ms .*; fused speed / explicit: median '
                         rf'{NUMBER} .*; auto takes (\w+)$', out, re.M)
        assert line, (dtype, mode)
        assert line.group(1) == ('fused' if dtype == 'fp32' else 'explicit')  # the rule, whatever was measured


COMPILE = 'compile.backend=eager'  # --cfg-options: compile = dict(backend='eager')
COMPILED_RTOL = 2e-6
# Every iteration logged as it is (mmengine averages over 10 by default), and the full learning rate from the first
# step (the demo's warm-up starts at 1e-3 of it), so that the second iteration's losses show the first update.
PER_ITERATION = ['log_processor.window_size=1', 'param_scheduler.0.start_factor=1.0']


def assert_compiled_equals_eager(tool: str, arguments: list[str], work_dir) -> None:
    """Run ``tool`` with ``arguments`` (ending in --cfg-options) as it is and compiled; the same losses per
    iteration within ``COMPILED_RTOL``."""
    eager = run_tool(tool, '--work-dir', str(work_dir / 'eager'), *arguments, *PER_ITERATION)
    compiled = run_tool(tool, '--work-dir', str(work_dir / 'compiled'), *arguments, *PER_ITERATION, COMPILE)
    assert 'Model has been "compiled"' in compiled.stdout + compiled.stderr
    assert 'Model has been "compiled"' not in eager.stdout + eager.stderr
    expected, got = train_records(work_dir / 'eager'), train_records(work_dir / 'compiled')
    assert [record['step'] for record in got] == [record['step'] for record in expected] == [1, 2]
    for before, after in zip(expected, got, strict=True):
        losses = sorted(key for key in before if 'loss' in key)
        assert sorted(key for key in after if 'loss' in key) == losses
        assert {key: after[key] for key in losses} == pytest.approx({key: before[key] for key in losses},
                                                                     rel=COMPILED_RTOL, abs=0)


@pytest.mark.slow
def test_pretrain_runs_compiled(imagenet_root, tmp_path):
    """``compile`` (mmengine compiles ``train_step``) on the demo recipe, cut to one block."""
    loader = ['num_workers=0', 'persistent_workers=False', 'batch_size=4', f'dataset.data_root={imagenet_root}']
    assert_compiled_equals_eager(
        'pretrain.py', [str(REPO / 'configs/demo/lvvit-demo_tokenlabel_synthetic-128.py'), '--cfg-options',
                        *[f'{split}_dataloader.{opt}' for split in ('train', 'val', 'test') for opt in loader],
                        'train_dataloader.dataset.indices=8', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                        'default_hooks.logger.interval=1', 'model.backbone.arch.num_layers=1'], tmp_path)


@pytest.mark.slow
def test_segmentation_training_runs_compiled(ade_root, tmp_path):
    assert_compiled_equals_eager('train.py', [str(DEMO_CONFIG), *demo_overrides(ade_root, 2),
                                              'model.backbone.arch.num_layers=4',
                                              'model.backbone.out_indices=(0,1,2,3)'], tmp_path)
