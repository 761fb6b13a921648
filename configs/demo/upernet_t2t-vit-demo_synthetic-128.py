# The demo (./upernet_lvvit-demo_synthetic-128.py: synthetic scenes, 128x128, small heads, short schedule) with a
# small T2T-ViT in place of LV-ViT (same side-layer pyramid), the model of
# configs/upernet_t2t-vit-t-14_8xb2-160k_ade20k-512x512.py at small sizes. Its backbone is
# configs/pretrain/t2t-vit-t-14_tokenlabel_8xb128-310e_in1k-224.py with the arch below.
_base_ = ['./upernet_lvvit-demo_synthetic-128.py']
embed_dims = 64
model = dict(
    backbone=dict(
        type='T2TViT',
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=4, mlp_ratio=3.0, token_dims=16,
                  tokens_type='transformer'),
        out_indices=(0, 1, 2, 3)),
    decode_head=dict(in_channels=[embed_dims] * 3 + [256]),
    auxiliary_head=dict(in_channels=embed_dims))
