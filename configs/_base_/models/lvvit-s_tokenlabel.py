# LV-ViT-S classifier trained by token labeling (docs/method.md#token-labeling): class head + dense aux head, MixToken,
# loss = 1.0 x class-token CE + 1.0 x mean token CE (the official script's weights; the paper's beta = 0.5
# is dense_weight=0.5), label smoothing 0.1.
custom_imports = dict(imports=['lvseg'], allow_failed_imports=False)
model = dict(
    type='TokenLabelingClassifier',
    backbone=dict(type='LVViT', arch='small', img_size=224, pyramid='none', final_norm=True, drop_path_rate=0.1),
    num_classes=1000,
    loss=dict(type='TokenLabelingLoss', cls_weight=1.0, dense_weight=1.0, label_smoothing=0.1),
    mix_token=True,
    class_target='annotator',
    data_preprocessor=dict(type='TokenLabelingDataPreprocessor', random_erasing_prob=0.25))
