# Evaluation of the released LV-ViT-T at 224, lvvit_t.pth (published: 79.1 top-1): the LV-ViT-S test (crop_pct 0.9).
#   python tools/test.py configs/official/lvvit-t_released_in1k-224.py lvvit_t.pth
_base_ = ['./lvvit-s_released_in1k-224.py']
model = dict(backbone=dict(arch='tiny'))
