# T2T-ViT-14 (Performer T2T layers) trained by token labeling + MixToken on ImageNet-1k at 224, 8 GPUs x 128: the
# recipe of ./t2t-vit-t-14_tokenlabel_8xb128-310e_in1k-224.py (the LV-ViT-S one, drop path 0.1) with Performer T2T
# layers, whose dropout is the official Token_performer's 0.1. 21.55M parameters with one head (+0.39M for the
# aux_head). Published, without token labeling: 81.5 top-1, 21.5M parameters, 4.8G MACs (official T2T-ViT README);
# with token labeling the official T2T-ViT-24 reaches 84.2.
_base_ = './t2t-vit-t-14_tokenlabel_8xb128-310e_in1k-224.py'
model = dict(backbone=dict(arch='14', t2t_drop_rate=0.1))
