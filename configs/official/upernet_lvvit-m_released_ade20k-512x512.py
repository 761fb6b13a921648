# Evaluation of the released UperNet + LV-ViT-M, upernet_lvvit_m.pth (published: 49.4 mIoU single-scale, 50.6
# multi-scale), as the official test: the LV-ViT-S evaluation config with the official M model (blocks 10, 13,
# 16, 19; UperNet 256 + FCN 256 channels).
#   python tools/test.py configs/official/upernet_lvvit-m_released_ade20k-512x512.py upernet_lvvit_m.pth [--tta]
_base_ = ['./upernet_lvvit-s_released_ade20k-512x512.py']
model = dict(
    backbone=dict(arch='medium', out_indices=(10, 13, 16, 19)),
    decode_head=dict(in_channels=[512, 512, 512, 2048]),
    auxiliary_head=dict(in_channels=512))
