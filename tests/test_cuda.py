"""What only a GPU can show: AMP in bf16 and in fp16 with the loss scaler, SyncBN through the tools' process group,
the fused attention kernel, the annotator and the token-label targets on CUDA. Each test skips without CUDA;
``make gpu-check`` runs them (``pytest -m cuda``)."""
import pytest
import torch
from lvseg_testing.timm_models import IMAGENET, save_timm_model
from lvseg_testing.tiny_classifier import ARCH, classifier, loader_batch
from lvseg_testing.tool_runner import DEMO_CONFIG, REPO, demo_overrides, run_tool
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from torch.profiler import ProfilerActivity, profile

from lvseg.annotator.dense import timm_annotator
from lvseg.annotator.run import Preprocessing, annotate
from lvseg.datasets.label_store import LabelStore
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
