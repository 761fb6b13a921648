# Evaluation of the released LV-ViT-L at 512, lvvit_l-150M-512-86.4.pth.tar (published: 86.4 top-1), as
# lvvit-s_released_in1k-224.py (the official test transform) with crop_pct 1.0.
#   python tools/test.py configs/official/lvvit-l_released_in1k-512.py lvvit_l-150M-512-86.4.pth.tar
_base_ = ['./lvvit-l_released_in1k-448.py']
img_size = 512
crop_pct = 1.0
model = dict(backbone=dict(img_size=img_size))
test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='ResizeShorterSide', size=int(img_size / crop_pct), interpolation='bicubic', backend='pillow'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackTokenLabelInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
