# LV-ViT-T, token labeling, ImageNet-1k at 224. Published: 79.1 top-1 (8.5M parameters).
_base_ = './lvvit-s_tokenlabel_8xb128-310e_in1k-224.py'
model = dict(backbone=dict(arch='tiny', drop_path_rate=0.1))
