# The headline recipe (./upernet_lvvit-s_8xb2-160k_ade20k-512x512.py) with mmseg's ViT habit: no weight decay on the
# norm layers (by type: the LayerNorms of the blocks, the BatchNorms of the stem, the side layers and the heads),
# pos_embed and cls_token. The official LV-ViT configs decay every parameter, as the headline does
# (docs/method.md#segmentation-recipe); this variant, lvseg's default before, is kept to compare the two.
_base_ = './upernet_lvvit-s_8xb2-160k_ade20k-512x512.py'
optim_wrapper = dict(
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        custom_keys={'pos_embed': dict(decay_mult=0.0), 'cls_token': dict(decay_mult=0.0)}))
