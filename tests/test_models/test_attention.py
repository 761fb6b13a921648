"""The attention kernels: the choice per device, dtype and shape, and the agreement of the two kernels."""
import pytest
import torch
from timm.layers import Attention

from lvseg.models import LVViT
from lvseg.models.backbones import attention
from lvseg.models.backbones.attention import (
    AttentionCase,
    KernelChoice,
    MultiHeadAttention,
    explicit_attention,
    fused_attention,
)


class FakeTimer:
    """Stands in for :func:`attention.time_kernels`: returns fixed seconds and records each call's case."""

    def __init__(self, explicit: float, fused: float) -> None:
        self.seconds = {'explicit': explicit, 'fused': fused}
        self.calls: list[tuple[torch.dtype, bool]] = []

    def __call__(self, q, k, v, dtype, grad):
        self.calls.append((dtype, grad))
        return self.seconds


def qkv(*shape: int, dtype: torch.dtype = torch.float32, grad: bool = False) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(*shape, generator=generator).to(dtype).requires_grad_(grad) for _ in range(3)]


@pytest.fixture
def logged(monkeypatch) -> list[str]:
    lines: list[str] = []
    monkeypatch.setattr(attention, 'print_log', lambda message, **kwargs: lines.append(message))
    return lines


def test_float32_on_the_cpu_takes_the_fused_kernel_untimed(logged):
    timer = FakeTimer(explicit=0.001, fused=1.0)
    choice = KernelChoice(timer)
    assert choice(*qkv(2, 3, 50, 16, grad=True)) == 'fused'
    assert timer.calls == []
    assert logged == ['attention kernel for cpu float32 training, up to 64 tokens, head dim 16: fused (the rule for '
                      'torch.float32 on CPUs, not timed: the same kernel in every process)']


def test_bf16_on_the_cpu_is_timed_once_per_case_and_logged_once(logged):
    timer = FakeTimer(explicit=0.010, fused=0.030)
    choice = KernelChoice(timer)
    training = qkv(2, 3, 197, 64, dtype=torch.bfloat16, grad=True)
    assert choice(*training) == 'explicit'
    assert choice(*training) == 'explicit'
    assert choice(*qkv(4, 3, 150, 64, dtype=torch.bfloat16, grad=True)) == 'explicit'  # same case: 150 -> 256 tokens
    assert timer.calls == [(torch.bfloat16, True)]
    assert len(logged) == 1 and logged[0].startswith('attention kernel for cpu bfloat16 training, up to 256 tokens, '
                                                     'head dim 64: explicit (timed: explicit softmax(q k^T) v 10.00 ms')
    with torch.no_grad():  # inference is another case
        assert choice(*training) == 'explicit'
    assert timer.calls == [(torch.bfloat16, True), (torch.bfloat16, False)]
    assert set(choice.choices) == {AttentionCase('cpu', torch.bfloat16, True, 64, 256),
                                   AttentionCase('cpu', torch.bfloat16, False, 64, 256)}


def test_autocast_decides_the_dtype_of_the_case():
    timer = FakeTimer(explicit=0.010, fused=0.030)
    choice = KernelChoice(timer)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert choice(*qkv(1, 2, 10, 8)) == 'explicit'
    assert timer.calls == [(torch.bfloat16, False)]


@pytest.mark.parametrize('explicit,fused,expected', [(0.010, 0.030, 'explicit'), (0.030, 0.010, 'fused'),
                                                     (0.0095, 0.010, 'fused')])
def test_explicit_must_win_by_the_margin(explicit, fused, expected):
    choice = KernelChoice(FakeTimer(explicit, fused))
    assert choice(*qkv(1, 2, 10, 8, dtype=torch.float16)) == expected


def test_accelerators_take_the_fused_kernel_untimed():
    timer = FakeTimer(explicit=0.001, fused=1.0)
    kernel, reason = KernelChoice(timer).decide(AttentionCase('cuda', torch.bfloat16, True, 64, 256),
                                                *qkv(1, 2, 10, 8))
    assert kernel == 'fused' and 'not timed' in reason and timer.calls == []


def test_tracing_takes_the_fused_kernel_untimed():
    timer = FakeTimer(explicit=0.001, fused=1.0)
    choice = KernelChoice(timer)
    q, k, v = qkv(1, 2, 10, 8, dtype=torch.bfloat16)
    kernels = []
    torch.jit.trace(lambda q, k, v: kernels.append(choice(q, k, v)) or q, (q, k, v), check_trace=False)
    assert kernels == ['fused']
    assert timer.calls == [] and choice.choices == {}


def test_the_probe_times_both_kernels_and_leaves_the_global_random_state_alone():
    state = torch.get_rng_state()
    seconds = attention.time_kernels(*qkv(2, 3, 20, 8), dtype=torch.bfloat16, grad=True, rounds=1)
    assert set(seconds) == {'fused', 'explicit'} and all(s > 0 for s in seconds.values())
    assert torch.equal(torch.get_rng_state(), state)


def forward_backward(kernel, q, k, v, out_grad):
    out = kernel(q, k, v, q.shape[-1] ** -0.5)
    grads = torch.autograd.grad(out, (q, k, v), out_grad)
    return out, *grads


def test_the_two_kernels_agree_in_float32_forward_and_backward():
    q, k, v = qkv(2, 3, 50, 16, grad=True)
    out_grad = torch.randn(2, 3, 50, 16)
    fused = forward_backward(fused_attention, q, k, v, out_grad)
    explicit = forward_backward(explicit_attention, q, k, v, out_grad)
    for a, b in zip(fused, explicit, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_two_kernels_agree_in_bfloat16_within_its_rounding():
    """bf16 keeps 8 significant bits (relative step 2^-8 = 0.0039): each kernel under bf16 autocast stays within
    0.02 (absolute + relative) of the float32 result, forward and backward, and so within 0.04 of the other."""
    q, k, v = qkv(2, 3, 50, 16, grad=True)
    out_grad = torch.randn(2, 3, 50, 16)
    reference = forward_backward(fused_attention, q, k, v, out_grad)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        results = {kernel: forward_backward(kernel, q, k, v, out_grad.bfloat16())
                   for kernel in (fused_attention, explicit_attention)}
    for result in results.values():
        for got, want in zip(result, reference, strict=True):
            torch.testing.assert_close(got.float(), want, rtol=0.02, atol=0.02)
    for a, b in zip(*results.values(), strict=True):
        torch.testing.assert_close(a.float(), b.float(), rtol=0.04, atol=0.04)


@pytest.mark.parametrize('kernel', ['fused', 'explicit'])
def test_multi_head_attention_is_timm_attention_with_the_same_weights(kernel):
    """The parameter names of the official LV-ViT (and timm) ``Attention``, and the same function."""
    torch.manual_seed(0)
    ours = MultiHeadAttention(32, num_heads=4, kernel=kernel)
    theirs = Attention(32, num_heads=4, qkv_bias=False)
    assert set(ours.state_dict()) == set(theirs.state_dict()) == {'qkv.weight', 'proj.weight', 'proj.bias'}
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 7, 32)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-6)


def test_unknown_kernel_is_refused():
    with pytest.raises(ValueError, match=r"one of \('auto', 'fused', 'explicit'\), got 'flash'"):
        MultiHeadAttention(32, num_heads=4, kernel='flash')


def test_a_probe_inside_activation_checkpointing_leaves_the_recomputation_alone(monkeypatch):
    """The first bf16 call is timed inside a checkpointed block's forward; the recomputation in backward must save
    the same tensors as that forward (torch.utils.checkpoint checks), so the probe's own autograd work stays
    outside the block's saved-tensor hooks."""
    monkeypatch.setattr(attention, 'KERNEL_CHOICE', KernelChoice())
    model = LVViT(arch=dict(embed_dims=32, num_layers=2, num_heads=2, mlp_ratio=2.0, stem_channels=8, skip_lam=2.0),
                  img_size=32, pyramid='none', out_indices=(0, 1), with_cp=True).train()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(torch.randn(2, 3, 32, 32))
    sum(out.float().sum() for out in outs).backward()
    assert model.blocks[0].attn.qkv.weight.grad is not None
    assert [case.dtype for case in attention.KERNEL_CHOICE.choices] == [torch.bfloat16]
