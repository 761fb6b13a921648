"""Judging the GPU check (lvseg/infra/gpu_check/judge.py): the figures of all steps with the feed ratio, and every
goal as the report lists it. The goal's verdicts and the checks: tests/test_tools/test_gpu_check.py."""
from lvseg.infra.gpu_check.judge import GOALS, all_figures, judged_goals
from lvseg.infra.gpu_check.plan import Step


def test_the_figures_of_all_steps_gain_the_feed_ratio_where_both_sides_were_measured():
    bench, pipeline = Step('train step', [], 1, 1), Step('device pipeline', [], 1, 1)
    bench.found = {'train_step.lvseg.images_per_s': 1000.0}
    pipeline.found = {'device_pipeline.cuda_batch': 128.0, 'device_pipeline.cuda_decode_augment_ms': 64.0}
    assert all_figures([bench, pipeline]) == {**bench.found, **pipeline.found,
                                              'feed.device_path_images_per_s': 2000.0,
                                              'feed.train_step_images_per_s': 1000.0, 'feed.ratio': 2.0}
    assert all_figures([bench]) == {**bench.found, 'feed.train_step_images_per_s': 1000.0}  # no None figures


def test_each_goal_is_listed_with_its_goal_shown_as_the_report_shows_it():
    figures = {'train_step.lvseg.peak_fraction': 0.35, 'seg_step.slide.images_per_s': 30.0, 'feed.ratio': 1.5}
    goals = judged_goals(figures, dry_run=False)
    assert [goal['key'] for goal in goals] == [goal.key for goal in GOALS]
    assert [(goal['goal'], goal['measured'], goal['verdict']) for goal in goals] == [
        ('>= 40%', '35.0%', 'not met'), ('>= 30%', 'not measured', 'not measured'),
        ('>= 25.0 images/s', '30.0 images/s', 'met'), ('>= 1.00x', '1.50x', 'met')]
    assert goals[0] == {'key': GOALS[0].key, 'what': GOALS[0].what, 'minimum': 0.40, 'unit': 'fraction',
                        'goal': '>= 40%', 'measured': '35.0%', 'verdict': 'not met'}
    assert {goal['verdict'] for goal in judged_goals(figures, dry_run=True)} == {
        'not judged (dry run on the CPU)', 'not measured'}
