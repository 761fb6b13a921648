"""FLOP counting: fused attention counts what the same attention written with matmuls counts."""
import torch
import torch.nn.functional as F

from lvseg.analysis.flops import count_flops_and_params


class FusedAttention(torch.nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


class MatmulAttention(torch.nn.Module):
    def forward(self, q, k, v):
        return (q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5).softmax(-1) @ v


def test_sdpa_counts_like_the_two_matmuls():
    q, k, v = torch.rand(2, 3, 5, 8), torch.rand(2, 3, 7, 8), torch.rand(2, 3, 7, 4)
    fused, _ = count_flops_and_params(FusedAttention(), (q, k, v))
    plain, _ = count_flops_and_params(MatmulAttention(), (q, k, v))
    assert fused == plain == 2 * 3 * 5 * 7 * (8 + 4)
