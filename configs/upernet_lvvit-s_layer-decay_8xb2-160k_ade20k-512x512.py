# The headline recipe with BEiT's fine-tuning optimizer: layer-wise lr decay (0.9 per block, the rate used for ViT
# fine-tuning in BEiT's segmentation recipe) and, as there, no weight decay on 1-D parameters (biases, norms),
# pos_embed and cls_token; the official LV-ViT recipe has neither (the headline decays every parameter). Parameters
# get their depth from LVViT.get_layer_depth. The optimizer wrapper is the base's (AMP in bf16 without loss scaling,
# AdamW); only its constructor and parameter-wise settings change.
_base_ = './upernet_lvvit-s_8xb2-160k_ade20k-512x512.py'
optim_wrapper = dict(
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.9, no_decay_names=('pos_embed', 'cls_token')))
