"""The TensorBoard switch of the README: a short tools/train.py run writes event files with the loss and mIoU."""
import pytest
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


def assert_loss_and_miou(series: dict[str, list], iters: int) -> None:
    assert [step for step, _ in series['loss']] == list(range(1, iters + 1))
    assert all(value > 0 for _, value in series['loss'])
    assert [step for step, _ in series['mIoU']] == [iters]
    assert 0 <= series['mIoU'][0][1] <= 100


def test_config_recipe_adds_tensorboard_beside_the_local_backend(ade_root, tmp_path):
    config = tmp_path / 'with_tensorboard.py'
    config.write_text(f"_base_ = ['{DEMO_CONFIG}']\n"
                      "visualizer = dict(vis_backends=[dict(type='LocalVisBackend'), "
                      "dict(type='TensorboardVisBackend')])\n")
    run_tool('train.py', str(config), '--work-dir', str(tmp_path), *demo_overrides(ade_root, iters=2), *SMALL)
    assert_loss_and_miou(scalars(tmp_path), iters=2)
    assert list(tmp_path.glob('*/vis_data/scalars.json'))  # the local backend still writes its JSON


def test_cfg_options_recipe_makes_tensorboard_the_backend(ade_root, tmp_path):
    run_tool('train.py', str(DEMO_CONFIG), '--work-dir', str(tmp_path), *demo_overrides(ade_root, iters=2), *SMALL,
             'visualizer.vis_backends.0.type=TensorboardVisBackend')
    assert_loss_and_miou(scalars(tmp_path), iters=2)
