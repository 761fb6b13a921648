# The demo (./upernet_lvvit-demo_synthetic-128.py: synthetic scenes, 128x128, small heads, short schedule) with a
# small DeiT-style TokenViT and mmseg's MultiLevelNeck in place of LV-ViT, the model of
# configs/upernet_deit-s-tokenlabel_8xb2-160k_ade20k-512x512.py at small sizes. Its backbone is
# configs/pretrain/deit-s_tokenlabel_8xb128-310e_in1k-224.py
# with --cfg-options model.backbone.embed_dims=64 model.backbone.num_layers=4 model.backbone.num_heads=4.
_base_ = ['./upernet_lvvit-demo_synthetic-128.py']
embed_dims = 64
model = dict(
    backbone=dict(
        _delete_=True,
        type='TokenViT',
        img_size=(128, 128),
        embed_dims=embed_dims,
        num_layers=4,
        num_heads=4,
        mlp_ratio=4,
        qkv_bias=True,
        patch_bias=True,
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='LN', eps=1e-6)),
    neck=dict(type='MultiLevelNeck', in_channels=[embed_dims] * 4, out_channels=embed_dims, scales=[4, 2, 1, 0.5]),
    decode_head=dict(in_channels=[embed_dims] * 4),
    auxiliary_head=dict(in_channels=embed_dims, in_index=3))
