# Evaluation of the released LV-ViT-L at 448, lvvit_l-150M-448-86.2.pth.tar (published: 86.2 top-1): the LV-ViT-M
# test at 448 (crop_pct 1.0) with the L model.
#   python tools/test.py configs/official/lvvit-l_released_in1k-448.py lvvit_l-150M-448-86.2.pth.tar
_base_ = ['./lvvit-m_released_in1k-448.py']
model = dict(backbone=dict(arch='large'))
