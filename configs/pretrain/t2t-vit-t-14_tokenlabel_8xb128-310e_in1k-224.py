# T2T-ViT_t-14 (transformer T2T layers) trained by token labeling + MixToken on ImageNet-1k at 224, 8 GPUs x 128:
# the recipe of ./lvvit-s_tokenlabel_8xb128-310e_in1k-224.py (docs/method.md#pretraining-recipe), backbone swapped;
# drop path 0.1 (the official T2T-ViT training script's default). 21.54M parameters with one head (+0.39M for the
# aux_head).
# Published, without token labeling: 81.7 top-1, 21.5M parameters, 6.1G MACs (official T2T-ViT README); with token
# labeling the official T2T-ViT-24 (Performer) reaches 84.2.
_base_ = './lvvit-s_tokenlabel_8xb128-310e_in1k-224.py'
model = dict(
    backbone=dict(_delete_=True, type='T2TViT', arch='t-14', img_size=224, pyramid='none', final_norm=True,
                  drop_path_rate=0.1))
