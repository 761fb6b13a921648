"""What only a GPU can show: AMP in bf16 and in fp16 with the loss scaler, SyncBN through the tools' process group
and across two processes, the fused attention kernel, the annotator, the token-label targets and the device
augmentation on CUDA. Each test skips without CUDA; ``make gpu-check`` runs them (``pytest -m cuda``).

Each compares the GPU's numbers with a reference at a stated tolerance: the CPU's, float32's, or one process's.
The tolerances are what the arithmetic allows (bf16 keeps 8 bits of mantissa; nvjpeg and libjpeg-turbo use other
IDCTs and chroma upsampling), set before any GPU run: where a first run on a GPU fails one, the measured difference
goes into docs/regimes.md and the tolerance is argued again, not silently widened.
"""
import io

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from lvseg_testing.photos import photo
from lvseg_testing.timm_models import IMAGENET, save_timm_model
from lvseg_testing.tiny_classifier import ARCH, classifier, loader_batch
from lvseg_testing.tool_runner import DEMO_CONFIG, REPO, demo_overrides, run_tool
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from torch.profiler import ProfilerActivity, profile

from lvseg.annotator.dense import timm_annotator
from lvseg.annotator.run import Preprocessing, annotate
from lvseg.datasets.device_augment import DeviceTokenLabelAugment
from lvseg.datasets.device_decode import decode_images
from lvseg.datasets.label_store import LabelStore
from lvseg.datasets.sample_seed import seed_all
from lvseg.demo.synthetic import write_imagenet_layout
from lvseg.models import LVViT
from lvseg.models.classifiers.token_labels import dense_token_targets, one_hot_labels

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device (make gpu-check)')]
PRETRAIN_CONFIG = REPO / 'configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py'


def amp_training(dtype: str, loss_scale) -> tuple[torch.nn.Module, object, list[torch.dtype]]:
    """The tiny token-labeling classifier on the GPU, the pretraining config's optimizer wrapper with ``dtype``
    and ``loss_scale``, and a list that collects the dtype of the first block's MLP output at every forward."""
    model = classifier('annotator').cuda()
    init_default_scope('mmseg')
    optim_cfg = Config.fromfile(PRETRAIN_CONFIG).optim_wrapper
    optim_cfg.update(dtype=dtype, loss_scale=loss_scale)
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
    seen: list[torch.dtype] = []
    model.backbone.blocks[0].mlp.fc1.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    return model, optim_wrapper, seen


def test_bf16_amp_steps_without_a_loss_scaler_as_the_configs_ask():
    model, optim_wrapper, seen = amp_training('bfloat16', dict(enabled=False))
    weight = model.backbone.blocks[0].attn.qkv.weight
    before = weight.detach().clone()
    for _ in range(3):
        log = model.train_step(loader_batch(with_map=True), optim_wrapper)
    assert seen == [torch.bfloat16] * 3
    assert not optim_wrapper.loss_scaler.is_enabled()
    assert all(torch.isfinite(value).all() for value in log.values())
    assert weight.dtype == torch.float32 and not torch.equal(weight, before)


def test_fp16_amp_scales_the_loss_and_skips_a_step_whose_gradients_overflow():
    model, optim_wrapper, seen = amp_training('float16', 'dynamic')
    for _ in range(2):
        log = model.train_step(loader_batch(with_map=True), optim_wrapper)
    assert seen == [torch.float16] * 2 and all(torch.isfinite(value).all() for value in log.values())
    scaler = optim_wrapper.loss_scaler
    assert scaler.is_enabled()
    scale = scaler.get_scale()
    weight = model.backbone.blocks[0].attn.qkv.weight
    before = weight.detach().clone()
    with optim_wrapper.optim_context(model):
        data = model.data_preprocessor(loader_batch(with_map=True), True)
        loss, _ = model.parse_losses(model(**data, mode='loss'))
    optim_wrapper.update_params(loss * float('inf'))  # inf gradients: the scaler must skip the step and back off
    assert torch.equal(weight, before)
    assert scaler.get_scale() == scale * scaler.get_backoff_factor()


@pytest.mark.slow
def test_syncbn_trains_on_one_gpu_through_the_tools_process_group(ade_root, tmp_path):
    """torchrun with one process: mmengine's launcher on NCCL, DDP, and SyncBN kept (not reverted to BN)."""
    work_dir = tmp_path / 'work'
    syncbn = [f'model.{m}.type=SyncBN' for m in ('decode_head.norm_cfg', 'auxiliary_head.norm_cfg',
                                                 'backbone.pyramid_norm_cfg')]
    run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(work_dir), *demo_overrides(ade_root, iters=2), *syncbn,
             nproc=1)
    dumped = Config.fromfile(work_dir / DEMO_CONFIG.name)
    assert {dumped.model.decode_head.norm_cfg.type, dumped.model.auxiliary_head.norm_cfg.type,
            dumped.model.backbone.pyramid_norm_cfg.type} == {'SyncBN'}
    assert dumped.env_cfg.dist_cfg.backend == 'nccl'
    assert 'Distributed training: True' in next(work_dir.glob('*/*.log')).read_text()
    assert (work_dir / 'iter_2.pth').is_file()


def test_lvvit_attention_takes_a_fused_kernel_in_bf16():
    """The ATen op that ``F.scaled_dot_product_attention`` dispatched to, forward and backward: flash, memory-
    efficient or cuDNN attention, never the math fallback (which is softmax(q k^T) v)."""
    torch.manual_seed(0)
    arch = dict(ARCH, embed_dims=128, num_heads=2)  # head width 64, as in LV-ViT-S
    model = LVViT(arch=arch, img_size=224, pyramid='none', out_indices=(2,), final_norm=True).cuda().train()
    images = torch.randn(4, 3, 224, 224, device='cuda')
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        with torch.autocast('cuda', dtype=torch.bfloat16):
            out = model(images)[0]
        out.float().square().mean().backward()
        torch.cuda.synchronize()
    ops = {event.key for event in prof.key_averages()}
    fused = {op for op in ops if op.startswith('aten::_scaled_dot_product_')
             and any(kernel in op for kernel in ('flash', 'efficient', 'cudnn'))}
    assert fused, sorted(op for op in ops if 'attention' in op)
    assert 'aten::_scaled_dot_product_attention_math' not in ops
    assert any('backward' in op for op in fused)


@pytest.fixture
def photos(tmp_path):
    """Synthetic ImageNet layout: 3 classes x 2 train images of 48x64."""
    write_imagenet_layout(tmp_path, num_classes=3, per_class_train=2, per_class_val=0, image_size=(48, 64), seed=0)
    return tmp_path / 'train'


def test_annotator_on_cuda_writes_the_maps_of_the_cpu(photos, tmp_path):
    save_timm_model('test_efficientnet', tmp_path / 'w.pth')
    annotator = timm_annotator('test_efficientnet', tmp_path / 'w.pth')
    options = dict(preprocessing=Preprocessing((64, 96), **IMAGENET), description='test_efficientnet', k=3,
                   batch_size=2, workers=0, log_progress=False)
    stores = {}
    for name, device, amp in (('cpu', 'cpu', None), ('cuda', 'cuda', None), ('cuda-bf16', 'cuda', torch.bfloat16)):
        result = annotate(annotator, photos, tmp_path / name, device=device, amp_dtype=amp, **options)
        assert result.left == 0
        store = LabelStore(tmp_path / name)
        stores[name] = torch.stack([store.get(row) for row in range(len(store))])  # (N, 2, k, h, w) float16
    cpu, cuda, bf16 = stores['cpu'], stores['cuda'], stores['cuda-bf16']
    assert torch.equal(cuda[:, 1], cpu[:, 1])  # the same top-k classes, in the same order
    torch.testing.assert_close(cuda[:, 0], cpu[:, 0], atol=2e-3, rtol=1e-3)
    assert torch.isfinite(bf16[:, 0]).all()
    scale = cpu[:, 0].abs().max().item()
    torch.testing.assert_close(bf16[:, 0].float(), cpu[:, 0].float(), atol=0.05 * scale, rtol=0.05)


def test_token_label_targets_on_cuda_equal_the_cpu_ones():
    generator = torch.Generator().manual_seed(0)
    batch, k, num_classes, grid = 6, 5, 20, (14, 14)
    logits = torch.randn(batch, k, 8, 8, generator=generator).sort(dim=1, descending=True).values
    indices = torch.stack([torch.randperm(num_classes, generator=generator)[:k] for _ in range(batch * 64)])
    indices = indices.view(batch, 8, 8, k).permute(0, 3, 1, 2).float()
    topk = torch.stack([logits, indices], dim=1).half()
    corner = 0.4 * torch.rand(batch, 2, generator=generator)
    boxes = torch.cat([corner, corner + 0.3 + 0.3 * torch.rand(batch, 2, generator=generator)], dim=1)
    flips = torch.tensor([True, False] * (batch // 2))
    affines = torch.eye(2, 3).repeat(batch, 1, 1) + 0.05 * torch.randn(batch, 2, 3, generator=generator)
    inputs = (topk, boxes, flips, affines)
    cpu = dense_token_targets(*inputs, grid=grid, num_classes=num_classes)
    cuda = dense_token_targets(*(t.cuda() for t in inputs), grid=grid, num_classes=num_classes)
    for on_cpu, on_cuda in zip(cpu, cuda, strict=True):
        assert on_cuda.device.type == 'cuda'
        torch.testing.assert_close(on_cuda.cpu(), on_cpu, atol=1e-6, rtol=1e-5)
    labels = torch.randint(num_classes, (batch,), generator=generator)
    assert torch.equal(one_hot_labels(labels.cuda(), num_classes).cpu(), one_hot_labels(labels, num_classes))


def loss_and_gradients(model: torch.nn.Module, amp: torch.dtype | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The summed loss of one training batch and all gradients, flattened, in float32; under CUDA autocast to
    ``amp``, or in float32 for None. The random draws (drop path, erasing, MixToken) are seeded alike."""
    model.zero_grad()
    seed_all(1)  # drop path and MixToken draw from torch's generators, random erasing also from Python's
    with torch.autocast('cuda', dtype=amp or torch.float32, enabled=amp is not None):
        data = model.data_preprocessor(loader_batch(with_map=True), True)
        loss, _ = model.parse_losses(model(**data, mode='loss'))
    loss.backward()
    gradients = [p.grad.flatten().float() for p in model.parameters() if p.grad is not None]
    return loss.detach().float(), torch.cat(gradients)


def test_a_bf16_step_gives_the_float32_loss_and_gradients_within_bf16_precision():
    """bf16 keeps 8 mantissa bits (relative rounding 2^-9, ~0.2%) per operation: over 3 blocks the loss is expected
    within 1%, the gradient direction within cosine 0.99 and its norm within 5%. (The same step under the CPU's bf16
    autocast, 2026-12-07: loss 5e-6 relative, cosine 0.99997, norm ratio 1.0005.)"""
    model = classifier('annotator').cuda()
    loss_fp32, grad_fp32 = loss_and_gradients(model, None)
    loss_bf16, grad_bf16 = loss_and_gradients(model, torch.bfloat16)
    torch.testing.assert_close(loss_bf16, loss_fp32, rtol=1e-2, atol=0)
    cosine = torch.nn.functional.cosine_similarity(grad_bf16, grad_fp32, dim=0)
    assert cosine > 0.99, cosine
    assert abs(grad_bf16.norm() / grad_fp32.norm() - 1) < 0.05


def test_token_label_targets_on_cuda_under_autocast_equal_float32():
    generator = torch.Generator().manual_seed(2)
    batch, num_classes, grid = 8, 30, (14, 14)
    logits = torch.randn(batch, 4, 8, 8, generator=generator) * 4
    indices = torch.stack([torch.randperm(num_classes, generator=generator)[:4] for _ in range(batch)]).float()
    topk = torch.stack([logits, indices[:, :, None, None].expand(-1, -1, 8, 8)], 1).half()
    boxes = torch.tensor([[0.1, 0.2, 0.7, 0.9]]).repeat(batch, 1)
    flips = torch.arange(batch) % 2 == 0
    affines = torch.eye(2, 3).repeat(batch, 1, 1) + 0.1 * torch.randn(batch, 2, 3, generator=generator)
    inputs = [t.cuda() for t in (topk, boxes, flips, affines)]
    expected = dense_token_targets(*inputs, grid=grid, num_classes=num_classes)
    for dtype in (torch.bfloat16, torch.float16):
        with torch.autocast('cuda', dtype=dtype):
            got = dense_token_targets(*inputs, grid=grid, num_classes=num_classes)
        for value, reference in zip(got, expected, strict=True):
            assert value.dtype == torch.float32
            torch.testing.assert_close(value, reference, rtol=0, atol=1e-6)


def test_device_augmentation_on_cuda_equals_the_cpu_with_the_same_draws():
    """Geometry to the bit; pixels at most 1 level apart on 99% of them and 3 anywhere (float rounding of the
    antialiased resize and the affine resampling may differ between the CPU and CUDA kernels)."""
    images = [torch.from_numpy(photo(120 + 20 * i, 160 - 10 * i, seed=i)).permute(2, 0, 1).contiguous()
              for i in range(6)]
    augment = DeviceTokenLabelAugment(size=64, scale=(0.3, 1.0),
                                      rand_augment=dict(config_str='rand-m9-mstd0.5-inc1'))
    draws = augment.draw(torch.tensor([image.shape[-2:] for image in images]), torch.Generator().manual_seed(3))
    on_cpu = augment.apply(images, draws)
    for amp in (None, torch.bfloat16):
        with torch.autocast('cuda', dtype=amp or torch.float32, enabled=amp is not None):
            on_cuda = augment.apply([image.cuda() for image in images], draws)
        for name in ('boxes', 'flips', 'affines'):
            assert torch.equal(getattr(on_cuda, name).cpu(), getattr(on_cpu, name)), name
        difference = (on_cuda.images.cpu().int() - on_cpu.images.int()).abs()
        assert difference.max() <= 3 and (difference <= 1).float().mean() >= 0.99, difference.max()


def test_nvjpeg_decodes_within_a_few_levels_of_libjpeg():
    """nvjpeg and libjpeg-turbo differ in IDCT and chroma upsampling: 99% of pixels within 2 levels, all within 16,
    the mean difference under 1 level."""
    from PIL import Image

    encoded = []
    for index in range(4):
        buffer = io.BytesIO()
        Image.fromarray(photo(96 + 16 * index, 128, seed=index)).save(buffer, format='JPEG', quality=90)
        encoded.append(torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8))
    on_cuda, problems_cuda = decode_images(encoded, 'cuda')
    on_cpu, problems_cpu = decode_images(encoded, 'cpu')
    assert problems_cuda == problems_cpu == {}
    for gpu, cpu in zip(on_cuda, on_cpu, strict=True):
        assert gpu.device.type == 'cuda' and gpu.shape == cpu.shape
        difference = (gpu.cpu().int() - cpu.int()).abs()
        assert difference.max() <= 16 and (difference <= 2).float().mean() >= 0.99
        assert difference.float().mean() < 1.0


def _syncbn_rank(rank: int, init_file: str, batch: torch.Tensor, results: dict) -> None:
    """Rank ``rank`` of 2: SyncBatchNorm over its half of ``batch`` on GPU ``rank``; puts its output, input
    gradient and running statistics into ``results[rank]``."""
    dist.init_process_group('nccl', init_method=f'file://{init_file}', rank=rank, world_size=2)
    torch.cuda.set_device(rank)
    norm = torch.nn.SyncBatchNorm(batch.shape[1]).cuda().train()
    half = batch.chunk(2)[rank].cuda().requires_grad_()
    out = norm(half)
    out.square().sum().backward()
    results[rank] = [t.detach().cpu() for t in (out, half.grad, norm.running_mean, norm.running_var)]
    dist.destroy_process_group()


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason='needs 2 GPUs')  # judge.MULTI_GPU_SKIP (gpu_check)
def test_syncbn_on_two_gpus_normalizes_as_one_batchnorm_over_the_whole_batch(tmp_path):
    batch = torch.randn(8, 16, 5, 5, generator=torch.Generator().manual_seed(4)) * 3 + 1
    manager = mp.get_context('spawn').Manager()
    results = manager.dict()
    mp.spawn(_syncbn_rank, args=(str(tmp_path / 'init'), batch, results), nprocs=2)
    reference = torch.nn.BatchNorm2d(16).train()
    whole = batch.clone().requires_grad_()
    out = reference(whole)
    out.square().sum().backward()
    for rank in (0, 1):
        got_out, got_grad, running_mean, running_var = results[rank]
        torch.testing.assert_close(got_out, out.detach().chunk(2)[rank], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got_grad, whole.grad.chunk(2)[rank], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(running_mean, reference.running_mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(running_var, reference.running_var, rtol=1e-5, atol=1e-6)
