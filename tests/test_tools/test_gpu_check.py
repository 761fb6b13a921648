"""make gpu-check (tools/gpu_check.sh, tools/gpu_check.py, lvseg/infra/gpu_check/): one line and out where there is
no GPU, figures read from the benchmarks' and tools' output and judged against their goals, a step stopped at the
time limit, and (slow) the whole dry run on the CPU, whose logs show every line the benchmarks print."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from lvseg_testing.run_records import train_records
from lvseg_testing.tool_runner import REPO
from mmengine.config import Config

from lvseg.infra.gpu_check.figures import (
    images_per_s,
    pipeline_figures,
    run_figures,
    seg_step_figures,
    train_step_figures,
)
from lvseg.infra.gpu_check.judge import GOALS, MULTI_GPU_SKIP, checks, feed_figures, judge
from lvseg.infra.gpu_check.plan import PIPELINE_BENCHES, Step, cuda_test_files
from lvseg.infra.gpu_check.report import feed_line
from lvseg.infra.gpu_check.run import run_step

TRAIN_STEP_OUTPUT = """bench/train_step.py: one train step (forward + loss + backward + AdamW) at 224 px
images/s lvseg: 3.20  achieved 63.0 GFLOP/s  step median 2.500 s (min 2.4, max 2.6)
images/s timm-peer: 3.96  achieved 61.8 GFLOP/s  step median 2.0 s (min 2.0, max 2.1)
"""
SEG_STEP_OUTPUT = """images/s train: 0.134  step median 14.9 s (min 14.8, max 15.0)  peak RSS 4636 MiB (RSS before)
images/s train with_cp: 0.134  step median 14.9 s  peak RSS 4031 MiB (RSS before the first step 1004 MiB)  [x]
images/s slide: 0.243  step median 4.1 s (min 4.1, max 4.1)  peak RSS 1841 MiB (RSS before 990 MiB)  [y]
"""


def gpu_check_sh(tmp_path, **env) -> subprocess.CompletedProcess:
    """tools/gpu_check.sh with this test's environment as VENV and a report folder in ``tmp_path``."""
    env = dict(os.environ, VENV=sys.prefix, REPORT_DIR=str(tmp_path / 'report'), **env)
    return subprocess.run(['bash', 'tools/gpu_check.sh'], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=1800)


@pytest.mark.skipif(torch.cuda.is_available(), reason='the check runs when CUDA is there')
def test_without_cuda_it_stops_at_once_with_one_line(tmp_path):
    result = gpu_check_sh(tmp_path)
    assert result.returncode == 1
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('gpu-check: no CUDA device visible to torch')
    assert not (tmp_path / 'report').exists()


def test_bench_figures_are_read_from_their_lines():
    figures = train_step_figures('train_step')(TRAIN_STEP_OUTPUT)
    assert figures['train_step.lvseg.images_per_s'] == 3.20
    assert figures['train_step.lvseg.achieved_gflop_per_s'] == 63.0
    assert figures['train_step.lvseg.peak_fraction'] is None  # the CPU has no datasheet peak: "not measured"
    figures = seg_step_figures(SEG_STEP_OUTPUT)
    assert figures['seg_step.train.images_per_s'] == 0.134 and figures['seg_step.train.peak_mib'] == 4636
    assert figures['seg_step.slide.images_per_s'] == 0.243 and figures['seg_step.slide.peak_mib'] == 1841


def test_bf16_figures_and_peak_fractions_are_read_where_several_precisions_are_timed():
    log = ('images/s lvseg [fp32]: 900.00  achieved 100.0 GFLOP/s  0.101 of the datasheet peak, 0.127 of the matmul '
           'ceiling\n'
           'images/s lvseg [bf16]: 3100.50  achieved 408000.0 GFLOP/s  0.412 of the datasheet peak, 0.520 of the '
           'matmul ceiling\n'
           'images/s train with_cp [bf16]: 20.000  achieved 99.0 GFLOP/s  peak allocated 9000 MiB  [train]\n'
           'images/s train [bf16]: 30.000  achieved 300000.0 GFLOP/s  peak allocated 12000 MiB  0.303 of the '
           'datasheet peak, 0.380 of the matmul ceiling  [train, batch 2 x 512x512]\n')
    figures = train_step_figures('train_step')(log)
    assert figures['train_step.lvseg.images_per_s'] == 3100.5
    assert figures['train_step.lvseg.peak_fraction'] == 0.412 and figures['train_step.lvseg.matmul_fraction'] == 0.52
    figures = seg_step_figures(log)
    assert figures['seg_step.train.images_per_s'] == 30.0 and figures['seg_step.train.peak_mib'] == 12000
    assert figures['seg_step.train.peak_fraction'] == 0.303 and figures['seg_step.slide.images_per_s'] is None


def test_pipeline_bench_figures_take_every_pipeline_ratio_and_the_cuda_batch():
    log = ('images/s timm: 415.0 (range 342.0-431.0)  ms/image 2.41\n'
           'images/s device-workers: 2500.0 (range 2400.0-2600.0)  ms/image 0.40\n'
           'images/s cpu lvseg+store: 450.5 (range 440.0-460.0)  ms/image 2.22\n'
           'ratio device-workers/timm: paired by round 6.02 (range 5.80-6.30)\n'
           'CUDA, batch of 128: decode (nvjpeg) 21.5 (range 20.0-23.0) ms; decode + augment + normalize 30.2 '
           '(range 29.0-31.0) ms (unverified)\n')
    figures = pipeline_figures('device_pipeline')(log)
    assert figures == {'device_pipeline.timm.images_per_s': 415.0,
                       'device_pipeline.device-workers.images_per_s': 2500.0,
                       'device_pipeline.cpu.lvseg+store.images_per_s': 450.5,
                       'device_pipeline.ratio.device-workers/timm': 6.02, 'device_pipeline.cuda_batch': 128.0,
                       'device_pipeline.cuda_decode_ms': 21.5,
                       'device_pipeline.cuda_decode_augment_ms': 30.2}


# A step that outlives any limit, and a process it started: that process's pid, written (whole) to argv[1].
SLEEPER = '''
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])
with open(sys.argv[1] + '.part', 'w') as file:
    file.write(str(child.pid))
os.replace(sys.argv[1] + '.part', sys.argv[1])
time.sleep(600)
'''


def has_ended(pid: int) -> bool:
    """Whether process ``pid`` is gone or a zombie (dead; its new parent may not have reaped it yet)."""
    try:
        return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] == 'Z'
    except FileNotFoundError:
        return True


def test_a_time_limit_stops_a_step_and_starts_no_more(tmp_path, monkeypatch):
    quick = Step('quick one', [sys.executable, '-c', 'print("images/s lvseg: 5.0")'], 1, 60,
                 figures=train_step_figures('train_step'))
    run_step(quick, tmp_path, seconds_left=60.0)
    assert quick.status == 'ok' and quick.found == {'train_step.lvseg.images_per_s': 5.0}
    assert (tmp_path / 'quick_one.log').read_text().endswith('images/s lvseg: 5.0\n')

    pid_file, started = tmp_path / 'grandchild.pid', []

    class StartedPopen(subprocess.Popen):
        """run_step's Popen, back once the sleeper has started its own process: the limit counts from there."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)
            while not pid_file.exists() and self.poll() is None:
                time.sleep(0.01)

    slow = Step('sleeper', [sys.executable, '-c', SLEEPER, str(pid_file)], 1, 60)
    with monkeypatch.context() as patch:
        patch.setattr(subprocess, 'Popen', StartedPopen)
        run_step(slow, tmp_path, seconds_left=1.0)
    assert slow.status == 'stopped after 1 s'
    assert started[0].returncode == -signal.SIGKILL  # killed by the limit, not finished
    # the process it started is killed with its session (SIGKILL may take a moment to land: a hang guard)
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 60
    while not has_ended(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert has_ended(grandchild)
    assert (tmp_path / 'sleeper.log').read_text().startswith('$ ')
    late = Step('late', [sys.executable, '-c', 'pass'], 1, 60)
    run_step(late, tmp_path, seconds_left=0.0)
    assert late.status == 'not started: the time limit was reached' and not (tmp_path / 'late.log').exists()


def test_the_cuda_tests_are_collected_from_the_files_that_mark_them():
    files = cuda_test_files()
    assert 'tests/test_cuda.py' in files and 'tests/test_tools/test_gpu_check.py' not in files


def write_scalars(work_dir, losses):
    run = work_dir / '20260101_000000/vis_data'
    run.mkdir(parents=True)
    records = [{'loss': loss, 'iter': i + 1} for i, loss in enumerate(losses)] + [{'accuracy/top1': 50.0}]
    (run / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in records) + '\n')
    (work_dir / 'demo.py').write_text("optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')\n")


def test_a_runs_losses_must_be_finite_and_fall(tmp_path):
    falling, broken = tmp_path / 'falling', tmp_path / 'broken'
    write_scalars(falling, [2.1, 2.0, 2.05, 1.9, 1.95, 1.8, 1.7, 1.75, 1.6, 1.5])
    write_scalars(broken, [2.1, 2.0, float('nan'), 1.9])
    good = run_figures(falling, 'train', 2)('')
    assert good['train.all_finite'] and good['train.falls'] and good['train.amp_dtype'] == 'bfloat16'
    assert good['train.iterations_logged'] == 10 and good['train.loss_last'] == 1.5
    assert not run_figures(broken, 'train', 2)('')['train.all_finite']
    figures = {**good, 'pretrain.all_finite': True, 'pretrain.falls': False, 'pretrain.amp_dtype': 'bfloat16',
               'pretrain_device.all_finite': True, 'pretrain_device.falls': True,
               'pretrain_device.amp_dtype': 'bfloat16', 'cuda_tests.failed': 0, 'cuda_tests.skipped': 1,
               'cuda_tests.passed': 6, 'cuda_tests.skip_reasons': [MULTI_GPU_SKIP]}  # a 1-GPU node
    failed = [what for what, ok in checks([], figures, dry_run=False) if not ok]
    assert failed == ['pretrain: loss falls (mean of the last 5 < mean of the first 5)']
    figures['cuda_tests.skip_reasons'] = [MULTI_GPU_SKIP, 'needs a CUDA device (make gpu-check)']
    failed = [what for what, ok in checks([], figures, dry_run=False) if not ok]
    assert 'CUDA tests ran (none skipped but those needing more GPUs)' in failed


def test_goals_are_met_missed_unmeasured_or_left_unjudged_in_a_dry_run():
    goal = GOALS[2]  # slide inference, images/s
    assert judge(goal, {goal.key: 31.0}, dry_run=False) == ('31.0 images/s', 'met')
    assert judge(goal, {goal.key: 12.5}, dry_run=False) == ('12.5 images/s', 'not met')
    assert judge(goal, {}, dry_run=False) == ('not measured', 'not measured')
    assert judge(goal, {goal.key: 0.2}, dry_run=True)[1] == 'not judged (dry run on the CPU)'
    fraction = GOALS[0]
    assert judge(fraction, {fraction.key: 0.412}, dry_run=False) == ('41.2%', 'met')


def test_the_device_path_is_set_beside_the_train_step_it_must_feed():
    figures = {'device_pipeline.cuda_batch': 128.0, 'device_pipeline.cuda_decode_augment_ms': 40.0,
               'train_step.lvseg.images_per_s': 1600.0}
    feed = feed_figures(figures)
    assert feed == {'feed.device_path_images_per_s': 3200.0, 'feed.train_step_images_per_s': 1600.0, 'feed.ratio': 2.0}
    goal = next(goal for goal in GOALS if goal.key == 'feed.ratio')
    assert judge(goal, feed, dry_run=False) == ('2.00x', 'met')
    assert judge(goal, {'feed.ratio': 0.5}, dry_run=False) == ('0.50x', 'not met')
    assert feed_figures({'train_step.lvseg.images_per_s': 1600.0})['feed.ratio'] is None
    line = feed_line({**figures, **feed, 'pretrain.images_per_s': 250.0})
    assert line == ("gpu-check: augment_on='device': GPU decode + augment + normalize 3200.0 images/s, LV-ViT-S train "
                    "step 1600.0 images/s, ratio 2.0; demo pretraining 250.0 images/s with the workers' augmentation, "
                    "not measured with the device's")


def test_a_runs_images_per_second_come_from_the_later_half_of_its_iteration_times(tmp_path):
    run = tmp_path / '20261207_000000' / 'vis_data'
    run.mkdir(parents=True)
    times = [5.0, 3.0, 0.5, 0.4, 0.25, 0.5]  # the first iterations warm up
    run.joinpath('scalars.json').write_text(''.join(json.dumps({'loss': 1.0, 'time': t, 'step': i + 1}) + '\n'
                                                    for i, t in enumerate(times)))
    assert images_per_s(tmp_path, batch=32) == 32 / 0.4  # the median of the last three


@pytest.mark.slow
def test_dry_run_runs_every_step_on_the_cpu_and_writes_the_report(tmp_path):
    result = gpu_check_sh(tmp_path, DRY_RUN='1')
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads((tmp_path / 'report/report.json').read_text())
    assert report['dry_run'] and report['machine']['gpu'] == 'none (CPU)'
    names = [step['name'] for step in report['steps']]
    pipelines = [name.replace('_', ' ') for name in PIPELINE_BENCHES if (REPO / f'bench/{name}.py').is_file()]
    assert names == ['cuda tests', 'train step', 'seg step', 'demo data, ImageNet layout', 'demo data, ADE20K layout',
                     'pretrain 6 iterations', "pretrain 6 iterations, augment_on='device'", 'train 6 iterations',
                     *pipelines, 'train step compiled']
    assert all(step['status'] == 'ok' and (tmp_path / 'report' / step['log']).is_file() for step in report['steps'])
    figures = report['figures']
    assert figures['cuda_tests.failed'] == 0 and figures['cuda_tests.passed'] == 0 and figures['cuda_tests.skipped'] > 0
    assert figures['cuda_tests.skip_reasons'] == [MULTI_GPU_SKIP, 'needs a CUDA device (make gpu-check)']
    for run in ('pretrain', 'pretrain_device', 'train'):
        assert figures[f'{run}.iterations_logged'] == 6 and figures[f'{run}.all_finite'], run
    logs = logs_of(tmp_path, report)
    assert_the_report_carries_the_printed_figures(figures, logs, tmp_path / 'report')
    assert "augment_on='device': train workers read image bytes" in logs["pretrain 6 iterations, augment_on='device'"]
    feed = (f"gpu-check: augment_on='device': GPU decode + augment + normalize not measured images/s, LV-ViT-S train "
            f"step {figures['train_step.lvseg.images_per_s']:.1f} images/s, ratio not measured; demo pretraining "
            f"{figures['pretrain.images_per_s']:.1f} images/s with the workers' augmentation, "
            f"{figures['pretrain_device.images_per_s']:.1f} with the device's")
    assert re.search(f'^{re.escape(feed)}$', result.stdout, re.M), result.stdout[-3000:]
    assert [goal['verdict'] for goal in report['goals'] if goal['measured'] != 'not measured'] == \
        ['not judged (dry run on the CPU)'] * sum(goal['measured'] != 'not measured' for goal in report['goals'])
    assert all(ok for _, ok in report['checks'])
    text = (tmp_path / 'report/report.md').read_text()
    assert all(goal['what'] in text for goal in report['goals']) and 'dry run on the CPU' in text
    assert 'gpu-check: time budget 720 s' in result.stdout
    assert_train_step_lines(logs['train step'])
    assert_train_step_ratios(logs['train step'])
    assert re.search(r'^images/s lvseg \[fp32\]: ', logs['train step compiled'], re.M)
    assert 'images/s naive' not in logs['train step compiled']  # --models lvseg: the model that matters, alone
    assert_seg_step_lines(logs['seg step'])
    assert_seg_step_ratios(logs['seg step'])
    assert_data_pipeline_lines(logs['data pipeline'])
    assert_data_pipeline_ratios(logs['data pipeline'])
    assert_device_pipeline_lines(logs['device pipeline'])


def logs_of(tmp_path, report: dict) -> dict[str, str]:
    """Each step's log, by step name."""
    return {step['name']: (tmp_path / 'report' / step['log']).read_text() for step in report['steps']}


# What the benchmarks print, checked on the dry run's logs (their short mode, one step): every figure and ratio.
NUMBER = r'[\d.]+'


def assert_train_step_lines(out: str) -> None:
    assert 'torch threads 1' in out and 'FlopAnalyzer' in out and 'a multiply-add as 2 FLOPs' in out
    for name in ('lvseg', 'timm-peer', r'timm-peer\+stem', 'naive'):
        assert re.search(rf'^flops {name}: forward {NUMBER} GMACs/image, train {NUMBER} GFLOPs/image', out, re.M)
        for tag in ('fp32', 'bf16'):
            assert re.search(rf'^images/s {name} \[{tag}\]: {NUMBER}  achieved {NUMBER} GFLOP/s  step median', out,
                             re.M)
        assert re.search(rf'^speed-up bf16/fp32 {name}: images/s {NUMBER}; paired by round: median {NUMBER}', out,
                         re.M)
        assert re.search(rf'^\| {name} \| {NUMBER} \| {NUMBER} \|$', out, re.M)
    for ref in ('timm-peer', r'timm-peer\+stem', 'naive'):
        for tag in ('fp32', 'bf16'):
            assert re.search(rf'^ratio lvseg/{ref} \[{tag}\]: images/s {NUMBER}, FLOP/s {NUMBER}; images/s paired '
                             'by round', out, re.M)
    for tag in ('fp32', 'bf16'):
        assert re.search(rf'^stem \(channels-last\) \[{tag}\]: patch_embed forward\+backward median {NUMBER} s .* = '
                         rf'{NUMBER}% of the lvseg step', out, re.M)
        assert re.search(rf'^timm-peer step \+ the stem alone \[{tag}\]: {NUMBER} s, {NUMBER}x the lvseg step', out,
                         re.M)
        assert re.search(rf'^stem NCHW \[{tag}\]: median {NUMBER} s .*; the lvseg stem runs at {NUMBER}x its speed',
                         out, re.M)
    assert re.search(r'^attention: lvseg chose cpu float32 training, up to \d+ tokens -> fused; '
                     r'cpu bfloat16 training, up to \d+ tokens -> explicit; naive: 16 modules explicit', out, re.M)


def assert_seg_step_lines(out: str) -> None:
    assert re.search(rf'^flops: forward {NUMBER} GMACs per \d+x\d+ train image .* {NUMBER} GMACs per slide window',
                     out, re.M)
    for case in ('train', 'train with_cp', 'slide'):
        assert re.search(rf'^images/s {case} \[fp32\]: {NUMBER}  achieved {NUMBER} GFLOP/s  step median {NUMBER} s '
                         rf'.*  peak RSS {NUMBER} MiB', out, re.M)
    assert re.search(rf'^with_cp on/off \[fp32\]: step time {NUMBER}x, peak memory {NUMBER}x', out, re.M)


def assert_data_pipeline_lines(out: str) -> None:
    assert re.search(r'^machine: .*; one process, torch threads 1; .*; commit \S+$', out, re.M)
    assert re.search(rf'^photos: 16 JPEGs .* {NUMBER}x{NUMBER} px on average', out, re.M)
    assert re.search(rf'^rounds: 2 paired rounds of 16 images .* load average {NUMBER} before, {NUMBER} after',
                     out, re.M)
    spread = rf'{NUMBER} \(range {NUMBER}-{NUMBER}\)'
    for clock in ('cpu', 'wall'):
        for name in ('timm', r'timm\+map', 'lvseg', 'lvseg-files', 'lvseg-store'):
            assert re.search(rf'^images/s {clock} {name}: {spread}  ms/image {NUMBER}$', out, re.M), (clock, name)
        for name, ref in (('lvseg', 'timm'), ('lvseg-files', r'timm\+map'), ('lvseg-store', 'timm'),
                          ('lvseg-store', r'timm\+map')):
            assert re.search(rf'^ratio {clock} {name}/{ref}: paired by round {spread}; of the medians {NUMBER}$',
                             out, re.M), (clock, name, ref)
    assert re.search(r'^timm samples drawn again after a posterize to 0 bits \(Pillow 13 refuses it\): ', out, re.M)


def assert_device_pipeline_lines(out: str) -> None:
    for name in ('timm', r'timm\+map', 'device-workers', 'device-whole', 'cpu-whole'):
        assert re.search(rf'^images/s {name}: {NUMBER} \(range {NUMBER}-{NUMBER}\)  ms/image {NUMBER}$', out, re.M)
    for ratio in (r'device-workers/timm', r'device-workers/timm\+map', 'device-whole/cpu-whole', 'device-whole/timm'):
        assert re.search(rf'^ratio {ratio}: paired by round {NUMBER} \(range', out, re.M)


# The report's figures are numbers the steps printed, and each ratio a bench prints is the quotient of figures it
# printed beside it, to the precision printed: a printed number stands for any value within half a unit of its last
# digit, so a quotient of printed numbers is an interval.
Interval = tuple[float, float]


def shown(text: str) -> Interval:
    """The values a number printed as ``text`` stands for."""
    half = 0.5 * 10.0 ** -len(text.partition('.')[2])
    return float(text) - half, float(text) + half


def quotient(numerator: Interval, denominator: Interval, scale: float = 1.0) -> Interval:
    return scale * numerator[0] / denominator[1], scale * numerator[1] / denominator[0]


def is_shown_as(value: Interval, text: str) -> bool:
    """Whether a value of the interval ``value`` prints as ``text``."""
    low, high = shown(text)
    return value[0] <= high and low <= value[1]


def assert_the_report_carries_the_printed_figures(figures: dict, logs: dict[str, str], report_dir) -> None:
    """Every benchmark figure of the report is the number its step printed (the bf16 line where the train step times
    two precisions); a tool run's losses are its first and last logged ones, its images/s its batch over the median
    of the later half of its logged iteration times."""
    for step, prefix in (('train step', 'train_step.lvseg'), ('train step compiled', 'train_step_compiled.lvseg')):
        lines = {tag: (images, gflops) for tag, images, gflops in re.findall(
            rf'^images/s lvseg \[(\w+)\]: ({NUMBER})  achieved ({NUMBER}) GFLOP/s', logs[step], re.M)}
        images, gflops = lines.get('bf16', lines['fp32'])
        assert (figures[f'{prefix}.images_per_s'], figures[f'{prefix}.achieved_gflop_per_s']) == \
            (float(images), float(gflops)), step
    for case in ('train', 'slide'):
        printed = re.search(rf'^images/s {case} \[fp32\]: ({NUMBER})  achieved ({NUMBER}) GFLOP/s .*  peak RSS '
                            rf'({NUMBER}) MiB', logs['seg step'], re.M).groups()
        assert tuple(figures[f'seg_step.{case}.{key}'] for key in ('images_per_s', 'achieved_gflop_per_s',
                                                                    'peak_mib')) == tuple(map(float, printed)), case
    for step, prefix in (('data pipeline', 'data_pipeline'), ('device pipeline', 'device_pipeline')):
        for what, value in re.findall(rf'^images/s ([^:\n]+): ({NUMBER})', logs[step], re.M):
            assert figures[f'{prefix}.{what.replace(" ", ".")}.images_per_s'] == float(value), what
        for what, value in re.findall(rf'^ratio ([^:\n]+): paired by round ({NUMBER})', logs[step], re.M):
            assert figures[f'{prefix}.ratio.{what.replace(" ", ".")}'] == float(value), what
    for run in ('pretrain', 'pretrain_device', 'train'):
        work = report_dir / run
        losses, times = zip(*[(record['loss'], record['time']) for record in train_records(work)])
        later = sorted(times[len(times) // 2:])
        batch = Config.fromfile(next(work.glob('*.py'))).train_dataloader.batch_size
        assert (figures[f'{run}.loss_first'], figures[f'{run}.loss_last']) == (losses[0], losses[-1]), run
        assert figures[f'{run}.images_per_s'] == batch / later[len(later) // 2], run


def assert_train_step_ratios(out: str) -> None:
    """bench/train_step.py: achieved FLOP/s are the train FLOPs per image times images/s; lvseg over each peer
    (images/s: the peer's step time over lvseg's; FLOP/s), bf16 over fp32, the stem's share of the lvseg step, the
    peer's step plus the stem, and the NCHW stem's time over the channels-last one's are the quotients (and the
    sum) of the figures printed."""
    train_gflops = dict(re.findall(rf'^flops (\S+): forward {NUMBER} GMACs/image, train ({NUMBER}) GFLOPs', out, re.M))
    step, achieved = {}, {}
    for name, tag, images, gflops, seconds in re.findall(rf'^images/s (\S+) \[(\w+)\]: ({NUMBER})  achieved '
                                                         rf'({NUMBER}) GFLOP/s  step median ({NUMBER}) s', out, re.M):
        step[name, tag], achieved[name, tag] = shown(seconds), shown(gflops)
        train, rate = shown(train_gflops[name]), shown(images)
        assert is_shown_as((train[0] * rate[0], train[1] * rate[1]), gflops), (name, tag)
    assert len(step) == 8
    for ref, tag, images, flops in re.findall(rf'^ratio lvseg/(\S+) \[(\w+)\]: images/s ({NUMBER}), FLOP/s '
                                              rf'({NUMBER});', out, re.M):
        assert is_shown_as(quotient(step[ref, tag], step['lvseg', tag]), images), (ref, tag)
        assert is_shown_as(quotient(achieved['lvseg', tag], achieved[ref, tag]), flops), (ref, tag)
    for name, speed_up in re.findall(rf'^speed-up bf16/fp32 (\S+): images/s ({NUMBER});', out, re.M):
        assert is_shown_as(quotient(step[name, 'fp32'], step[name, 'bf16']), speed_up), name
    for tag in ('fp32', 'bf16'):
        stem, share = re.search(rf'^stem \(channels-last\) \[{tag}\]: patch_embed forward\+backward median ({NUMBER}) '
                                rf's .* = ({NUMBER})% of the lvseg step', out, re.M).groups()
        assert is_shown_as(quotient(shown(stem), step['lvseg', tag], scale=100), share), tag
        both, times = re.search(rf'^timm-peer step \+ the stem alone \[{tag}\]: ({NUMBER}) s, ({NUMBER})x', out,
                                re.M).groups()
        peer = step['timm-peer', tag]
        assert is_shown_as((peer[0] + shown(stem)[0], peer[1] + shown(stem)[1]), both), tag
        assert is_shown_as(quotient(shown(both), step['lvseg', tag]), times), tag
        nchw, speed = re.search(rf'^stem NCHW \[{tag}\]: median ({NUMBER}) s .*; the lvseg stem runs at ({NUMBER})x',
                                out, re.M).groups()
        assert is_shown_as(quotient(shown(nchw), shown(stem)), speed), tag


def assert_seg_step_ratios(out: str) -> None:
    """bench/seg_step.py's with_cp on/off: the step times' and the peak RSS's quotients of the printed figures."""
    cases = {case: (shown(seconds), shown(peak)) for case, seconds, peak in re.findall(
        rf'^images/s (train|train with_cp) \[fp32\]: .* step median ({NUMBER}) s .*  peak RSS ({NUMBER}) MiB', out,
        re.M)}
    step_time, peak = re.search(rf'^with_cp on/off \[fp32\]: step time ({NUMBER})x, peak memory ({NUMBER})x', out,
                                re.M).groups()
    assert is_shown_as(quotient(cases['train with_cp'][0], cases['train'][0]), step_time)
    assert is_shown_as(quotient(cases['train with_cp'][1], cases['train'][1]), peak)


def assert_data_pipeline_ratios(out: str) -> None:
    """bench/data_pipeline.py: each ratio "of the medians" is the quotient of the two pipelines' printed images/s."""
    rates = {what: shown(value) for what, value in re.findall(rf'^images/s ([^:\n]+): ({NUMBER})', out, re.M)}
    ratios = re.findall(rf'^ratio (\w+) (\S+)/(\S+): paired by round .*; of the medians ({NUMBER})$', out, re.M)
    assert len(ratios) == 8
    for clock, name, ref, medians in ratios:
        assert is_shown_as(quotient(rates[f'{clock} {name}'], rates[f'{clock} {ref}']), medians), (clock, name, ref)
