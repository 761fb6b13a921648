# LV-ViT-M, token labeling, ImageNet-1k at 224, drop path 0.2. Published: 84.0 top-1 (55.83M parameters).
_base_ = './lvvit-s_tokenlabel_8xb128-310e_in1k-224.py'
model = dict(backbone=dict(arch='medium', drop_path_rate=0.2))
