"""Every backbone lvseg registers builds from its type and an arch preset alone, and then gives what its docstring
says its defaults give: one map of the last block, ``(B, embed_dims, ceil(H / 16), ceil(W / 16))``."""
import pytest
import torch
from mmseg.registry import MODELS

import lvseg  # noqa: F401  (registers the backbones)
from lvseg.models.backbones import lvvit, t2t_vit

# name -> its arch presets; TokenViT (mmseg's ViT) has none: its defaults are mmseg's ViT-B
PRESETS = {'LVViT': sorted(lvvit.ARCH_SETTINGS), 'T2TViT': sorted(t2t_vit.ARCH_SETTINGS), 'TokenViT': [None]}


def test_every_registered_backbone_is_covered():
    registered = {name for name, cls in MODELS.module_dict.items()
                  if cls.__module__.startswith('lvseg.models.backbones.')}
    assert registered == set(PRESETS)


@pytest.mark.parametrize('name, arch', [(name, arch) for name, archs in PRESETS.items() for arch in archs])
def test_a_backbone_builds_from_type_and_arch_alone(name, arch):
    backbone = MODELS.build(dict(type=name) if arch is None else dict(type=name, arch=arch)).eval()
    with torch.no_grad():
        maps = backbone(torch.rand(1, 3, 40, 56))
    assert [tuple(m.shape) for m in maps] == [(1, backbone.embed_dims, 3, 4)]


@pytest.mark.parametrize('name', ['LVViT', 'T2TViT'])
def test_an_unknown_arch_is_refused_by_the_class_with_the_presets_it_knows(name):
    with pytest.raises(KeyError, match='expected one of'):
        MODELS.get(name).resolve_arch('huge')
