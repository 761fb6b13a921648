# Evaluation of the released LV-ViT-S at 384, lvvit_s-26M-384-84.4.pth.tar (published: 84.4 top-1), as
# lvvit-s_released_in1k-224.py (the official test transform) with crop_pct 0.9.
#   python tools/test.py configs/official/lvvit-s_released_in1k-384.py lvvit_s-26M-384-84.4.pth.tar
_base_ = ['./lvvit-s_released_in1k-224.py']
img_size = 384
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
