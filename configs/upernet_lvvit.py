# The headline config under its short name: UperNet + LV-ViT-S on ADE20K, 512x512, 160k iterations, 8 GPUs x 2
# (everything is in upernet_lvvit-s_8xb2-160k_ade20k-512x512.py). Published: 47.9 mIoU single-scale, 48.6
# multi-scale.
_base_ = './upernet_lvvit-s_8xb2-160k_ade20k-512x512.py'
