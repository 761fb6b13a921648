# UperNet + T2T-ViT-14 (Performer T2T layers) on ADE20K: the recipe of
# ./upernet_t2t-vit-t-14_8xb2-160k_ade20k-512x512.py (LV-ViT-S's, side layers on blocks 4, 7, 10, 13, drop path
# 0.1) with Performer T2T layers (dropout 0.1, the official Token_performer's). No published ADE20K result exists for
# T2T-ViT. Fine-tunes from the official T2T-ViT-14 file below, or from a checkpoint of
# configs/pretrain/t2t-vit-14_tokenlabel_8xb128-310e_in1k-224.py (--cfg-options model.pretrained=PATH).
_base_ = './upernet_t2t-vit-t-14_8xb2-160k_ade20k-512x512.py'
model = dict(pretrained='pretrain/81.5_T2T_ViT_14.pth.tar', backbone=dict(arch='14', t2t_drop_rate=0.1))
