# UperNet + DeiT-S on ADE20K, 512x512 crops, 160k iterations, 8 GPUs x 2 images: the model of mmseg's
# vit_deit-s16_mln_upernet_8xb2-160k_ade20k-512x512.py (layers 2, 5, 8, 11 at stride 16 -> MultiLevelNeck to
# strides 4, 8, 16, 32 -> UperNet; FCN auxiliary head on the last level; whole-image test) with lvseg's ADE20K
# schedule (AdamW 6e-5, poly, 1500 warm-up iterations, AMP) and, to compare with mmseg's DeiT-S figure, mmseg's
# paramwise_cfg of that config, word for word: in effect no weight decay on pos_embed and cls_token only (its
# 'norm' key matches no parameter here, as in mmseg's VisionTransformer, whose LayerNorms are named ln1 and ln2).
# The backbone is the one that configs/pretrain/deit-s_tokenlabel_8xb128-310e_in1k-224.py pretrains (TokenViT,
# with patch bias); fine-tune from it, or from a timm DeiT-S file for the baseline:
#   --cfg-options model.pretrained=work_dirs/deit-s_tokenlabel_8xb128-310e_in1k-224/epoch_310.pth
# Published, DeiT-S without token labeling (mmseg's configs/vit README): 43.82 mIoU single-scale, 45.07 multi-scale.
_base_ = [
    'mmseg::_base_/models/upernet_vit-b16_ln_mln.py',
    'mmseg::_base_/datasets/ade20k.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/adamw_poly_160k.py',
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained='pretrain/deit_small_patch16_224-cd65a155.pth',  # the DeiT-S release, or tools/pretrain.py's (see above)
    backbone=dict(type='TokenViT', embed_dims=384, num_heads=6, drop_path_rate=0.1, patch_bias=True),
    neck=dict(in_channels=[384, 384, 384, 384], out_channels=384),
    decode_head=dict(in_channels=[384, 384, 384, 384], num_classes=150),
    auxiliary_head=dict(in_channels=384, num_classes=150))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'pos_embed': dict(decay_mult=0.), 'cls_token': dict(decay_mult=0.),
                                    'norm': dict(decay_mult=0.)}))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
auto_scale_lr = dict(enable=False, base_batch_size=16)
