# The headline recipe with layer-wise lr decay (0.9 per block, the rate used for ViT fine-tuning in BEiT's
# segmentation recipe); the official LV-ViT recipe uses none. Parameters get their depth from
# LVViT.get_layer_depth. The optimizer wrapper is the base's (AMP in bf16 without loss scaling, AdamW); only its
# constructor and parameter-wise settings change.
_base_ = './upernet_lvvit-s_8xb2-160k_ade20k-512x512.py'
optim_wrapper = dict(
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(_delete_=True, layer_decay_rate=0.9, no_decay_names=('pos_embed', 'cls_token')))
