"""The GPU check's report (lvseg/infra/gpu_check/report.py): report.json holds the result, report.md shows it as
tables, and the lines printed at the end name each verdict, each failed check and the time."""
import json
import platform

import torch

from lvseg.infra.gpu_check.plan import BUDGET_S, Step
from lvseg.infra.gpu_check.report import failed_checks, machine, markdown, result, summary_lines, write

MACHINE = {'gpu': 'NVIDIA H100', 'torch': '2.14.1', 'cuda': '13.0', 'python': '3.12.3', 'cpu_cores': 16,
           'commit': 'abc1234'}


def a_result(dry_run: bool = False) -> dict:
    step = Step('train step', ['python', 'bench/train_step.py'], 45, 300)
    step.status, step.seconds, step.log = 'ok', 41.26, 'train_step.log'
    goals = [{'key': 'feed.ratio', 'what': 'can the path feed the step?', 'minimum': 1.0, 'unit': 'x',
              'goal': '>= 1.00x', 'measured': '0.50x', 'verdict': 'not met'}]
    checks = [('step "train step" finished', True), ('no CUDA test failed', False)]
    return result([step], {'feed.ratio': 0.5, 'pretrain.images_per_s': 250.0}, goals, checks, dry_run, MACHINE,
                  setup_seconds=200.0, total_seconds=260.04)


def test_the_result_holds_steps_time_and_everything_judged():
    got = a_result()
    assert got['steps'] == [{'name': 'train step', 'command': ['python', 'bench/train_step.py'], 'status': 'ok',
                             'seconds': 41.3, 'allowance_s': 45, 'log': 'train_step.log'}]
    assert got['time'] == {'total_s': 260.0, 'setup_s': 200.0, 'budget_s': BUDGET_S}
    assert got['machine'] == MACHINE and not got['dry_run']
    assert failed_checks(got) == ['no CUDA test failed']


def test_the_markdown_shows_goals_figures_checks_and_steps_as_tables():
    text = markdown(a_result())
    lines = text.splitlines()
    assert lines[2] == 'NVIDIA H100 · torch 2.14.1 (CUDA 13.0) · Python 3.12.3 · 16 CPU cores · commit abc1234'
    for line in ('| can the path feed the step? | >= 1.00x | 0.50x | not met |', '| feed.ratio | 0.5 |',
                 '| step "train step" finished | pass |', '| no CUDA test failed | FAIL |',
                 '| train step | ok | 41 | 45 | train_step.log |',
                 f'Time: 260 s in all (200 s set-up); budget {BUDGET_S} s.'):
        assert line in lines, line
    assert 'dry run' not in text
    assert markdown(a_result(dry_run=True)).splitlines()[2].endswith(' · **dry run on the CPU, smallest sizes**')


def test_the_report_files_hold_the_result(tmp_path):
    got = a_result()
    write(tmp_path, got)
    assert json.loads((tmp_path / 'report.json').read_text()) == json.loads(json.dumps(got))
    assert (tmp_path / 'report.md').read_text() == markdown(got)
    assert sorted(path.name for path in tmp_path.iterdir()) == ['report.json', 'report.md']


def test_the_closing_lines_name_each_verdict_each_failed_check_and_the_time(tmp_path):
    assert summary_lines(a_result(), tmp_path, total_seconds=260.04) == [
        "gpu-check: augment_on='device': GPU decode + augment + normalize not measured images/s, LV-ViT-S train step "
        "not measured images/s, ratio 0.5; demo pretraining 250.0 images/s with the workers' augmentation, not "
        "measured with the device's",
        'gpu-check: can the path feed the step?: 0.50x (goal >= 1.00x): not met',
        'gpu-check: 1/2 checks passed',
        'gpu-check: FAILED: no CUDA test failed',
        f'gpu-check: 260 s in all (budget {BUDGET_S} s); report: {tmp_path}/report.md and report.json']


def test_the_machine_is_this_one():
    info = machine()
    assert (info['torch'], info['python']) == (torch.__version__, platform.python_version())
    assert info['gpu'] == (torch.cuda.get_device_properties(0).name if torch.cuda.is_available() else 'none (CPU)')
    assert info['commit'] and info['commit'] != 'unknown (no git checkout)'
