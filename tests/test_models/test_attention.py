"""The attention kernels: the fixed rule per device, dtype and gradients, and the agreement of the two kernels."""
import pytest
import torch
from timm.layers import Attention

from lvseg.models import LVViT
from lvseg.models.backbones import attention
from lvseg.models.backbones.attention import (
    AttentionCase,
    KernelChoice,
    MultiHeadAttention,
    attend,
    choose_kernel,
    explicit_attention,
    fused_attention,
)


def qkv(*shape: int, dtype: torch.dtype = torch.float32, grad: bool = False) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(*shape, generator=generator).to(dtype).requires_grad_(grad) for _ in range(3)]


@pytest.fixture
def logged(monkeypatch) -> list[str]:
    lines: list[str] = []
    monkeypatch.setattr(attention, 'print_log', lambda message, **kwargs: lines.append(message))
    return lines


@pytest.fixture
def fresh_choice(monkeypatch) -> KernelChoice:
    """A :data:`attention.KERNEL_CHOICE` that has met no case yet, for this test only."""
    choice = KernelChoice()
    monkeypatch.setattr(attention, 'KERNEL_CHOICE', choice)
    return choice


class Recorder:
    """Stands in for one of :data:`attention.KERNELS`: records that it ran, then runs the kernel."""

    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.kernel, self.calls = name, attention.KERNELS[name], calls

    def __call__(self, *args):
        self.calls.append(self.name)
        return self.kernel(*args)


@pytest.fixture
def kernel_calls(monkeypatch) -> list[str]:
    """The names of the kernels that ran, in order."""
    calls: list[str] = []
    for name in ('fused', 'explicit'):
        monkeypatch.setitem(attention.KERNELS, name, Recorder(name, calls))
    return calls


@pytest.mark.parametrize('device_type', ['cuda', 'xpu', 'mps'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize('grad', [True, False])
def test_accelerators_take_the_fused_kernel(device_type, dtype, grad):
    assert choose_kernel(device_type, dtype, grad, 197) == ('fused', f'scaled_dot_product_attention on {device_type}')


@pytest.mark.parametrize('dtype,grad,expected', [
    (torch.float32, True, 'fused'), (torch.float32, False, 'fused'),
    (torch.float64, True, 'fused'), (torch.float64, False, 'fused'),
    (torch.bfloat16, True, 'explicit'), (torch.bfloat16, False, 'explicit'),
    (torch.float16, True, 'explicit'), (torch.float16, False, 'explicit'),
])
def test_the_cpu_takes_fused_in_full_precision_and_explicit_in_half(dtype, grad, expected):
    """The rule of the docstring, at every measured length and beyond it: the kernel never depends on tokens."""
    kernels = {choose_kernel('cpu', dtype, grad, tokens)[0] for tokens in (1, 65, 197, 1025, 4097)}
    assert kernels == {expected}


def test_the_reason_cites_the_measurement_and_says_when_the_case_lies_outside_it():
    assert choose_kernel('cpu', torch.bfloat16, True, 197) == (
        'explicit', 'the CPU rule for torch.bfloat16: explicit 1.4x to 6x as fast (bench/attention_kernels.py, '
        'bfloat16)')
    assert choose_kernel('cpu', torch.float32, False, 4097) == (
        'fused', 'the CPU rule for torch.float32: fused 1.05x to 2.8x as fast (bench/attention_kernels.py, '
        'float32); 4097 tokens, outside the measured 65 to 1025')


def test_auto_under_bf16_autocast_on_the_cpu_runs_only_the_explicit_kernel(fresh_choice, kernel_calls):
    q, k, v = qkv(2, 3, 50, 16, grad=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        attend(q, k, v, 0.25).float().sum().backward()
        with torch.no_grad():
            attend(q, k, v, 0.25)
    assert kernel_calls == ['explicit', 'explicit']  # the fused kernel never runs: nothing is timed


def test_auto_under_bf16_autocast_gives_the_explicit_kernels_bits(fresh_choice):
    q, k, v = qkv(2, 3, 50, 16)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        auto, explicit, fused = attend(q, k, v, 0.25), explicit_attention(q, k, v, 0.25), fused_attention(q, k, v, 0.25)
    assert not torch.equal(explicit, fused)  # the inputs tell the kernels apart
    assert torch.equal(auto, explicit)


def test_auto_in_float32_on_the_cpu_runs_the_fused_kernel(fresh_choice, kernel_calls):
    attend(*qkv(2, 3, 50, 16, grad=True), 0.25).sum().backward()
    assert kernel_calls == ['fused']


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_every_call_and_every_fresh_choice_take_the_same_kernel(dtype, logged):
    """No state, timing or load decides: two processes (DDP ranks, a resumed run) choose alike."""
    for grad in (True, False):
        inputs = qkv(2, 3, 197, 64, dtype=dtype, grad=grad)
        kernels = {KernelChoice()(*inputs) for _ in range(3)}
        choice = KernelChoice()
        kernels |= {choice(*inputs) for _ in range(3)}
        assert kernels == {'fused' if dtype == torch.float32 else 'explicit'}


def test_the_choice_is_logged_once_per_case(logged):
    choice = KernelChoice()
    training = qkv(2, 3, 197, 64, dtype=torch.bfloat16, grad=True)
    assert [choice(*training) for _ in range(2)] == ['explicit', 'explicit']
    assert choice(*qkv(4, 3, 150, 64, dtype=torch.bfloat16, grad=True)) == 'explicit'  # same case: 150 -> 256 tokens
    assert logged == ['attention kernel for cpu bfloat16 training, up to 256 tokens: explicit (the CPU rule for '
                      'torch.bfloat16: explicit 1.4x to 6x as fast (bench/attention_kernels.py, bfloat16))']
    with torch.no_grad():  # inference is another case
        assert choice(*training) == 'explicit'
    assert choice(*qkv(2, 3, 50, 16, grad=True)) == 'fused'  # float32: another case
    assert len(logged) == 3
    assert logged[1].startswith('attention kernel for cpu bfloat16 inference, up to 256 tokens: explicit (')
    assert logged[2].startswith('attention kernel for cpu float32 training, up to 64 tokens: fused (')
    assert set(choice.choices) == {AttentionCase('cpu', torch.bfloat16, True, 256),
                                   AttentionCase('cpu', torch.bfloat16, False, 256),
                                   AttentionCase('cpu', torch.float32, True, 64)}


def test_autocast_decides_the_dtype_of_the_case(logged):
    choice = KernelChoice()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert choice(*qkv(1, 2, 10, 8)) == 'explicit'
    assert list(choice.choices) == [AttentionCase('cpu', torch.bfloat16, False, 16)]


def test_tracing_takes_the_fused_kernel_unlogged(logged):
    choice = KernelChoice()
    q, k, v = qkv(1, 2, 10, 8, dtype=torch.bfloat16)
    kernels = []
    torch.jit.trace(lambda q, k, v: kernels.append(choice(q, k, v)) or q, (q, k, v), check_trace=False)
    assert kernels == ['fused']
    assert choice.choices == {} and logged == []


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


def test_a_checkpointed_block_takes_the_same_kernel_in_its_recomputation(fresh_choice, kernel_calls):
    """Activation checkpointing reruns a block's forward in backward and checks that it saves the same tensors
    as the first time: under bf16 autocast both runs take the explicit kernel."""
    model = LVViT(arch=dict(embed_dims=32, num_layers=2, num_heads=2, mlp_ratio=2.0, stem_channels=8, skip_lam=2.0),
                  img_size=32, pyramid='none', out_indices=(0, 1), with_cp=True).train()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(torch.randn(2, 3, 32, 32))
    sum(out.float().sum() for out in outs).backward()
    assert model.blocks[0].attn.qkv.weight.grad is not None
    assert kernel_calls == ['explicit'] * 4  # 2 blocks, forward and recomputation
    assert list(fresh_choice.choices) == [AttentionCase('cpu', torch.bfloat16, True, 8)]
