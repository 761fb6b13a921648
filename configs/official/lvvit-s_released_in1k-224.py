# Evaluation of the released LV-ViT-S at 224, lvvit_s-26M-224-83.3.pth.tar (published: 83.3 top-1), with the
# official test transform (docs/method.md#released-files), as timm's eval transform does it: images decoded by
# PIL, the shorter side resized to floor(img_size / crop_pct) with PIL's bicubic (the longer side truncated, as
# torchvision), a centre crop of img_size, ImageNet mean and std; crop_pct 0.9 for LV-ViT-T and S, 1.0 for M and L
# (the official default_cfgs). Score: head(cls) + 0.5 x max over the tokens of aux_head(tokens). The other
# classifier configs of this folder change the model, img_size and crop_pct.
#   python tools/test.py configs/official/lvvit-s_released_in1k-224.py lvvit_s-26M-224-83.3.pth.tar
_base_ = ['../pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py']
img_size = 224
crop_pct = 0.9
model = dict(backbone=dict(img_size=img_size))
test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='ResizeShorterSide', size=int(img_size / crop_pct), interpolation='bicubic', backend='pillow'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackTokenLabelInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
custom_hooks = []  # the released weights themselves are tested: no EMA copy
