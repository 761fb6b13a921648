# UperNet + LV-ViT-M (official: blocks 10, 13, 16, 19; drop path 0.2). Published: 49.4 / 50.6 mIoU.
_base_ = './upernet_lvvit.py'
model = dict(
    backbone=dict(arch='medium', out_indices=(10, 13, 16, 19), drop_path_rate=0.2),
    decode_head=dict(in_channels=[512, 512, 512, 2048]),
    auxiliary_head=dict(in_channels=512))
