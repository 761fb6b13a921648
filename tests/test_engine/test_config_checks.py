"""A config that cannot work stops the tools at once with one line per problem, saying what was expected."""
import pytest
import torch
from lvseg_testing.reliability_runner import run_failing_tool
from lvseg_testing.tool_runner import DEMO_CONFIG, PRETRAIN_DEMO_CONFIG, REPO, demo_overrides
from mmengine.config import Config

from lvseg.engine.config_checks import ConfigError, check_config
from lvseg.models.backbones.lvvit import LVViT

HEADLINE_CONFIG = REPO / 'configs/upernet_lvvit.py'


def demo_config(ade_root, tmp_path, **options) -> Config:
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict({f'{split}_dataloader.dataset.data_root': str(ade_root) for split in ('train', 'val', 'test')})
    cfg.work_dir = str(tmp_path / 'work')
    cfg.merge_from_dict(options)
    return cfg


def problems(cfg: Config, splits=('train', 'val')) -> list[str]:
    """The lines of the ConfigError that ``cfg`` raises for a training run that uses ``splits``."""
    with pytest.raises(ConfigError) as error:
        check_config(cfg, splits, initialises_weights=True)
    return str(error.value).splitlines()


def test_the_demo_config_passes(ade_root, tmp_path):
    check_config(demo_config(ade_root, tmp_path), ('train', 'val', 'test'))


def test_num_classes_must_match_the_class_file(ade_root, tmp_path):
    cfg = demo_config(ade_root, tmp_path, **{'model.decode_head.num_classes': 5})
    assert problems(cfg) == [
        f'model.decode_head.num_classes=5 but train_dataloader.dataset has 8 classes ({ade_root}/classes.txt): '
        'expected model.decode_head.num_classes=8',
        f'model.decode_head.num_classes=5 but val_dataloader.dataset has 8 classes ({ade_root}/classes.txt): '
        'expected model.decode_head.num_classes=8']


def test_num_classes_must_match_ade20k(ade_root, tmp_path):
    cfg = Config.fromfile(HEADLINE_CONFIG)
    cfg.merge_from_dict({'train_dataloader.dataset.data_root': str(ade_root), 'work_dir': str(tmp_path),
                         'model.auxiliary_head.num_classes': 151, 'model.pretrained': None})
    assert problems(cfg, ('train',)) == [
        'model.auxiliary_head.num_classes=151 but train_dataloader.dataset has 150 classes (ADE20KDataset): '
        'expected model.auxiliary_head.num_classes=150']


def test_the_headline_config_names_its_pretrained_file_and_training_needs_it(ade_root, tmp_path):
    cfg = Config.fromfile(HEADLINE_CONFIG)
    cfg.merge_from_dict({'train_dataloader.dataset.data_root': str(ade_root), 'work_dir': str(tmp_path)})
    [line] = problems(cfg, ('train',))
    assert line.startswith("model.pretrained: the pretrained weights 'pretrain/lvvit_s-26M-224-83.3.pth.tar' do not "
                           "exist. Put the ImageNet weights there (the official release file "
                           "'lvvit_s-26M-224-83.3.pth.tar', or a checkpoint of tools/pretrain.py")
    assert '--cfg-options model.pretrained=None (the published figures assume pretrained weights)' in line


@pytest.mark.slow
def test_training_the_headline_config_without_its_pretrained_file_stops_before_loading_data(ade_root, tmp_path):
    options = [f'{split}_dataloader.dataset.data_root={ade_root}' for split in ('train', 'val', 'test')]
    failed = run_failing_tool('train.py', str(HEADLINE_CONFIG), '--work-dir', str(tmp_path), '--cfg-options',
                              *options)
    errors = [line for line in failed.stderr.splitlines() if line.startswith('error: ')]
    assert len(errors) == 1 and errors[0].startswith('error: model.pretrained: the pretrained weights')
    assert 'Traceback' not in failed.stderr and 'Iter(train)' not in failed.stdout + failed.stderr


def test_classifier_needs_at_least_the_class_folders(tmp_path):
    for wnid in ('n01', 'n02', 'n03'):
        (tmp_path / 'train' / wnid).mkdir(parents=True)
    cfg = Config.fromfile(PRETRAIN_DEMO_CONFIG)
    cfg.merge_from_dict({'train_dataloader.dataset.data_root': str(tmp_path), 'work_dir': str(tmp_path / 'w'),
                         'model.num_classes': 2})
    assert problems(cfg, ('train',)) == [
        f'model.num_classes=2 but train_dataloader.dataset has 3 classes (the class folders of {tmp_path}/train): '
        'expected model.num_classes >= 3']
    cfg.model.num_classes = 1000  # a subset of ImageNet's classes is fine
    check_config(cfg, ('train',))


def test_missing_data_root_and_image_folder(ade_root, tmp_path):
    cfg = demo_config(ade_root, tmp_path, **{'train_dataloader.dataset.data_root': str(tmp_path / 'nowhere'),
                                             'val_dataloader.dataset.data_prefix.img_path': 'images/val'})
    assert problems(cfg) == [
        f"train_dataloader.dataset.data_root: '{tmp_path}/nowhere' does not exist or is not a folder: expected the "
        'data set folder (set train_dataloader.dataset.data_root=PATH)',
        f"val_dataloader.dataset.data_prefix.img_path: image folder '{ade_root}/images/val' does not exist"]
    check_config(cfg, ('test',))  # only the splits a run uses are checked


def test_work_dir_that_cannot_be_written(ade_root, tmp_path):
    (tmp_path / 'a_file').write_text('')
    cfg = demo_config(ade_root, tmp_path, work_dir=str(tmp_path / 'a_file' / 'work'))
    [line] = problems(cfg)
    assert line.startswith(f"work_dir '{tmp_path}/a_file/work' cannot be written (Not a directory)")


def test_unknown_arch_and_missing_checkpoints(ade_root, tmp_path):
    cfg = demo_config(ade_root, tmp_path, **{'model.backbone.arch': 'huge', 'load_from': 'missing.pth',
                                             'model.pretrained': str(tmp_path / 'lvvit.pth')})
    assert problems(cfg) == [
        "model.backbone.arch: unknown LV-ViT arch 'huge'; expected one of ['large', 'medium', 'small', 'tiny'] "
        "(or ['l', 'm', 's', 't']), or a dict with the keys ['embed_dims', 'mlp_ratio', 'num_heads', "
        "'num_layers', 'skip_lam', 'stem_channels']",
        "load_from: checkpoint 'missing.pth' does not exist",
        f"model.pretrained: the pretrained weights '{tmp_path}/lvvit.pth' do not exist. Put the ImageNet weights "
        "there (the official release file 'lvvit.pth', or a checkpoint of tools/pretrain.py with a config of "
        'configs/pretrain/), or point to them with --cfg-options model.pretrained=PATH; to train from random '
        'initialisation on purpose, --cfg-options model.pretrained=None (the published figures assume pretrained '
        'weights)']
    # testing loads the whole segmentor from its checkpoint: the pretrained file does not matter there
    with pytest.raises(ConfigError, match='load_from') as error:
        check_config(cfg, ('test',))
    assert 'model.pretrained' not in str(error.value)


def test_a_t2t_vit_arch_is_checked_by_its_own_class(tmp_path):
    cfg = Config.fromfile(REPO / 'configs/demo/upernet_t2t-vit-demo_synthetic-128.py')
    cfg.work_dir = str(tmp_path / 'work')
    cfg.model.backbone.arch = 'huge'
    with pytest.raises(ConfigError) as error:
        check_config(cfg, splits=())
    assert str(error.value) == (
        "model.backbone.arch: unknown T2T-ViT arch 'huge'; expected one of ['14', '19', '24', 't-14', 't-19', "
        "'t-24'], or a dict with the keys ['embed_dims', 'mlp_ratio', 'num_heads', 'num_layers', 'token_dims', "
        "'tokens_type']")
    cfg.model.backbone.arch = dict(embed_dims=64, num_layers=4, num_heads=4, mlp_ratio=3.0, token_dims=16,
                                   tokens_type='linformer')
    with pytest.raises(ConfigError, match="model.backbone.arch: T2T-ViT arch: tokens_type must be one of "
                                          r"\['performer', 'transformer'\], got 'linformer'"):
        check_config(cfg, splits=())


@pytest.mark.slow
def test_train_tool_prints_one_line_per_problem_and_no_traceback(ade_root, tmp_path):
    failed = run_failing_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(tmp_path),
                              *demo_overrides(ade_root), 'model.decode_head.num_classes=150',
                              f'val_dataloader.dataset.data_root={tmp_path}/nowhere')
    errors = [line for line in failed.stderr.splitlines() if line.startswith('error: ')]
    assert len(errors) == 2 and 'Traceback' not in failed.stderr
    assert 'expected model.decode_head.num_classes=8' in errors[0]
    assert errors[1].startswith('error: val_dataloader.dataset.data_root:')
    # what the model is built from is checked before anything is built
    failed = run_failing_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(tmp_path),
                              *demo_overrides(ade_root), 'model.backbone.arch=huge')
    errors = [line for line in failed.stderr.splitlines() if line.startswith('error: ')]
    assert len(errors) == 1 and errors[0].startswith("error: model.backbone.arch: unknown LV-ViT arch 'huge'")


@pytest.mark.slow
def test_a_pretrained_backbone_of_another_size_is_named(ade_root, tmp_path):
    """LVViT.check_compatible's error (raised while the runner initialises the weights) reaches the user as one line."""
    other = LVViT(arch=dict(embed_dims=64, num_layers=8, num_heads=4, mlp_ratio=3.0, stem_channels=32, skip_lam=2.0),
                  img_size=128, out_indices=(1, 3, 5, 7), pyramid_out_channels=256)
    torch.save({'state_dict': other.state_dict()}, tmp_path / 'narrow.pth')
    failed = run_failing_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(tmp_path / 'work'),
                              *demo_overrides(ade_root), f'model.pretrained={tmp_path}/narrow.pth')
    [line] = [line for line in failed.stderr.splitlines() if line.startswith('error: ')]
    assert line.startswith(f'error: checkpoint {tmp_path}/narrow.pth holds a') and 'Traceback' not in failed.stderr
    assert 'of depth 8 and embed dim 64, but this backbone has depth 8 and embed dim 128' in line


def test_problems_name_the_keys_the_user_wrote_after_the_runner_wrapped_the_data_sets(ade_root, tmp_path):
    from lvseg.engine.run_policy import apply_run_policy

    cfg = demo_config(ade_root, tmp_path, **{'val_dataloader.dataset.data_root': str(tmp_path / 'nowhere')})
    apply_run_policy(cfg)
    assert cfg.val_dataloader.dataset.type == 'CheckedDataset'
    [line] = problems(cfg, ('val',))
    assert line.startswith('val_dataloader.dataset.data_root: ')
