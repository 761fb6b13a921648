# Evaluation of the released LV-ViT-M at 448, lvvit_m-56M-448-85.5.pth.tar (published: 85.5 top-1), as
# lvvit-s_released_in1k-224.py (the official test transform) with crop_pct 1.0.
#   python tools/test.py configs/official/lvvit-m_released_in1k-448.py lvvit_m-56M-448-85.5.pth.tar
_base_ = ['./lvvit-m_released_in1k-224.py']
img_size = 448
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
