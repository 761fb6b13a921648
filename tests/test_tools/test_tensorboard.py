"""The TensorBoard switch of docs/finetuning.md#tensorboard: a short tools/train.py run writes event files with
every scalar the run logged, at its step: equal to the local backend's scalars.json (as float32, TensorBoard's
scalar type), or to the text log as printed."""
import numpy as np
import pytest
from lvseg_testing.run_records import scalars_json, text_log_values
from lvseg_testing.tool_runner import DEMO_CONFIG, demo_overrides, run_tool

pytestmark = pytest.mark.slow
SMALL = ['model.backbone.arch.num_layers=4', 'model.backbone.out_indices=(0,1,2,3)']


def scalars(work_dir) -> dict[str, list]:
    """Every scalar series of the run's event files: ``{tag: [(step, value), ...]}``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = sorted(work_dir.rglob('events.out.tfevents.*'))
    assert events, f'no event file under {work_dir}'
    series = {}
    for event_file in events:
        accumulator = EventAccumulator(str(event_file))
        accumulator.Reload()
        for tag in accumulator.Tags()['scalars']:
            series.setdefault(tag, []).extend((e.step, e.value) for e in accumulator.Scalars(tag))
    return series


def assert_loss_and_miou_steps(series: dict[str, list], iters: int) -> None:
    assert [step for step, _ in series['loss']] == list(range(1, iters + 1))
    assert [step for step, _ in series['mIoU']] == [iters]


def assert_equal_to_scalars_json(series: dict[str, list], records: list[dict]) -> None:
    """Every ``(step, value)`` of ``records`` (scalars.json) under its key in ``series``, and nothing else."""
    expected = {}
    for record in records:
        for key, value in record.items():
            if key != 'step':
                expected.setdefault(key, []).append((record['step'], float(np.float32(value))))
    assert {tag: sorted(values) for tag, values in series.items()} == {
        key: sorted(values) for key, values in expected.items()}


def as_printed(value: float, printed: str) -> str:
    """``value`` formatted as mmengine's text log prints it: learning rates ``.4e``, everything else ``.4f``."""
    return format(value, '.4e' if 'e' in printed else '.4f')


def assert_equal_to_text_log(series: dict[str, list], work_dir, iters: int) -> None:
    """Every scalar the text log printed for training iterations 1..``iters`` and for the validation at ``iters``
    is in ``series`` at that step, equal as printed. Times are printed from float64 seconds, and the event file
    holds them as float32: a value at a rounding boundary may print one last digit apart, so times are within
    1e-4 s."""
    train, val = text_log_values(work_dir)
    assert sorted(train) == list(range(1, iters + 1)) and len(val) == 1
    at_step = {}
    for tag, values in series.items():
        for step, value in values:
            at_step.setdefault(step, {}).setdefault(tag, []).append(value)
    for step, printed_values in [*train.items(), (iters, val[0])]:
        printed_values = {key: value for key, value in printed_values.items() if key != 'eta'}
        assert printed_values and set(printed_values) <= set(at_step[step]), (step, printed_values)
        for key, printed in printed_values.items():
            logged = at_step[step][key]
            if key in ('time', 'data_time'):
                assert any(abs(value - float(printed)) <= 1e-4 for value in logged), (step, key, printed, logged)
            else:
                assert printed in [as_printed(value, printed) for value in logged], (step, key, printed, logged)


def test_config_recipe_adds_tensorboard_beside_the_local_backend(ade_root, tmp_path):
    config = tmp_path / 'with_tensorboard.py'
    config.write_text(f"_base_ = ['{DEMO_CONFIG}']\n"
                      "visualizer = dict(vis_backends=[dict(type='LocalVisBackend'), "
                      "dict(type='TensorboardVisBackend')])\n")
    run_tool('train.py', str(config), '--work-dir', str(tmp_path), *demo_overrides(ade_root, iters=2), *SMALL)
    series = scalars(tmp_path)
    assert_loss_and_miou_steps(series, iters=2)
    assert_equal_to_scalars_json(series, scalars_json(tmp_path))  # the local backend still writes its JSON


def test_cfg_options_recipe_makes_tensorboard_the_backend(ade_root, tmp_path):
    run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(tmp_path), *demo_overrides(ade_root, iters=2), *SMALL,
             'visualizer.vis_backends.0.type=TensorboardVisBackend')
    assert not list(tmp_path.glob('*/vis_data/scalars.json'))  # TensorBoard instead of the local backend
    series = scalars(tmp_path)
    assert_loss_and_miou_steps(series, iters=2)
    assert_equal_to_text_log(series, tmp_path, iters=2)
