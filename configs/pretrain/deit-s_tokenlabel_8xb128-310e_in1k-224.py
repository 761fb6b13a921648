# DeiT-S (mmseg's VisionTransformer as lvseg's TokenViT) trained by token labeling + MixToken on ImageNet-1k at 224,
# 8 GPUs x 128: the recipe of ./lvvit-s_tokenlabel_8xb128-310e_in1k-224.py (docs/method.md#pretraining-recipe),
# backbone swapped.
# DeiT-S as in timm's deit_small_patch16_224: 12 layers, width 384, 6 heads, MLP ratio 4, qkv and patch biases,
# LayerNorm eps 1e-6; drop path 0.1 (DeiT's). 22.05M parameters with one head (+0.39M for the dense aux_head).
# Published, without token labeling: 79.8 top-1, 22M parameters (DeiT, Touvron et al., ICML 2021).
_base_ = './lvvit-s_tokenlabel_8xb128-310e_in1k-224.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='TokenViT',
        img_size=224,
        patch_size=16,
        embed_dims=384,
        num_layers=12,
        num_heads=6,
        mlp_ratio=4,
        qkv_bias=True,
        patch_bias=True,
        drop_path_rate=0.1,
        norm_cfg=dict(type='LN', eps=1e-6),
        final_norm=True))
