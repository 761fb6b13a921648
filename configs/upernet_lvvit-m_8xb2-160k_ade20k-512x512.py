# UperNet + LV-ViT-M (official: blocks 10, 13, 16, 19; drop path 0.2). Published: 49.4 / 50.6 mIoU.
_base_ = './upernet_lvvit-s_8xb2-160k_ade20k-512x512.py'
model = dict(
    pretrained='pretrain/lvvit_m-56M-224-84.0.pth.tar',  # official release, or tools/pretrain.py's (lvvit-m config)
    backbone=dict(arch='medium', out_indices=(10, 13, 16, 19), drop_path_rate=0.2),
    decode_head=dict(in_channels=[512, 512, 512, 2048]),
    auxiliary_head=dict(in_channels=512))
