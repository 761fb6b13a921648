# UperNet + T2T-ViT_t-14 on ADE20K, 512x512 crops, 160k iterations, 8 GPUs x 2 images: the LV-ViT-S recipe of
# ./upernet_lvvit.py (side-layer pyramid to strides 4, 8, 16, 16 with 384, 384, 384, 2048 channels; UperNet; slide
# test 512/341) with the backbone swapped. Blocks 4, 7, 10, 13: the last block and every third before it, as the
# official LV-ViT configs pick them; drop path 0.1. No published ADE20K result exists for T2T-ViT. Fine-tune from
# configs/pretrain/t2t-vit-t-14_tokenlabel_8xb128-310e_in1k-224.py or an official T2T-ViT_t-14 file:
#   --cfg-options model.pretrained=PATH
_base_ = './upernet_lvvit-s_8xb2-160k_ade20k-512x512.py'
model = dict(
    pretrained='pretrain/81.7_T2T_ViTt_14.pth.tar',  # the official T2T-ViT_t-14 release, or tools/pretrain.py's
    backbone=dict(type='T2TViT', arch='t-14', out_indices=(4, 7, 10, 13), drop_path_rate=0.1))
