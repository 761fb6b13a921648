# UperNet + LV-ViT-L (official: blocks 14, 17, 20, 23; drop path 0.5; UperNet 512 channels).
# Published: 50.9 / 51.8 mIoU. skip_lam 3.0 comes with the arch (the official config omitted it).
# with_cp: activation checkpointing of the 24 blocks: their activations are recomputed in backward instead of
# kept, for about one more forward of the blocks per step (bench/seg_step.py measures time and peak memory
# with and without). --cfg-options model.backbone.with_cp=False where memory allows.
_base_ = './upernet_lvvit-s_8xb2-160k_ade20k-512x512.py'
model = dict(
    pretrained='pretrain/lvvit_l-150M-448-86.2.pth.tar',  # official release (448), or tools/pretrain.py's (lvvit-l)
    backbone=dict(arch='large', out_indices=(14, 17, 20, 23), drop_path_rate=0.5, with_cp=True),
    decode_head=dict(in_channels=[768, 768, 768, 2048], channels=512),
    auxiliary_head=dict(in_channels=768, channels=512))  # as the official L's (docs/method.md#segmentation-recipe)
