"""The modules an exported graph computes for any input size (lvseg/deploy/traceable.py): adaptive average pooling
as averaging matrices equals ``nn.AdaptiveAvgPool2d``, and ``nn.Upsample`` equals mmseg's ``Upsample``, for every
size (divisible or not, smaller than the bins or not); both replace their originals inside a model."""
import pytest
import torch
import torch.nn as nn
from mmseg.models.decode_heads.psp_head import PPM
from mmseg.models.utils import Upsample

from lvseg.deploy.traceable import BinAveragePool, bin_matrix, make_traceable, traceable_replacement


def test_a_bin_matrix_averages_the_bins_of_adaptive_pooling_by_hand():
    # 5 positions in 3 bins: [0, 2), [1, 4), [3, 5)  (floor(i*5/3), ceil((i+1)*5/3))
    expected = torch.tensor([[1 / 2, 1 / 2, 0, 0, 0], [0, 1 / 3, 1 / 3, 1 / 3, 0], [0, 0, 0, 1 / 2, 1 / 2]])
    assert torch.equal(bin_matrix(5, 3, torch.zeros(1)), expected)


@pytest.mark.parametrize('output_size', [1, 2, 3, 6, (2, 5), (None, 3), (4, None)])
@pytest.mark.parametrize('size', [(1, 1), (4, 4), (5, 7), (12, 9), (17, 32)])
def test_bin_pooling_equals_adaptive_average_pooling(output_size, size):
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = nn.AdaptiveAvgPool2d(output_size)(x)
    got = BinAveragePool(output_size)(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('mode, align_corners', [('bilinear', False), ('bilinear', True), ('nearest', None)])
@pytest.mark.parametrize('scale_factor', [2, 1.5, 4])
@pytest.mark.parametrize('size', [(4, 4), (5, 7), (13, 9)])
def test_the_upsampling_equals_mmseg_s(mode, align_corners, scale_factor, size):
    x = torch.randn(1, 2, *size, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    original = Upsample(scale_factor=scale_factor, mode=mode, align_corners=align_corners)
    assert torch.equal(traceable_replacement(original)(x), original(x))


def test_sized_upsamplings_and_other_modules_are_kept():
    assert traceable_replacement(Upsample(size=(8, 8), mode='bilinear')) is None
    assert traceable_replacement(nn.Conv2d(1, 1, 1)) is None


def test_every_module_of_a_model_is_replaced_and_the_outputs_stay():
    ppm = PPM(pool_scales=(1, 2, 3, 6), in_channels=8, channels=4, conv_cfg=None, norm_cfg=None,
              act_cfg=dict(type='ReLU'), align_corners=False).eval()
    model = nn.Sequential(ppm, Upsample(scale_factor=2, mode='bilinear', align_corners=False))
    x = torch.randn(1, 8, 10, 13, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = [model[1](y) for y in ppm(x)]
        assert make_traceable(model) == {'AdaptiveAvgPool2d': 4, 'Upsample': 1}
        got = [model[1](y) for y in ppm(x)]
    assert not any(isinstance(m, (nn.AdaptiveAvgPool2d, Upsample)) for m in model.modules())
    assert [m.output_size for m in ppm.modules() if isinstance(m, BinAveragePool)] == [(s, s) for s in (1, 2, 3, 6)]
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)
