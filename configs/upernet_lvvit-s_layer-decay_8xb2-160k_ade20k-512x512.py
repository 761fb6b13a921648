# The headline recipe with layer-wise lr decay (0.9 per block, the rate used for ViT fine-tuning in BEiT's
# segmentation recipe); the official LV-ViT recipe uses none. Parameters get their depth from
# LVViT.get_layer_depth.
_base_ = './upernet_lvvit-s_8xb2-160k_ade20k-512x512.py'
optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(layer_decay_rate=0.9, no_decay_names=('pos_embed', 'cls_token')))
