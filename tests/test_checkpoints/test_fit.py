"""A checkpoint that does not fit the model stops the run (lvseg/checkpoints/fit.py, LvsegRunner.load_checkpoint)."""
import re

import pytest
import torch
from lvseg_testing.reliability_runner import run_failing_tool
from lvseg_testing.tool_runner import DEMO_CONFIG, demo_overrides, run_tool

from lvseg.checkpoints.fit import state_dict_fit
from lvseg.checkpoints.safe_load import load_checkpoint_file


def model_state() -> dict:
    shapes = {'backbone.blocks.0.w': (4,), 'backbone.side_layers.0.w': (4,), 'backbone.side_layers.1.w': (4,),
              'decode_head.conv.w': (3, 4), 'decode_head.conv.b': (3,), 'auxiliary_head.w': (2,)}
    return {key: torch.zeros(shape) for key, shape in shapes.items()}


def test_an_exact_checkpoint_fits():
    fit = state_dict_fit(model_state(), model_state())
    assert fit.exact and fit.summary() == ''


def test_missing_and_unexpected_tensors_are_counted_by_module_and_whole_heads_named_once():
    loaded = {k: v for k, v in model_state().items() if k.startswith('backbone.blocks')}
    loaded['head.weight'] = torch.zeros(2)
    fit = state_dict_fit(model_state(), loaded)
    assert not fit.exact
    assert fit.summary() == ("5 of the model's 6 tensors are missing from it (decode_head (all 2), auxiliary_head "
                             '(all 1), backbone.side_layers (2 tensors)); 1 tensors in it have no place in the model '
                             '(head.weight)')


def test_a_tensor_of_another_shape_is_named_with_both_shapes():
    loaded = model_state()
    loaded['decode_head.conv.w'] = torch.zeros(5, 4)
    fit = state_dict_fit(model_state(), loaded)
    assert fit.missing == [] and fit.unexpected == []
    assert fit.summary() == ('1 tensors have another shape (decode_head.conv.w: [5, 4] in the checkpoint, [3, 4] in '
                             'the model)')


@pytest.fixture(scope='module')
def segmentor_checkpoint(ade_root, tmp_path_factory):
    """A demo segmentor trained for 2 iterations: ``work/iter_2.pth``."""
    work = tmp_path_factory.mktemp('fit') / 'work'
    run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(work), *demo_overrides(ade_root, iters=2),
             'train_cfg.val_interval=100')
    return work / 'iter_2.pth'


def pretraining_like(segmentor: dict) -> dict:
    """What a token-labeling pretraining checkpoint of the same backbone holds: the trunk and the two heads."""
    state = {k: v for k, v in segmentor['state_dict'].items()
             if k.startswith('backbone.') and not k.startswith('backbone.side_layers')}
    state.update({'head.weight': torch.zeros(8, 128), 'head.bias': torch.zeros(8),
                  'aux_head.weight': torch.zeros(8, 128), 'aux_head.bias': torch.zeros(8)})
    return {'meta': {}, 'state_dict': state}


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith('error:')]


@pytest.mark.slow
def test_test_tool_refuses_a_pretraining_checkpoint_and_the_right_one_tests(segmentor_checkpoint, ade_root, tmp_path):
    wrong = tmp_path / 'epoch_15.pth'
    torch.save(pretraining_like(load_checkpoint_file(segmentor_checkpoint)), wrong)
    refused = run_failing_tool('test.py', str(DEMO_CONFIG), str(wrong), '--work-dir', str(tmp_path / 't1'),
                               *demo_overrides(ade_root))
    [line] = error_lines(refused)
    assert line.startswith(f'error: {wrong}: this checkpoint does not fit the model: ')
    assert 'decode_head (all ' in line and 'auxiliary_head (all ' in line and 'backbone.side_layers (' in line
    assert 'head (2 tensors), aux_head (2 tensors)' in line
    assert 'it holds a classifier (backbone, head, aux_head)' in line
    assert line.endswith(f'To fine-tune a segmentor from it, give it to tools/train.py as --cfg-options '
                         f'model.pretrained={wrong}')
    assert 'Traceback' not in refused.stderr and not re.search(r'Iter\(test\).*mIoU', refused.stdout + refused.stderr)

    tested = run_tool('test.py', str(DEMO_CONFIG), str(segmentor_checkpoint), '--work-dir', str(tmp_path / 't2'),
                      *demo_overrides(ade_root))
    assert re.search(r'Iter\(test\).*mIoU: \d+\.\d+', tested.stdout + tested.stderr)


@pytest.mark.slow
def test_one_tensor_of_another_shape_is_refused_naming_it(segmentor_checkpoint, ade_root, tmp_path):
    checkpoint = load_checkpoint_file(segmentor_checkpoint)
    checkpoint['state_dict']['decode_head.conv_seg.weight'] = torch.zeros(9, 64, 1, 1)
    wrong = tmp_path / 'reshaped.pth'
    torch.save(checkpoint, wrong)
    refused = run_failing_tool('test.py', str(DEMO_CONFIG), str(wrong), '--work-dir', str(tmp_path / 't'),
                               *demo_overrides(ade_root))
    [line] = error_lines(refused)
    assert ('decode_head.conv_seg.weight: [9, 64, 1, 1] in the checkpoint, [8, 64, 1, 1] in the model' in line)


@pytest.mark.slow
def test_load_strict_false_loads_partially_and_logs_the_summary(segmentor_checkpoint, ade_root, tmp_path):
    partial = tmp_path / 'partial.pth'
    torch.save(pretraining_like(load_checkpoint_file(segmentor_checkpoint)), partial)
    tested = run_tool('test.py', str(DEMO_CONFIG), str(partial), '--work-dir', str(tmp_path / 't'),
                      *demo_overrides(ade_root), 'load_strict=False')
    log = tested.stdout + tested.stderr
    assert 'load_strict=False: loading the tensors that fit.' in log and 'decode_head (all ' in log
    assert re.search(r'Iter\(test\).*mIoU: \d+\.\d+', log)


@pytest.mark.slow
def test_resume_from_a_checkpoint_of_another_model_fails_before_training(segmentor_checkpoint, ade_root, tmp_path):
    other = tmp_path / 'other.pth'
    checkpoint = load_checkpoint_file(segmentor_checkpoint)
    checkpoint['state_dict'] = pretraining_like(checkpoint)['state_dict']
    torch.save(checkpoint, other)
    refused = run_failing_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(tmp_path / 'w'), '--resume',
                               *demo_overrides(ade_root), f'load_from={other}')
    [line] = error_lines(refused)
    assert line.startswith(f'error: {other}: this checkpoint does not fit the model')
    assert 'Iter(train)' not in refused.stdout + refused.stderr
