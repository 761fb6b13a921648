auto_scale_lr = dict(base_batch_size=16, enable=False)
bad_samples = dict(max_skipped=100, policy='error')
cpu_bf16 = False
crop_size = (
    128,
    128,
)
custom_imports = dict(
    allow_failed_imports=False, imports=[
        'lvseg',
    ])
data_preprocessor = dict(
    bgr_to_rgb=True,
    mean=[
        123.675,
        116.28,
        103.53,
    ],
    pad_val=0,
    seg_pad_val=255,
    std=[
        58.395,
        57.12,
        57.375,
    ],
    type='SegDataPreProcessor')
data_root = 'data/synthetic_ade'
dataset = dict(
    data_root='data/synthetic_ade',
    reduce_zero_label=True,
    type='ClassFileSegDataset')
dataset_type = 'ADE20KDataset'
default_hooks = dict(
    checkpoint=dict(
        _scope_='mmseg',
        by_epoch=False,
        interval=600,
        max_keep_ckpts=1,
        type='AtomicCheckpointHook'),
    finite_loss=dict(type='FiniteLossHook'),
    logger=dict(
        _scope_='mmseg',
        interval=50,
        log_metric_by_epoch=False,
        type='LoggerHook'),
    param_scheduler=dict(_scope_='mmseg', type='ParamSchedulerHook'),
    sampler_seed=dict(_scope_='mmseg', type='DistSamplerSeedHook'),
    step_seed=dict(type='StepSeedHook'),
    timer=dict(_scope_='mmseg', type='IterTimerHook'),
    visualization=dict(
        _scope_='mmseg', draw=True, interval=1, type='SegVisualizationHook'))
default_scope = 'mmseg'
env_cfg = dict(
    cudnn_benchmark=False,
    dist_cfg=dict(backend='nccl'),
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0))
img_ratios = [
    0.5,
    0.75,
    1.0,
    1.25,
    1.5,
    1.75,
]
launcher = 'none'
load_from = '/work/main/work_dirs/demo/seg/iter_600.pth'
log_level = 'INFO'
log_processor = dict(by_epoch=False)
max_iters = 600
model = dict(
    auxiliary_head=dict(
        align_corners=False,
        channels=32,
        concat_input=False,
        dropout_ratio=0.1,
        in_channels=128,
        in_index=2,
        loss_decode=dict(
            loss_weight=0.4, type='CrossEntropyLoss', use_sigmoid=False),
        norm_cfg=dict(requires_grad=True, type='BN'),
        num_classes=8,
        num_convs=1,
        type='FCNHead'),
    backbone=dict(
        arch=dict(
            embed_dims=128,
            mlp_ratio=3.0,
            num_heads=4,
            num_layers=8,
            skip_lam=2.0,
            stem_channels=32),
        drop_path_rate=0.0,
        img_size=(
            128,
            128,
        ),
        out_indices=(
            1,
            3,
            5,
            7,
        ),
        pyramid='side_layers',
        pyramid_norm_cfg=dict(requires_grad=True, type='BN'),
        pyramid_out_channels=256,
        type='LVViT'),
    data_preprocessor=dict(
        bgr_to_rgb=True,
        mean=[
            123.675,
            116.28,
            103.53,
        ],
        pad_val=0,
        seg_pad_val=255,
        size=(
            128,
            128,
        ),
        std=[
            58.395,
            57.12,
            57.375,
        ],
        type='SegDataPreProcessor'),
    decode_head=dict(
        align_corners=False,
        channels=64,
        dropout_ratio=0.1,
        in_channels=[
            128,
            128,
            128,
            256,
        ],
        in_index=[
            0,
            1,
            2,
            3,
        ],
        loss_decode=dict(
            loss_weight=1.0, type='CrossEntropyLoss', use_sigmoid=False),
        norm_cfg=dict(requires_grad=True, type='BN'),
        num_classes=8,
        pool_scales=(
            1,
            2,
            3,
            6,
        ),
        type='UPerHead'),
    pretrained=None,
    test_cfg=dict(crop_size=(
        512,
        512,
    ), mode='whole', stride=(
        341,
        341,
    )),
    train_cfg=dict(),
    type='EncoderDecoder')
norm_cfg = dict(requires_grad=True, type='BN')
num_classes = 8
optim_wrapper = dict(
    optimizer=dict(
        betas=(
            0.9,
            0.999,
        ), lr=0.001, type='AdamW', weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys=dict(
            cls_token=dict(decay_mult=0.0), pos_embed=dict(decay_mult=0.0)),
        norm_decay_mult=0.0),
    type='OptimWrapper')
optimizer = dict(
    _scope_='mmseg', lr=0.01, momentum=0.9, type='SGD', weight_decay=0.0005)
param_scheduler = [
    dict(begin=0, by_epoch=False, end=50, start_factor=0.001, type='LinearLR'),
    dict(
        begin=50,
        by_epoch=False,
        end=600,
        eta_min=0.0,
        power=1.0,
        type='PolyLR'),
]
randomness = dict(seed=0)
resume = False
run_policy = [
    '[no GPU] AmpOptimWrapper -> OptimWrapper (fp32): mmengine allows AMP on GPUs only (cpu_bf16=True: bf16 on CPUs that have it)',
    "train_dataloader.dataset: checked sample by sample (CheckedDataset, policy 'error')",
    "val_dataloader.dataset: checked sample by sample (CheckedDataset, policy 'error')",
    "test_dataloader.dataset: checked sample by sample (CheckedDataset, policy 'error')",
]
runner_type = 'LvsegRunner'
test_cfg = dict(_scope_='mmseg', type='TestLoop')
test_dataloader = dict(
    batch_size=1,
    dataset=dict(
        dataset=dict(
            data_prefix=dict(
                img_path='images/validation',
                seg_map_path='annotations/validation'),
            data_root='data/synthetic_ade',
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(keep_ratio=True, scale=(
                    256,
                    128,
                ), type='Resize'),
                dict(reduce_zero_label=True, type='LoadAnnotations'),
                dict(type='PackSegInputs'),
            ],
            reduce_zero_label=True,
            type='ClassFileSegDataset'),
        max_skipped=100,
        policy='error',
        type='CheckedDataset'),
    num_workers=2,
    persistent_workers=True,
    sampler=dict(_scope_='mmseg', shuffle=False, type='DefaultSampler'))
test_evaluator = dict(
    _scope_='mmseg', iou_metrics=[
        'mIoU',
    ], type='IoUMetric')
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(keep_ratio=True, scale=(
        256,
        128,
    ), type='Resize'),
    dict(reduce_zero_label=True, type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_cfg = dict(
    _scope_='mmseg',
    max_iters=600,
    type='IterBasedTrainLoop',
    val_interval=600)
train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        dataset=dict(
            data_prefix=dict(
                img_path='images/training',
                seg_map_path='annotations/training'),
            data_root='data/synthetic_ade',
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(reduce_zero_label=True, type='LoadAnnotations'),
                dict(
                    keep_ratio=True,
                    ratio_range=(
                        0.75,
                        1.5,
                    ),
                    scale=(
                        256,
                        128,
                    ),
                    type='RandomResize'),
                dict(
                    cat_max_ratio=0.75,
                    crop_size=(
                        128,
                        128,
                    ),
                    type='RandomCrop'),
                dict(prob=0.5, type='RandomFlip'),
                dict(type='PackSegInputs'),
            ],
            reduce_zero_label=True,
            type='ClassFileSegDataset'),
        max_skipped=100,
        policy='error',
        type='CheckedDataset'),
    num_workers=2,
    persistent_workers=True,
    sampler=dict(_scope_='mmseg', shuffle=True, type='InfiniteSampler'))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(reduce_zero_label=True, type='LoadAnnotations'),
    dict(
        keep_ratio=True,
        ratio_range=(
            0.75,
            1.5,
        ),
        scale=(
            256,
            128,
        ),
        type='RandomResize'),
    dict(cat_max_ratio=0.75, crop_size=(
        128,
        128,
    ), type='RandomCrop'),
    dict(prob=0.5, type='RandomFlip'),
    dict(type='PackSegInputs'),
]
tta_model = dict(_scope_='mmseg', type='SegTTAModel')
tta_pipeline = [
    dict(_scope_='mmseg', backend_args=None, type='LoadImageFromFile'),
    dict(
        _scope_='mmseg',
        transforms=[
            [
                dict(keep_ratio=True, scale_factor=0.5, type='Resize'),
                dict(keep_ratio=True, scale_factor=0.75, type='Resize'),
                dict(keep_ratio=True, scale_factor=1.0, type='Resize'),
                dict(keep_ratio=True, scale_factor=1.25, type='Resize'),
                dict(keep_ratio=True, scale_factor=1.5, type='Resize'),
                dict(keep_ratio=True, scale_factor=1.75, type='Resize'),
            ],
            [
                dict(direction='horizontal', prob=0.0, type='RandomFlip'),
                dict(direction='horizontal', prob=1.0, type='RandomFlip'),
            ],
            [
                dict(type='LoadAnnotations'),
            ],
            [
                dict(type='PackSegInputs'),
            ],
        ],
        type='TestTimeAug'),
]
val_cfg = dict(_scope_='mmseg', type='ValLoop')
val_dataloader = dict(
    batch_size=1,
    dataset=dict(
        dataset=dict(
            data_prefix=dict(
                img_path='images/validation',
                seg_map_path='annotations/validation'),
            data_root='data/synthetic_ade',
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(keep_ratio=True, scale=(
                    256,
                    128,
                ), type='Resize'),
                dict(reduce_zero_label=True, type='LoadAnnotations'),
                dict(type='PackSegInputs'),
            ],
            reduce_zero_label=True,
            type='ClassFileSegDataset'),
        max_skipped=100,
        policy='error',
        type='CheckedDataset'),
    num_workers=2,
    persistent_workers=True,
    sampler=dict(_scope_='mmseg', shuffle=False, type='DefaultSampler'))
val_evaluator = dict(
    _scope_='mmseg', iou_metrics=[
        'mIoU',
    ], type='IoUMetric')
vis_backends = [
    dict(_scope_='mmseg', type='LocalVisBackend'),
]
visualizer = dict(
    _scope_='mmseg',
    name='visualizer',
    save_dir='/work/main/pictures',
    type='SegLocalVisualizer',
    vis_backends=[
        dict(type='LocalVisBackend'),
    ])
work_dir = 'work_dirs/demo/test'
