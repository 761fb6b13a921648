"""One loading behaviour per kind of file: every kind × every entry point, with the outcome each should have.

The kinds are made from one trained demo segmentor (``tools/train.py``, 2 iterations): its own checkpoint, the same
weights in the official mmseg 0.x layout, a classifier around its trunk (official and lvseg's layout), its trunk
alone, and two files that are no checkpoints. The purposes: a whole segmentor (``tools/test.py``,
``tools/infer.py``, ``load_from``), a whole classifier, a resumed run (``--resume``) and a backbone's
initialisation (``model.pretrained``). The first table runs the routines in this process; the second runs each
entry point as a user does and checks that it gives the same outcome, with the same line.
"""
import shutil
from pathlib import Path

import pytest
import torch
from lvseg_testing.tool_runner import DEMO_CONFIG, demo_overrides, run_tool
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import lvseg  # noqa: F401  (registers lvseg's models)
from lvseg.checkpoints.fit import CheckpointMismatchError
from lvseg.checkpoints.safe_load import UnreadableCheckpointError, load_checkpoint_file
from lvseg.checkpoints.whole_model import load_checkpoint_strictly, missing_training_state

KINDS = ('lvseg segmentor', 'official segmentor', 'official classifier', 'lvseg classifier', 'backbone weights',
         'truncated file', 'text file')
LOADS = 'loads'
NOT_READABLE = 'not a readable checkpoint'
TO_PRETRAINED = 'To fine-tune a segmentor from it, give it to tools/train.py as --cfg-options model.pretrained='
NO_TRAINING_STATE = 'cannot resume from it: it holds no training state'
# kind -> purpose -> LOADS, or a part of the one error line.
EXPECTED = {
    'lvseg segmentor': dict(segmentor=LOADS, classifier='It is a segmentor: give it with a segmentor config',
                            backbone=LOADS, resume=LOADS),
    'official segmentor': dict(segmentor=LOADS, classifier='It is a segmentor: give it with a segmentor config',
                               backbone=LOADS, resume=NO_TRAINING_STATE),
    'official classifier': dict(segmentor=TO_PRETRAINED, classifier=LOADS, backbone=LOADS, resume=NO_TRAINING_STATE),
    'lvseg classifier': dict(segmentor=TO_PRETRAINED, classifier=LOADS, backbone=LOADS, resume=NO_TRAINING_STATE),
    'backbone weights': dict(segmentor=TO_PRETRAINED, classifier="Give the checkpoint of this config's model",
                             backbone=LOADS, resume=NO_TRAINING_STATE),
    'truncated file': dict(segmentor=NOT_READABLE, classifier=NOT_READABLE, backbone=NOT_READABLE,
                           resume=NOT_READABLE),
    'text file': dict(segmentor=NOT_READABLE, classifier=NOT_READABLE, backbone=NOT_READABLE, resume=NOT_READABLE),
}
CLASSES = 10  # of the classifiers made around the demo trunk


def demo_config() -> Config:
    init_default_scope('mmseg')
    return Config.fromfile(DEMO_CONFIG)


def build_segmentor() -> torch.nn.Module:
    return MODELS.build(demo_config().model).eval()


def build_classifier() -> torch.nn.Module:
    """A TokenLabelingClassifier with the demo segmentor's trunk (and a final norm, as classifiers have)."""
    backbone = demo_config().model.backbone
    return MODELS.build(dict(type='TokenLabelingClassifier', num_classes=CLASSES, backbone=dict(
        type='LVViT', arch=backbone.arch, img_size=backbone.img_size, pyramid='none', final_norm=True))).eval()


def official_segmentor_name(key: str) -> str:
    """lvseg's ``backbone.side_layers.K.`` is the official ``backbone.side_layer{K+1}.``; other names are equal."""
    parts = key.split('.')
    if parts[:2] == ['backbone', 'side_layers']:
        return '.'.join(['backbone', f'side_layer{int(parts[2]) + 1}', *parts[3:]])
    return key


@pytest.fixture(scope='module')
def files(ade_root, tmp_path_factory) -> dict[str, Path]:
    """kind -> file, all made from one demo segmentor trained for 2 iterations."""
    folder = tmp_path_factory.mktemp('file_kinds')
    run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(folder / 'work'), *demo_overrides(ade_root, 2))
    trained = folder / 'work/iter_2.pth'
    weights = load_checkpoint_file(trained)['state_dict']
    trunk = {key.removeprefix('backbone.'): value for key, value in weights.items()
             if key.startswith('backbone.') and '.side_layers.' not in key}
    gen = torch.Generator().manual_seed(0)
    width = trunk['cls_token'].shape[-1]
    final_norm = {'norm.weight': 1 + 0.1 * torch.randn(width, generator=gen),
                  'norm.bias': torch.randn(width, generator=gen)}
    heads = {f'{head}.{name}': torch.randn(shape, generator=gen) for head in ('head', 'aux_head')
             for name, shape in (('weight', (CLASSES, width)), ('bias', (CLASSES,)))}
    made = {
        'lvseg segmentor': trained,
        'official segmentor': {'meta': {'mmseg_version': '0.14.1', 'iter': 160000},
                               'state_dict': {official_segmentor_name(k): v for k, v in weights.items()},
                               'optimizer': {'state': {}, 'param_groups': [{'lr': 6e-5, 'params': [0]}]}},
        'official classifier': {'state_dict_ema': {**trunk, **final_norm, **heads}},
        'lvseg classifier': {'meta': {'epoch': 3, 'iter': 24},
                             'state_dict': {**{f'backbone.{k}': v for k, v in {**trunk, **final_norm}.items()},
                                            **heads}},
        'backbone weights': {'meta': {}, 'state_dict': trunk},
    }
    paths = {}
    for kind, content in made.items():
        paths[kind] = folder / f'{kind.replace(" ", "_")}.pth'
        if isinstance(content, Path):
            shutil.copy(content, paths[kind])
        else:
            torch.save(content, paths[kind])
    paths['truncated file'] = folder / 'truncated.pth'
    paths['truncated file'].write_bytes(trained.read_bytes()[:trained.stat().st_size // 2])
    paths['text file'] = folder / 'notes.pth'
    paths['text file'].write_text('not a checkpoint\n')
    return paths


def outcome(load) -> str:
    """LOADS, or the one-line message of the error ``load()`` raised."""
    try:
        load()
    except (CheckpointMismatchError, UnreadableCheckpointError) as error:
        assert '\n' not in str(error)
        return str(error)
    return LOADS


def resume_outcome(path: Path) -> str:
    """What ``LvsegRunner.load_checkpoint`` decides for a file resumed from, before loading any weight."""
    def check():
        missing = missing_training_state(load_checkpoint_file(path))
        if missing:
            raise CheckpointMismatchError(f'{path}: {NO_TRAINING_STATE} ({missing})')
    return outcome(check)


@pytest.mark.slow
@pytest.mark.parametrize('kind', KINDS)
def test_each_kind_of_file_serves_each_purpose_as_the_table_says(files, kind):
    path = files[kind]
    segmentor, classifier = build_segmentor(), build_classifier()
    seen = dict(segmentor=outcome(lambda: load_checkpoint_strictly(segmentor, path)),
                classifier=outcome(lambda: load_checkpoint_strictly(classifier, path)),
                backbone=outcome(lambda: build_segmentor().backbone.load_pretrained(str(path))),
                resume=resume_outcome(path))
    for purpose, expected in EXPECTED[kind].items():
        if expected == LOADS:
            assert seen[purpose] == LOADS, (purpose, seen[purpose])
        else:
            assert seen[purpose].startswith(f'{path}: ') and expected in seen[purpose], (purpose, seen[purpose])
    trained = load_checkpoint_file(files['lvseg segmentor'])['state_dict']
    if EXPECTED[kind]['segmentor'] == LOADS:  # the same tensors, whatever the layout
        for key, value in segmentor.state_dict().items():
            assert torch.equal(value, trained[key]), key
    if EXPECTED[kind]['backbone'] == LOADS:
        backbone = build_segmentor().backbone
        backbone.load_pretrained(str(path))
        assert torch.equal(backbone.blocks[3].attn.qkv.weight, trained['backbone.blocks.3.attn.qkv.weight'])
        if 'segmentor' in kind:  # a segmentor's backbone brings its pyramid along
            assert torch.equal(backbone.side_layers[0][0].weight, trained['backbone.side_layers.0.0.weight'])


def error_line(result) -> str:
    """The one ``error:`` line of a failed tool run, without the prefix."""
    errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
    assert len(errors) == 1 and 'Traceback' not in result.stderr, result.stderr[-3000:]
    return errors[0].removeprefix('error: ')


@pytest.mark.slow
def test_every_entry_point_takes_a_released_segmentor_and_sends_a_classifier_to_model_pretrained(
        files, ade_root, tmp_path):
    """The tools as users run them: each gives, for each file, what the routines above give."""
    data = demo_overrides(ade_root, 2)
    options = data[1:]
    official, classifier = str(files['official segmentor']), str(files['official classifier'])

    def train(*args, **kwargs):
        return run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(tmp_path / 'train'), *args, **kwargs)

    own = run_tool('test.py', str(DEMO_CONFIG), str(files['lvseg segmentor']), '--work-dir', str(tmp_path / 'own'),
                   '--cfg-options', *options)
    released = run_tool('test.py', str(DEMO_CONFIG), official, '--work-dir', str(tmp_path / 'released'),
                        '--cfg-options', *options)
    metrics = [next(line for line in run.stdout.splitlines() + run.stderr.splitlines() if 'test metrics:' in line)
               .split('test metrics:')[1] for run in (own, released)]
    assert metrics[0] == metrics[1]
    refused = run_tool('test.py', str(DEMO_CONFIG), classifier, '--work-dir', str(tmp_path / 'refused'),
                       '--cfg-options', *options, expect_failure=True)
    assert error_line(refused).startswith(outcome(lambda: load_checkpoint_strictly(build_segmentor(), classifier)))

    out = tmp_path / 'infer'
    image = sorted((ade_root / 'images/validation').iterdir())[0]
    for name, path in (('own', files['lvseg segmentor']), ('released', official)):
        run_tool('infer.py', str(DEMO_CONFIG), str(path), str(image), '--out-dir', str(out / name),
                 '--cfg-options', *options)
    labels = [(out / name / 'labels' / f'{image.stem}.png').read_bytes() for name in ('own', 'released')]
    assert labels[0] == labels[1]
    refused = run_tool('infer.py', str(DEMO_CONFIG), classifier, str(image), '--out-dir', str(out / 'no'),
                       expect_failure=True)
    assert TO_PRETRAINED in error_line(refused)

    train(*data, f'load_from={official}')
    assert TO_PRETRAINED in error_line(train(*data, f'load_from={classifier}', expect_failure=True))
    assert NO_TRAINING_STATE in error_line(train('--resume', *data, f'load_from={official}', expect_failure=True))
    for path in (official, classifier, str(files['backbone weights'])):  # each kind's backbone, as the table
        log = train(*data, f'model.pretrained={path}')
        assert 'LVViT: loaded' in log.stdout + log.stderr, path

    converted = tmp_path / 'converted.pth'
    run_tool('convert_checkpoint.py', classifier, str(converted), '--config', str(DEMO_CONFIG))
    assert set(load_checkpoint_file(converted)['state_dict']) == set(load_checkpoint_file(
        files['backbone weights'])['state_dict']) | {'norm.weight', 'norm.bias'}
    run_tool('convert_checkpoint.py', official, str(converted), '--config', str(DEMO_CONFIG))
    assert set(load_checkpoint_file(converted)['state_dict']) == set(load_checkpoint_file(
        files['lvseg segmentor'])['state_dict'])


@pytest.mark.slow
def test_resume_in_a_moved_work_dir_takes_that_dir_s_checkpoint(files, ade_root, tmp_path):
    """last_checkpoint names the original folder's file; the copy resumes from its own, and says so."""
    original = files['lvseg segmentor'].parent / 'work'
    moved = tmp_path / 'moved'
    shutil.copytree(original, moved)
    resumed = run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(moved), '--resume',
                       *demo_overrides(ade_root, 4))
    log = resumed.stdout + resumed.stderr
    assert f'resuming from {moved / "iter_2.pth"}' in log and f'names {original / "iter_2.pth"}' in log
    assert 'resumed' in log.lower() and (moved / 'iter_4.pth').is_file()
