# Evaluation of the released UperNet + LV-ViT-L, upernet_lvvit_l.pth (published: 50.9 mIoU single-scale, 51.8
# multi-scale), as the official test: the LV-ViT-S evaluation config with the official L model as its config
# (seg/configs/lvvit/upernet_lvvit_l_512x512_160k_ade20k.py) built it: blocks 14, 17, 20, 23; position embedding
# for 448x448 (28x28 tokens, resized on the fly to each 512 window); UperNet and FCN with 512 channels; and
# skip_lam 1.0, the default that config left in place (the LV-ViT-L classifier uses 3.0;
# docs/method.md#official-code-defects), which this file was trained and tested with.
#   python tools/test.py configs/official/upernet_lvvit-l_released_ade20k-512x512.py upernet_lvvit_l.pth [--tta]
_base_ = ['./upernet_lvvit-s_released_ade20k-512x512.py']
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=768, num_layers=24, num_heads=12, mlp_ratio=3.0, stem_channels=128,
                  skip_lam=1.0),
        img_size=(448, 448),
        out_indices=(14, 17, 20, 23)),
    decode_head=dict(in_channels=[768, 768, 768, 2048], channels=512),
    auxiliary_head=dict(in_channels=768, channels=512))
