# UperNet + T2T-ViT-14 (Performer T2T layers) on ADE20K: the recipe of ./upernet_t2t-vit-t-14.py (LV-ViT-S's, side
# layers on blocks 4, 7, 10, 13, drop path 0.1) with Performer T2T layers (dropout 0.1, the official Token_performer's).
# No published ADE20K result exists for T2T-ViT. Fine-tune from configs/pretrain/t2t-vit-14_tokenlabel_in1k-224.py or
# an official T2T-ViT-14 file (81.5_T2T_ViT_14.pth.tar):
#   --cfg-options model.pretrained=PATH
_base_ = './upernet_t2t-vit-t-14.py'
model = dict(backbone=dict(arch='14', t2t_drop_rate=0.1))
