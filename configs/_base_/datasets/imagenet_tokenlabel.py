# ImageNet-1k + token labels (docs/method.md#token-labeling): data/imagenet/{train,val}/<wnid>/*.JPEG, the annotator's
# dense maps in the official layout data/imagenet/label_top5_train_nfnet/<wnid>/<stem>.pt ([2, 5, h, w]).
# Faster to read: pack them once into a memory-mapped label store (tools/label_store.py pack
# data/imagenet/label_top5_train_nfnet data/imagenet/label_store/train --images data/imagenet/train) and set
# train_dataloader.dataset.label_map_root=None, label_store='label_store/train' (relative to data_root).
# Augmentation of the official training script: random-resized crop 0.08-1 with random interpolation,
# horizontal flip, RandAugment rand-m9-mstd0.5-inc1 (its rotations, shears and translations move the
# token labels too), random erasing 0.25 (in the model's data preprocessor); no image mixup/cutmix.
# augment_on='device': the loader workers only read each image's bytes and its map; the model's data preprocessor
# decodes (nvjpeg on CUDA) and runs this crop, flip and RandAugment, batched, on the training device
# (lvseg/engine/augment_on.py). 'cpu': the workers run train_pipeline as written.
augment_on = 'cpu'
dataset_type = 'ImageNetTokenLabelDataset'
data_root = 'data/imagenet'
num_classes = 1000
img_size = 224
# Training images are opened lazily (PIL) and decoded by the crop, at a reduced JPEG scale when the crop is
# shrunk 2x or more; evaluation loads with mmcv, whose transforms need arrays.
train_pipeline = [
    dict(type='LoadLazyImageFromFile'),
    dict(type='LoadTokenLabelMap', num_classes=num_classes),
    dict(type='RandomResizedCropWithBox', size=img_size, scale=(0.08, 1.0), interpolation='random'),
    dict(type='RandomFlipWithBox', prob=0.5),
    # timm's create_transform at 224: translate_const 100 px (45% of 224), fill with the ImageNet mean.
    dict(type='RandAugmentWithAffine', config_str='rand-m9-mstd0.5-inc1',
         hparams=dict(translate_const=100, img_mean=(124, 116, 104))),
    dict(type='PackTokenLabelInputs'),
]
# Evaluation as the official models: resize the shorter side to img_size / crop_pct (crop_pct 0.9), centre crop.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(100000, int(img_size / 0.9)), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackTokenLabelInputs'),
]
train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='ResumableSampler', shuffle=True),  # DefaultSampler's order, per-sample seeds, resumable
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=dict(img_path='train'),
                 label_map_root='label_top5_train_nfnet', pipeline=train_pipeline))  # relative to data_root
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=dict(img_path='val'), test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='TopKAccuracy', topk=(1, 5))
test_evaluator = val_evaluator
