"""Layer-wise learning-rate decay for backbones that report each parameter's depth.

mmseg's ``LearningRateDecayOptimizerConstructor`` dispatches on the backbone's class name (ConvNeXt, BEiT,
MAE) and raises NotImplementedError for any other backbone, so it cannot serve LV-ViT. Following
mmpretrain's ``LearningRateDecayOptimWrapperConstructor``, this one asks the backbone itself:
``backbone.get_layer_depth(name) -> (depth, num_depths)``.
"""
from __future__ import annotations

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Scale each backbone parameter's lr by ``layer_decay_rate ** (num_depths - 1 - depth)``.

    ``paramwise_cfg`` keys:
        layer_decay_rate (float): decay per layer, e.g. 0.65 (MAE/BEiT fine-tuning); 1.0 disables it.
        no_decay_names (tuple[str]): parameter-name fragments without weight decay.
            Default: ('pos_embed', 'cls_token').
    Every 1-D parameter (biases, norm weights) also gets no weight decay. Parameters outside the
    backbone (the heads) keep the base lr.
    """

    def add_params(self, params: list[dict], module: nn.Module, **kwargs) -> None:
        decay_rate = self.paramwise_cfg.get('layer_decay_rate', 1.0)
        no_decay_names = tuple(self.paramwise_cfg.get('no_decay_names', ('pos_embed', 'cls_token')))
        backbone = getattr(module, 'backbone', None)
        if not hasattr(backbone, 'get_layer_depth'):
            raise TypeError(f'{type(self).__name__} needs model.backbone.get_layer_depth(name); '
                            f'{type(backbone).__name__} has none')
        depths = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            scale = 1.0
            if name.startswith('backbone.'):
                depth, num_depths = backbone.get_layer_depth(name.removeprefix('backbone.'))
                scale = decay_rate ** (num_depths - 1 - depth)
                depths[name] = depth
            no_decay = param.ndim == 1 or any(key in name for key in no_decay_names)
            params.append(dict(params=[param], lr=self.base_lr * scale,
                               weight_decay=0.0 if no_decay else self.base_wd))
        print_log(f'layer decay {decay_rate}: {len(params)} parameter groups, backbone depths '
                  f'0..{max(depths.values(), default=0)}', logger='current')
