# Your own data set, on mmseg's BaseSegDataset: a folder of images, a folder of PNG masks with the same file names,
# and the class list below. Copy this file, edit data_root, classes and palette (and the suffixes and folders if
# yours differ), then check the data set before training (docs/finetuning.md):
#   python tools/check_dataset.py configs/upernet_lvvit-s_8xb2-40k_own-data-512x512.py
#
# Layout under data_root (the data_prefix folders below; subfolders are searched too):
#   images/train/<name>.jpg    masks/train/<name>.png
#   images/val/<name>.jpg      masks/val/<name>.png
# A mask is an 8-bit single-channel PNG (mode L, or P with a palette: the palette index is the class) of its image's
# size, one class index per pixel: 0 .. K-1 for the K classes of `classes`, in that order.
#
# ignore_index (255): pixels with this value are neither learned nor scored (object borders, unlabelled areas,
# "don't care"). mmseg's losses and IoUMetric ignore 255 by default; keep it.
#
# reduce_zero_label: False here, for masks where 0 is a real class (e.g. background). Set it True when your masks use
# 0 for "unlabelled" and 1 .. K for the classes (as ADE20K does): mmseg then maps 0 to 255 (ignored) and v to v - 1,
# so `classes` lists the K real classes only (no "unlabelled"). tools/check_dataset.py counts the labels after it.
dataset_type = 'BaseSegDataset'
data_root = 'data/my_dataset'
classes = ('background', 'foreground', 'other')  # K names; the mask value of each is its index
palette = [[0, 0, 0], [220, 20, 60], [0, 128, 255]]  # one RGB colour per class: pictures (--show-dir, tools/infer.py)
num_classes = len(classes)  # the configs that use this file set their heads' num_classes from it
metainfo = dict(classes=classes, palette=palette)
img_suffix = '.jpg'
seg_map_suffix = '.png'
reduce_zero_label = False
ignore_index = 255
# mmseg's ADE20K pipeline (mmseg::_base_/datasets/ade20k.py): random resize of (2048, 512) by 0.5-2.0, crop 512
# (at most 75% of it one class), flip, photometric distortion; test at (2048, 512) keeping the aspect ratio.
# LoadAnnotations takes reduce_zero_label from the data set.
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),  # after Resize: the metric compares at the image's own size
    dict(type='PackSegInputs'),
]
dataset = dict(type=dataset_type, data_root=data_root, metainfo=metainfo, img_suffix=img_suffix,
               seg_map_suffix=seg_map_suffix, reduce_zero_label=reduce_zero_label, ignore_index=ignore_index)
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(dataset, data_prefix=dict(img_path='images/train', seg_map_path='masks/train'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset, data_prefix=dict(img_path='images/val', seg_map_path='masks/val'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'], ignore_index=ignore_index)
test_evaluator = val_evaluator
