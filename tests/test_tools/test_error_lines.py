"""Errors are one line everywhere: every tool ends a user's mistake in one ``error:`` line on stderr that names the
file (or folder) and says what to do, with exit status 2 and no traceback; ``--debug`` or ``LVSEG_DEBUG=1`` shows
the traceback; anything else (a bug) still raises. And tools/annotate.py's ``--bad-samples`` policy for images that
cannot be decoded."""
import argparse
import errno
import re
import shutil

import numpy as np
import pytest
import torch
from lvseg_testing.timm_models import IMAGENET, save_timm_model
from lvseg_testing.tool_runner import DEMO_CONFIG, run_tool
from PIL import Image

from lvseg.annotator.dense import timm_annotator
from lvseg.annotator.run import Preprocessing, annotate
from lvseg.datasets.label_store import DONE_FILE, INDICES_FILE, KEYS_FILE, SCORES_FILE, read_header
from lvseg.demo.synthetic import write_imagenet_layout
from lvseg.utils import user_errors as user_errors_module
from lvseg.utils.user_errors import (
    DEBUG_ENV,
    UserError,
    add_debug_argument,
    require_file,
    require_writable_folder,
    user_errors,
)

NOT_A_JPEG = b'\xff\xd8\xff\xe0' + b'this is not really a jpeg' * 4
ANNOTATE = ['--model', 'test_efficientnet', '--img-size', '64', '--k', '3']


class ConfigLikeError(ValueError):
    """Stands for a registered user-error type (the engine's ConfigError, ...)."""


def exit_lines(body, capsys, *types) -> tuple[int, list[str]]:
    """The exit status and the stderr lines of ``body()`` run under ``user_errors(*types)``."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        with user_errors(*types):
            body()
    return exit_.value.code, capsys.readouterr().err.splitlines()


def raising(error: BaseException):
    def body():
        raise error
    return body


@pytest.mark.parametrize('error, lines', [
    (UserError('cfg.py: no such config file'), ['error: cfg.py: no such config file']),
    (ConfigLikeError('model.backbone.arch: unknown\nval_dataloader: missing'),
     ['error: model.backbone.arch: unknown', 'error: val_dataloader: missing']),
    (ConfigLikeError('Caught ConfigLikeError in DataLoader worker process 0.\nOriginal Traceback (most recent call '
                     'last):\n  File "x.py", line 1, in f\nmod.ConfigLikeError: img.jpg: the image file is empty'),
     ['error: img.jpg: the image file is empty']),
    (SystemExit('--show-dir needs default_hooks.visualization'),
     ['error: --show-dir needs default_hooks.visualization']),
    (SystemExit('error: a.pth: does not fit'), ['error: a.pth: does not fit']),
    (FileNotFoundError('file "base.py" does not exist'), ['error: file "base.py" does not exist']),
    (FileNotFoundError(errno.ENOENT, 'No such file or directory', 'in/x.png'),
     ['error: in/x.png: no such file or folder; check the path']),
    (PermissionError(errno.EACCES, 'Permission denied', 'out/labels'),
     ['error: out/labels: permission denied; change its permissions or choose a path you may use']),
    (IsADirectoryError(errno.EISDIR, 'Is a directory', 'weights'), ['error: weights: is a folder; give a file']),
    (NotADirectoryError(errno.ENOTDIR, 'Not a directory', 'file/out'),
     ['error: file/out: a part of this path is a file, not a folder; check the path']),
    (FileExistsError(errno.EEXIST, 'File exists', 'out'),
     ['error: out: already exists; remove it or choose another path']),
    (OSError(errno.EROFS, 'Read-only file system', '/ro/out'),
     ['error: /ro/out: read-only file system; choose a folder on a writable disk']),
    (OSError(errno.ENOSPC, 'No space left on device', '/full/iter_8.pth'),
     ['error: /full/iter_8.pth: no space left on the device; free some space or choose another disk']),
])
def test_a_user_error_becomes_its_lines_and_exit_status_2(error, lines, capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert exit_lines(raising(error), capsys, ConfigLikeError) == (2, lines)


@pytest.mark.parametrize('error', [KeyError(101), ValueError('a bug'), OSError('no errno, no file'),
                                   OSError(errno.EIO, 'Input/output error', 'disk'), SystemExit(0), SystemExit(1),
                                   KeyboardInterrupt()])
def test_anything_else_propagates(error, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with pytest.raises(type(error)) as raised:
        with user_errors(ConfigLikeError):
            raise error
    assert raised.value is error


def test_debug_lets_user_errors_propagate_but_a_message_exit_still_prints(monkeypatch, capsys):
    monkeypatch.setenv(DEBUG_ENV, '0')  # restored at teardown, after --debug sets it
    parser = argparse.ArgumentParser()
    add_debug_argument(parser)
    assert parser.parse_args([]).debug is False and not user_errors_module.debug_enabled()
    assert parser.parse_args(['--debug']).debug is True and user_errors_module.debug_enabled()
    error = UserError('cfg.py: no such config file')
    with pytest.raises(UserError) as raised:
        with user_errors():
            raise error
    assert raised.value is error
    assert exit_lines(raising(SystemExit('no traceback to show')), capsys) == (2, ['error: no traceback to show'])


def test_required_files_and_writable_folders(tmp_path, monkeypatch):
    (tmp_path / 'cfg.py').write_text('')
    require_file(tmp_path / 'cfg.py', 'config')
    for path, message in ((tmp_path / 'nowhere.py', f'{tmp_path}/nowhere.py: no such config file'),
                          (tmp_path, f'{tmp_path}: is a folder; give the config file')):
        with pytest.raises(UserError, match=f'^{re.escape(message)}$'):
            require_file(path, 'config')

    require_writable_folder(tmp_path, 'output folder')
    require_writable_folder(tmp_path / 'new/deeper', 'output folder')  # to be created
    blocker = tmp_path / 'cfg.py'
    for path, message in ((blocker, f'{blocker}: is a file, not a folder; choose another output folder'),
                          (blocker / 'out', f'{blocker}/out: {blocker} is a file, not a folder; choose another '
                                            'output folder')):
        with pytest.raises(UserError, match=f'^{re.escape(message)}$'):
            require_writable_folder(path, 'output folder')
    monkeypatch.setattr(user_errors_module.os, 'access', lambda path, mode: False)  # root may write anywhere
    with pytest.raises(UserError, match=re.escape(f'{tmp_path}/new: {tmp_path} is not writable for this user '
                                                  '(permissions); choose another output folder or change its')):
        require_writable_folder(tmp_path / 'new', 'output folder')


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """The inputs of the tool table: files that exist, files that are broken, and a file in an output's way."""
    root = tmp_path_factory.mktemp('inputs')
    paths = dict(root=root, missing_config=root / 'nowhere.py', missing_checkpoint=root / 'nowhere.pth',
                 truncated=root / 'iter_4.pth', text=root / 'notes.pth', a_list=root / 'list.pth',
                 blocker=root / 'a_file', image=root / 'photo.png', weights=root / 'weights.pth',
                 text_onnx=root / 'notes.onnx')
    torch.save({'state_dict': {'w': torch.ones(1000)}}, paths['truncated'])
    paths['truncated'].write_bytes(paths['truncated'].read_bytes()[:2000])
    paths['text'].write_text('hello world\n')  # 'h' is pickle's BINGET: torch.load raised KeyError: 101
    paths['text_onnx'].write_text('hello world\n')
    torch.save([1, 2], paths['a_list'])
    paths['blocker'].write_text('in the way')
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(paths['image'])
    save_timm_model('test_efficientnet', paths['weights'])
    write_imagenet_layout(root / 'imagenet', num_classes=2, per_class_train=2, per_class_val=0, image_size=(32, 32),
                          seed=0)
    paths['images'] = root / 'imagenet/train'
    return paths


def readable_prefix(path) -> str:
    return re.escape(f'error: {path}: not a readable checkpoint, ')


# (tool arguments, the one error line as a regular expression); '{name}' is a path of the `files` fixture.
TABLE = {
    'train, missing config': (['train.py', '{missing_config}', '--work-dir', '{root}/work'],
                              'error: {missing_config}: no such config file'),
    'test, missing config': (['test.py', '{missing_config}', '{weights}'],
                             'error: {missing_config}: no such config file'),
    'pretrain, missing config': (['pretrain.py', '{missing_config}'], 'error: {missing_config}: no such config file'),
    'get_flops, missing config': (['analysis/get_flops.py', '{missing_config}'],
                                  'error: {missing_config}: no such config file'),
    'infer, missing config': (['infer.py', '{missing_config}', '{weights}', '{image}', '--out-dir', '{root}/out'],
                              'error: {missing_config}: no such config file'),
    'annotate, missing config': (['annotate.py', '{images}', '{root}/store', '--config', '{missing_config}',
                                  '--checkpoint', '{weights}'], 'error: {missing_config}: no such config file'),
    'test, missing checkpoint': (['test.py', str(DEMO_CONFIG), '{missing_checkpoint}'],
                                 'error: {missing_checkpoint}: no such checkpoint file'),
    'infer, missing checkpoint': (['infer.py', str(DEMO_CONFIG), '{missing_checkpoint}', '{image}', '--out-dir',
                                   '{root}/out'], 'error: {missing_checkpoint}: no such checkpoint file'),
    'convert, missing checkpoint': (['convert_checkpoint.py', '{missing_checkpoint}', '{root}/out.pth'],
                                    'error: {missing_checkpoint}: no such checkpoint file'),
    'annotate, missing checkpoint': (['annotate.py', '{images}', '{root}/store', *ANNOTATE, '--checkpoint',
                                      '{missing_checkpoint}'], 'error: {missing_checkpoint}: no such checkpoint file'),
    'convert, truncated checkpoint': (['convert_checkpoint.py', '{truncated}', '{root}/out.pth'],
                                      '{truncated_prefix}truncated or not written by torch.save .*; copy or download '
                                      'it again'),
    'annotate, truncated checkpoint': (['annotate.py', '{images}', '{root}/store', *ANNOTATE, '--checkpoint',
                                        '{truncated}'], '{truncated_prefix}truncated .*; copy or download it again'),
    'infer, truncated checkpoint': (['infer.py', str(DEMO_CONFIG), '{truncated}', '{image}', '--out-dir', '{root}/out'],
                                    '{truncated_prefix}truncated .*; copy or download it again'),
    'convert, text file as checkpoint': (['convert_checkpoint.py', '{text}', '{root}/out.pth'],
                                         "{text_prefix}not written by torch.save \\(a zip archive or a pickle\\): it "
                                         "starts with b'hell'; give the checkpoint file"),
    'annotate, text file as checkpoint': (['annotate.py', '{images}', '{root}/store', *ANNOTATE, '--checkpoint',
                                           '{text}'], '{text_prefix}not written by torch.save .*'),
    'convert, a list as checkpoint': (['convert_checkpoint.py', '{a_list}', '{root}/out.pth'],
                                      'error: {a_list}: holds a list, not checkpoint weights .*; give a checkpoint '
                                      'file'),
    'infer, unwritable output folder': (['infer.py', str(DEMO_CONFIG), '{weights}', '{image}', '--out-dir',
                                         '{blocker}/out'],
                                        'error: {blocker}/out: {blocker} is a file, not a folder; choose another '
                                        '--out-dir'),
    'annotate, unwritable store folder': (['annotate.py', '{images}', '{blocker}/store', *ANNOTATE, '--checkpoint',
                                           '{weights}'], 'error: {blocker}/store: {blocker} is a file, not a folder; '
                                                         'choose another label store folder'),
    'convert, unwritable output folder': (['convert_checkpoint.py', '{weights}', '{blocker}/out.pth'],
                                          'error: {blocker}: is a file, not a folder; choose another output path'),
    'make_demo_data, unwritable output folder': (['make_demo_data.py', 'ade20k', '{blocker}/demo'],
                                                 'error: {blocker}: is a file, not a folder; choose another output '
                                                 'folder'),
    'visualize, unwritable output folder': (['visualize.py', 'token-labels', '{images}', '{root}/store',
                                             '{blocker}/pictures'], 'error: {blocker}/pictures: {blocker} is a file, '
                                                                    'not a folder; choose another output folder'),
    'export, missing config': (['export.py', '{missing_config}', '{weights}', '{root}/m.onnx'],
                               'error: {missing_config}: no such config file'),
    'export, missing checkpoint': (['export.py', str(DEMO_CONFIG), '{missing_checkpoint}', '{root}/m.onnx'],
                                   'error: {missing_checkpoint}: no such checkpoint file'),
    'export, truncated checkpoint': (['export.py', str(DEMO_CONFIG), '{truncated}', '{root}/m.onnx'],
                                     '{truncated_prefix}truncated .*; copy or download it again'),
    'export, a checkpoint of another model': (['export.py', str(DEMO_CONFIG), '{weights}', '{root}/m.onnx'],
                                              'error: {weights}: this checkpoint does not fit the model: .*'),
    'export, output not .onnx': (['export.py', str(DEMO_CONFIG), '{weights}', '{root}/m.pth'],
                                 'error: {root}/m.pth: the output file must end in .onnx'),
    'export, unwritable output folder': (['export.py', str(DEMO_CONFIG), '{weights}', '{blocker}/m.onnx'],
                                         'error: {blocker}: is a file, not a folder; choose another output folder'),
    'export, shape too small': (['export.py', str(DEMO_CONFIG), '{weights}', '{root}/m.onnx', '--shape', '16', '64'],
                                'error: --shape 16 64: each side must be at least 32 pixels'),
    'infer, not an ONNX file': (['infer.py', str(DEMO_CONFIG), '{text_onnx}', '{image}', '--out-dir', '{root}/out'],
                                'error: {text_onnx}: onnxruntime cannot load this file \\(.*INVALID_PROTOBUF.*\\)'),
    'label_store, missing store': (['label_store.py', 'info', '{root}/no_store'],
                                   'error: label store {root}/no_store: no such folder'),
}


def filled(text: str, files: dict, escape: bool) -> str:
    values = {name: re.escape(str(path)) if escape else str(path) for name, path in files.items()}
    values.update(truncated_prefix=readable_prefix(files['truncated']), text_prefix=readable_prefix(files['text']))
    return text.format(**values)


@pytest.mark.parametrize('case', TABLE)
def test_each_tool_ends_a_user_error_in_one_line_naming_the_file(case, files):
    arguments, line = TABLE[case]
    result = run_tool(*[filled(argument, files, escape=False) for argument in arguments], expect_failure=True)
    errors = [text for text in result.stderr.splitlines() if text.startswith('error:')]
    assert len(errors) == 1 and re.fullmatch(filled(line, files, escape=True), errors[0]), result.stderr
    assert result.stderr.strip().splitlines()[-1] == errors[0]
    assert 'Traceback' not in result.stderr and result.returncode == 2


def test_debug_and_lvseg_debug_show_the_traceback(files):
    flag = run_tool('train.py', str(files['missing_config']), '--debug', expect_failure=True)
    variable = run_tool('convert_checkpoint.py', str(files['text']), str(files['root'] / 'out.pth'),
                        env={DEBUG_ENV: '1'}, expect_failure=True)
    for result, error in ((flag, 'UserError'), (variable, 'UnreadableCheckpointError')):
        assert 'Traceback (most recent call last)' in result.stderr and error in result.stderr
        assert result.returncode == 1  # Python's status for an uncaught exception


def test_annotate_stops_at_an_image_that_cannot_be_decoded_after_writing_its_batch(files, tmp_path):
    images = tmp_path / 'images'
    shutil.copytree(files['images'], images)
    bad = images / 'n00000001/n00000001_15.JPEG'  # between _1 and _2: in the first batch of two
    bad.write_bytes(NOT_A_JPEG)
    store = tmp_path / 'store'
    result = run_tool('annotate.py', str(images), str(store), *ANNOTATE, '--checkpoint', str(files['weights']),
                      '--batch-size', '2', '--workers', '1', expect_failure=True)
    errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
    assert errors == [f'error: {bad}: cannot be decoded (OpenCV cannot read it: corrupt, or not an image); remove '
                      'or replace it, or run with --bad-samples skip']
    assert 'Traceback' not in result.stderr and result.returncode == 2
    assert np.load(store / DONE_FILE).tolist() == [1, 0, 0, 0, 0]  # the good image of its batch was written


def test_annotate_skips_an_image_that_cannot_be_decoded_and_leaves_its_row_unwritten(files, tmp_path):
    """--bad-samples skip finishes, names the image, and writes the other rows as a run without it writes them."""
    images = tmp_path / 'images'
    shutil.copytree(files['images'], images)
    bad = images / 'n00000001/n00000001_15.JPEG'
    bad.write_bytes(NOT_A_JPEG)
    store = tmp_path / 'store'
    result = run_tool('annotate.py', str(images), str(store), *ANNOTATE, '--checkpoint', str(files['weights']),
                      '--batch-size', '1', '--workers', '1', '--bad-samples', 'skip')
    assert f'annotate: skipped {bad}: cannot be decoded (OpenCV cannot read it: corrupt, or not an image)' \
        in result.stdout
    assert f'annotate: skipped 1 image that cannot be decoded ({bad}); they have no row' in result.stdout
    assert 'annotate: 1 images left' in result.stdout and 'the store is not complete' in result.stdout
    assert not read_header(store).complete

    clean = tmp_path / 'clean'
    annotate(timm_annotator('test_efficientnet', files['weights'], img_size=(64, 64)), files['images'], clean,
             Preprocessing((64, 64), **IMAGENET), 'clean', k=3, batch_size=1, workers=0, log_progress=False)
    keys = (store / KEYS_FILE).read_text().splitlines()
    clean_keys = (clean / KEYS_FILE).read_text().splitlines()
    assert keys == sorted([*clean_keys, 'n00000001/n00000001_15.JPEG'])
    rows = [keys.index(key) for key in clean_keys]
    assert np.load(store / DONE_FILE).tolist() == [int(key in clean_keys) for key in keys]
    for name in (SCORES_FILE, INDICES_FILE):
        assert np.array_equal(np.load(store / name)[rows], np.load(clean / name)), name


def test_annotate_stops_once_more_images_than_max_skipped_cannot_be_decoded(files, tmp_path):
    images = tmp_path / 'images'
    shutil.copytree(files['images'], images)
    for name in ('n00000001/n00000001_15.JPEG', 'n00000002/n00000002_15.JPEG'):
        (images / name).write_bytes(NOT_A_JPEG)
    result = run_tool('annotate.py', str(images), str(tmp_path / 'store'), *ANNOTATE, '--checkpoint',
                      str(files['weights']), '--workers', '0', '--bad-samples', 'skip', '--max-skipped', '1',
                      expect_failure=True)
    errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
    assert errors == [f'error: 2 images cannot be decoded, more than --max-skipped 1; the last: '
                      f'{images}/n00000002/n00000002_15.JPEG (OpenCV cannot read it: corrupt, or not an image)']
    assert result.returncode == 2
