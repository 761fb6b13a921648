# UperNet + LV-ViT-S as in the official code (TokenLabeling seg/configs/lvvit; docs/method.md#segmentation-recipe):
# blocks 6, 9, 12, 15 -> "side layers" to strides 4, 8, 16, 16 with 384, 384, 384, 2048 channels.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    # The ImageNet token-labeling weights: the official release's file (LV-ViT-S, 224, 83.3 top-1), or a checkpoint of
    # tools/pretrain.py configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py (--cfg-options
    # model.pretrained=PATH). Training stops at once if the file is missing; model.pretrained=None trains from scratch.
    pretrained='pretrain/lvvit_s-26M-224-83.3.pth.tar',
    backbone=dict(
        type='LVViT',
        arch='small',
        img_size=(512, 512),
        out_indices=(6, 9, 12, 15),
        drop_path_rate=0.1,
        pyramid='side_layers',
        pyramid_out_channels=2048,
        pyramid_norm_cfg=norm_cfg),
    decode_head=dict(
        type='UPerHead',
        in_channels=[384, 384, 384, 2048],
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=256,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=384,
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    # The official recipe tests by sliding 512x512 windows with stride 341 (mmseg's ViT configs use 'whole').
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
