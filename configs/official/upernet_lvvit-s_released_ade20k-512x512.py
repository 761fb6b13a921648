# Evaluation of the released UperNet + LV-ViT-S, upernet_lvvit_s.pth (official TokenLabeling release "v1.1-seg",
# an mmseg 0.x file converted at load time; published: 47.9 mIoU single-scale, 48.6 multi-scale), as the official
# test (docs/method.md#released-files):
#   python tools/test.py configs/official/upernet_lvvit-s_released_ade20k-512x512.py upernet_lvvit_s.pth [--tta]
# The model is the headline config's (blocks 6, 9, 12, 15, side layers, UperNet 256 + FCN 256; no pretrained
# backbone file: the released file is the whole model) with what the official segmentation backbone does
# differently: LayerNorm eps 1e-6 in the blocks (lvseg's training configs keep the pretraining value 1e-5), and a
# stem that does not pad (its strided convolutions round the token grid down for sides that are not multiples of
# 16: the multi-scale test's small scales). Test: Resize to (2048, 512) keeping the aspect ratio, slide windows
# 512 with stride 341 (both from the headline config); --tta is the official --aug-test of mmseg 0.x, which scales
# the (2048, 512) target (not the image, as mmseg 1.x's own TTA does) by 0.5 ... 1.75 and adds the flipped image,
# averaging the softmax.
_base_ = ['../upernet_lvvit-s_8xb2-160k_ade20k-512x512.py']
model = dict(pretrained=None, backbone=dict(norm_cfg=dict(type='LN', eps=1e-6), patch_padding='none'))
test_scale = (2048, 512)
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='TestTimeAug',
         transforms=[
             [dict(type='Resize', scale=(int(test_scale[0] * r), int(test_scale[1] * r)), keep_ratio=True)
              for r in img_ratios],
             [dict(type='RandomFlip', prob=0., direction='horizontal'),
              dict(type='RandomFlip', prob=1., direction='horizontal')],
             [dict(type='LoadAnnotations')],
             [dict(type='PackSegInputs')],
         ]),
]
