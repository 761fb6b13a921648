# LV-ViT-S, token labeling + MixToken, ImageNet-1k at 224, 8 GPUs x 128 (lr 1.6e-3 for 1024).
# Published: 83.3 top-1 (26.15M parameters with both heads).
_base_ = [
    '../_base_/models/lvvit-s_tokenlabel.py',
    '../_base_/datasets/imagenet_tokenlabel.py',
    '../_base_/schedules/imagenet_adamw_cosine_300e.py',
    '../_base_/pretrain_runtime.py',
]
