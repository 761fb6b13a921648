"""Every CUDA path of lvseg and its GPU figures, in one run that needs nothing from the network.

    python tools/gpu_check.py REPORT_DIR [--dry-run] [--setup-seconds 240] [--limit-seconds 720]

Started by ``tools/gpu_check.sh`` (``make gpu-check``), which first stops where there is no GPU and sets the
environment up offline if needed. The steps, each in its own process with its log in REPORT_DIR, in the order of
what a short GPU slot should show first:

1. the tests marked ``cuda`` (``pytest -m cuda``: AMP in bf16 and in fp16 with the loss scaler, SyncBN through the
   tools' process group, the fused attention kernel, the annotator and the token-label targets on the GPU);
2. ``bench/train_step.py --device cuda --amp bf16`` and ``bench/seg_step.py --device cuda --amp bf16``;
3. the demo data (``tools/make_demo_data.py``), then 20 iterations of ``tools/pretrain.py`` (with the augmentation
   in the data loader workers, then with ``augment_on='device'``: decoded and augmented on the GPU) and of
   ``tools/train.py`` on the demo configs in bf16: the loss must stay finite and fall;
4. ``bench/data_pipeline.py`` and ``bench/device_pipeline.py`` where they exist (with ``--device cuda`` where
   they take it);
5. ``bench/train_step.py`` again with ``--compile`` (minutes of compiling).

Side by side, it then prints whether the device path can feed the train step: the images/s of decode + augment +
normalize of a batch on the GPU (``bench/device_pipeline.py``) over the images/s of the LV-ViT-S train step
(``bench/train_step.py``), and the images/s of the two pretraining runs.

It prints the time each step is allowed (their sum with the set-up is the budget, 12 minutes: a 15-minute GPU lease
less the machine's start) before it starts,
and writes ``report.md`` and ``report.json``: every figure against its goal (the goals below), every check, every
step's time. A goal missed is a finding, not a failure; a failed step or check makes the exit status 1.
``--limit-seconds`` starts no step past that time (set-up included) and cuts the running one short: the report
then shows what ran. ``--dry-run`` runs every step on the CPU at the smallest sizes (the CUDA tests skip): that is
how CI tests this script. There the benchmarks run in fp32 (bf16 is emulated on most CPUs, many times slower) for
one step on one thread, the tools in fp32 (their configs' AMP falls back on the CPU), and ``--compile`` with
``TORCH_COMPILE_DISABLE=1`` (inductor's C++ build takes minutes on a CPU).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lvseg.utils.atomic_write import write_text_atomically

REPO = Path(__file__).resolve().parents[1]
PRETRAIN_CONFIG = 'configs/demo/lvvit-demo_tokenlabel_synthetic-128.py'
SEG_CONFIG = 'configs/demo/upernet_lvvit-demo_synthetic-128.py'
PIPELINE_BENCHES = ('data_pipeline', 'device_pipeline')  # bench/<name>.py, run where they exist
BUDGET_S = 12 * 60  # the whole check on one GPU node, the mmcv CPU-ops build on 16 cores included
NUMBER = r'([\d.]+(?:e[+-]?\d+)?)'
MULTI_GPU_SKIP = 'needs 2 GPUs'  # the skip reason of tests/test_cuda.py's tests that need two devices


@dataclass(frozen=True)
class Goal:
    """A figure the report judges: ``key`` in the figures, at least ``minimum``."""

    key: str
    what: str
    minimum: float
    unit: str


# The goals of lvseg's GPU work: a fraction of the GPU's dense bf16 peak (its datasheet figure; a multiply-add
# counts 2 FLOPs) for the train steps, images/s for slide inference on one H100/H200.
GOALS = (
    Goal('train_step.lvseg.peak_fraction', 'LV-ViT-S token-labeling train step, batch 128 at 224, bf16: fraction '
         "of the GPU's dense bf16 peak", 0.40, 'fraction'),
    Goal('seg_step.train.peak_fraction', 'UperNet + LV-ViT-S train step, 2 x 512x512, bf16: fraction of the '
         "GPU's dense bf16 peak", 0.30, 'fraction'),
    Goal('seg_step.slide.images_per_s', 'UperNet + LV-ViT-S slide inference of a 512x683 image, bf16', 25.0,
         'images/s'),
    Goal('feed.ratio', "augment_on='device': images/s of GPU decode + augment + normalize over the LV-ViT-S train "
         "step's images/s (can the path feed the step?)", 1.0, 'x'),
)


@dataclass
class Step:
    """One command of the check: ``allowance_s`` counts towards the budget; it is stopped after ``timeout_s``."""

    name: str
    command: list[str]
    allowance_s: int
    timeout_s: int
    env: dict[str, str] = field(default_factory=dict)
    figures: Callable[[str], dict] = lambda log: {}
    status: str = 'not run'
    seconds: float = 0.0
    log: str = ''
    found: dict = field(default_factory=dict)


def bench_line(log: str, subject: str) -> str:
    """The line of a benchmark's output that gives images/s of ``subject`` (a model or case): ``images/s lvseg:
    ...`` or, where the benchmark times several precisions, ``images/s lvseg [bf16]: ...`` (bf16 preferred)."""
    found = re.findall(rf'^(images/s {re.escape(subject)}(?: \[(\w+)\])?: .*)$', log, re.M)
    bf16 = [line for line, tag in found if tag == 'bf16']
    return (bf16 or [line for line, _ in found] or [''])[-1]


def number(pattern: str, line: str) -> float | None:
    """The number that ``pattern`` (with one ``{n}`` for it) finds in ``line``, or None."""
    found = re.search(pattern.format(n=NUMBER), line)
    return float(found[1]) if found else None


def line_figures(prefix: str, line: str) -> dict:
    """images/s, achieved FLOP/s, peak memory and the fractions of the GPU's dense bf16 datasheet peak and of the
    timed bf16 matmul on one ``images/s`` line of a benchmark (FLOP/s with a multiply-add = 2 FLOPs)."""
    return {f'{prefix}.images_per_s': number(r': {n}', line),
            f'{prefix}.achieved_gflop_per_s': number(r'achieved {n} GFLOP/s', line),
            f'{prefix}.peak_mib': number(r'peak (?:allocated|RSS) {n} MiB', line),
            f'{prefix}.peak_fraction': number(r'{n} of the datasheet peak', line),
            f'{prefix}.matmul_fraction': number(r'{n} of the matmul ceiling', line)}


def train_step_figures(prefix: str) -> Callable[[str], dict]:
    """The lvseg model's figures from ``bench/train_step.py``'s output."""
    return lambda log: line_figures(f'{prefix}.lvseg', bench_line(log, 'lvseg'))


def seg_step_figures(log: str) -> dict:
    """The train and slide cases' figures from ``bench/seg_step.py``'s output."""
    return {**line_figures('seg_step.train', bench_line(log, 'train')),
            **line_figures('seg_step.slide', bench_line(log, 'slide'))}


def pipeline_figures(name: str) -> Callable[[str], dict]:
    """Every ``images/s [<clock>] <pipeline>: <median> ...`` and ``ratio [<clock>] <a>/<b>: ... <median>`` of a
    data-pipeline benchmark, and its CUDA line (ms per batch: decode, and decode + augment + normalize)."""
    def parse(log: str) -> dict:
        figures = {f'{name}.{what.replace(" ", ".")}.images_per_s': float(value)
                   for what, value in re.findall(rf'^images/s ([^:\n]+): {NUMBER}', log, re.M)}
        figures |= {f'{name}.ratio.{what.replace(" ", ".")}': float(value)
                    for what, value in re.findall(rf'^ratio ([^:\n]+): [^\d\n]*{NUMBER}', log, re.M)}
        cuda = next((line for line in log.splitlines() if line.startswith('CUDA, batch of')), '')
        figures[f'{name}.cuda_batch'] = number(r'batch of {n}', cuda)
        figures[f'{name}.cuda_decode_ms'] = number(r'decode \(nvjpeg\) {n}', cuda)
        figures[f'{name}.cuda_decode_augment_ms'] = number(r'decode \+ augment \+ normalize {n}', cuda)
        return figures
    return parse


def records(work_dir: Path) -> list[dict]:
    """The records a tool logged, in order (``vis_data/scalars.json`` of the latest run)."""
    runs = sorted(work_dir.glob('*/vis_data/scalars.json'))
    return [json.loads(line) for line in runs[-1].read_text().splitlines() if line.strip()] if runs else []


def losses(work_dir: Path) -> list[float]:
    """The training losses a tool logged, in order."""
    return [float(r['loss']) for r in records(work_dir) if 'loss' in r]


def images_per_s(work_dir: Path, batch: int) -> float | None:
    """Training images/s of one process of a tool's run: ``batch`` over the median logged iteration time of the
    second half of the iterations (the first ones warm up: cuDNN, allocator, workers starting)."""
    times = [float(r['time']) for r in records(work_dir) if 'loss' in r and 'time' in r]
    late = sorted(times[len(times) // 2:])
    return batch / late[len(late) // 2] if late else None


def run_figures(work_dir: Path, name: str, batch: int) -> Callable[[str], dict]:
    """Loss figures and images/s (batches of ``batch``) of a tool's run, and the AMP dtype of the config it dumped
    into ``work_dir``."""
    def parse(log: str) -> dict:
        values = losses(work_dir)
        head, tail = values[:5], values[-5:]
        dumped = sorted(work_dir.glob('*.py'))
        text = dumped[0].read_text() if dumped else ''
        amp = re.search(r"dtype='(\w+)'", text) if "type='AmpOptimWrapper'" in text else None
        return {f'{name}.iterations_logged': len(values),
                f'{name}.loss_first': values[0] if values else None,
                f'{name}.loss_last': values[-1] if values else None,
                f'{name}.all_finite': bool(values) and all(math.isfinite(v) for v in values),
                f'{name}.falls': bool(values) and len(values) >= 2 and sum(tail) / len(tail) < sum(head) / len(head),
                f'{name}.amp_dtype': amp[1] if amp else 'none (fp32)',
                f'{name}.images_per_s': images_per_s(work_dir, batch)}
    return parse


def feed_figures(figures: dict) -> dict:
    """Can ``augment_on='device'`` feed the train step? The images/s of decode + augment + normalize of a batch on the
    GPU (``bench/device_pipeline.py``), and their ratio to the LV-ViT-S train step's images/s
    (``bench/train_step.py``): below 1, the GPU would wait for its own augmentation."""
    batch, ms = figures.get('device_pipeline.cuda_batch'), figures.get('device_pipeline.cuda_decode_augment_ms')
    path = 1e3 * batch / ms if batch and ms else None
    step = figures.get('train_step.lvseg.images_per_s')
    return {'feed.device_path_images_per_s': path, 'feed.train_step_images_per_s': step,
            'feed.ratio': path / step if path and step else None}


def feed_line(figures: dict) -> str:
    """The side-by-side line of :func:`feed_figures` and the two pretraining runs' images/s."""
    def shown(key: str) -> str:
        value = figures.get(key)
        return 'not measured' if value is None else f'{value:.1f}'
    return (f"gpu-check: augment_on='device': GPU decode + augment + normalize {shown('feed.device_path_images_per_s')}"
            f" images/s, LV-ViT-S train step {shown('feed.train_step_images_per_s')} images/s, ratio "
            f"{shown('feed.ratio')}; demo pretraining {shown('pretrain.images_per_s')} images/s with the workers' "
            f"augmentation, {shown('pretrain_device.images_per_s')} with the device's")


def cuda_test_figures(junit: Path) -> Callable[[str], dict]:
    """Passed, failed and skipped tests (with the skip reasons) from pytest's JUnit XML."""
    def parse(log: str) -> dict:
        if not junit.is_file():
            return {}
        counts = {'passed': 0, 'failed': 0, 'skipped': 0}
        reasons = set()
        for case in ElementTree.parse(junit).getroot().iter('testcase'):
            outcome = next((child for child in case if child.tag in ('failure', 'error', 'skipped')), None)
            kind = {'failure': 'failed', 'error': 'failed', 'skipped': 'skipped'}.get(getattr(outcome, 'tag', ''),
                                                                                     'passed')
            counts[kind] += 1
            if kind == 'skipped':
                reasons.add(outcome.get('message', ''))
        return {f'cuda_tests.{k}': v for k, v in counts.items()} | {'cuda_tests.skip_reasons': sorted(reasons)}
    return parse


def plan_steps(report: Path, dry_run: bool) -> list[Step]:
    """The check's steps, at full size on CUDA or at the smallest sizes on the CPU (``dry_run``)."""
    py = sys.executable
    # On the CPU: the benchmarks' short sizes, one step, one thread, fp32 (bf16 is emulated on many CPUs, many
    # times slower); the train step also in bf16, as its CPU default, so that a dry run shows every line it prints.
    short = ['--device', 'cpu', '--short', '--steps', '1', '--warmup', '0', '--threads', '1']
    bench = [*short, '--amp', 'none'] if dry_run else ['--device', 'cuda', '--amp', 'bf16']
    train_bench = [*short, '--amp', 'none', 'bf16'] if dry_run else bench
    data = report / 'demo_data'
    imagenet, ade = data / 'synthetic_in', data / 'synthetic_ade'
    # Demo data, 8 classes at 128 px: pretraining runs 2 epochs of iters / 2 batches (of 8 in a dry run, else 32),
    # segmentation iters batches (of 2, else 8) drawn from the scenes.
    per_class, scenes, iters = (3, 8, 6) if dry_run else (40, 160, 20)
    junit = report / 'cuda_tests.xml'
    # In the order of what a short GPU slot should show first; torch.compile's minutes of compiling come last.
    steps = [
        Step('cuda tests', [py, '-m', 'pytest', *cuda_test_files(), '-m', 'cuda', '-q', '-rs', '-p',
                            'no:cacheprovider', f'--junitxml={junit}'], 60, 600, figures=cuda_test_figures(junit)),
        Step('train step', [py, 'bench/train_step.py', *train_bench], 45, 300,
             figures=train_step_figures('train_step')),
        Step('seg step', [py, 'bench/seg_step.py', *bench], 45, 300, figures=seg_step_figures),
        Step('demo data, ImageNet layout', [py, 'tools/make_demo_data.py', 'imagenet', str(imagenet), '--force',
                                            '--num-classes', '8', '--train', str(per_class), '--val', '1',
                                            '--size', '128', '--label-maps', '8'], 10, 120),
        Step('demo data, ADE20K layout', [py, 'tools/make_demo_data.py', 'ade20k', str(ade), '--force',
                                          '--num-classes', '8', '--train', str(scenes), '--val', '2',
                                          '--size', '128'], 10, 120),
        tool_run('pretrain', PRETRAIN_CONFIG, report / 'pretrain', imagenet, iters, dry_run),
        tool_run('pretrain', PRETRAIN_CONFIG, report / 'pretrain_device', imagenet, iters, dry_run,
                 augment_on='device'),
        tool_run('train', SEG_CONFIG, report / 'train', ade, iters, dry_run),
    ]
    for name in PIPELINE_BENCHES:  # where they exist: CPU figures, and the GPU's where they take --device
        script = REPO / 'bench' / f'{name}.py'
        if script.is_file():
            flags = ['--short'] if dry_run else ['--device', 'cuda'] if '--device' in help_text(script) else []
            steps.append(Step(name.replace('_', ' '), [py, f'bench/{name}.py', *flags], 30, 300,
                              figures=pipeline_figures(name)))
    # compiled: the lvseg model alone (compiling each model takes minutes on a GPU node's CPU)
    compiled = [py, 'bench/train_step.py', *bench, '--compile', '--models', 'lvseg']
    steps.append(Step('train step compiled', compiled, 120, 600, env={'TORCH_COMPILE_DISABLE': '1'} if dry_run else {},
                      figures=train_step_figures('train_step_compiled')))
    return steps


def cuda_test_files() -> list[str]:
    """The test files that mark tests ``cuda``: collecting only these, a node that lacks a package some other test
    needs (scikit-image, tensorboard, ...) still runs the CUDA tests."""
    return sorted(str(path.relative_to(REPO)) for path in (REPO / 'tests').rglob('test_*.py')
                  if 'mark.cuda' in path.read_text())


def tool_run(tool: str, config: str, work_dir: Path, data_root: Path, iters: int, dry_run: bool,
             augment_on: str = 'cpu') -> Step:
    """``iters`` iterations of ``tools/<tool>.py`` on a demo config, every loss logged, a short warm-up; pretraining
    with its augmentation in the data loader workers or (``augment_on='device'``) on the training device."""
    roots = [f'{split}_dataloader.dataset.data_root={data_root}' for split in ('train', 'val', 'test')]
    if tool == 'pretrain':  # epoch-based: the data are sized so that an epoch is half of the iterations
        batch = 8 if dry_run else 32
        schedule = [f'train_dataloader.batch_size={batch}', 'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
                    'param_scheduler.1.end=2', f'augment_on={augment_on}']
    else:
        batch = 2 if dry_run else 8
        schedule = [f'train_dataloader.batch_size={batch}', f'train_cfg.max_iters={iters}',
                    f'train_cfg.val_interval={iters}', f'default_hooks.checkpoint.interval={iters}',
                    'param_scheduler.0.end=2', 'param_scheduler.1.begin=2', f'param_scheduler.1.end={iters}']
    workers = ['train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
               'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False'] if dry_run else []
    command = [sys.executable, f'tools/{tool}.py', config, '--work-dir', str(work_dir), '--cfg-options', *roots,
               *schedule, *workers, 'default_hooks.logger.interval=1']
    name = tool if augment_on == 'cpu' else f'{tool}_{augment_on}'
    title = f'{tool} {iters} iterations' + ('' if augment_on == 'cpu' else f", augment_on='{augment_on}'")
    return Step(title, command, 40, 600, figures=run_figures(work_dir, name, batch))


def help_text(script: Path) -> str:
    return subprocess.run([sys.executable, str(script), '--help'], capture_output=True, text=True, cwd=REPO).stdout


def run_step(step: Step, report: Path, seconds_left: float) -> None:
    """Run ``step`` for at most its timeout and ``seconds_left``, its output into ``report/<name>.log``; set its
    status, time and figures. With no time left it is not started."""
    step.log = re.sub(r'[^a-z0-9]+', '_', step.name.lower()).strip('_') + '.log'
    if seconds_left <= 0:
        step.status = 'not started: the time limit was reached'
        print(f'gpu-check: {step.name}: {step.status}', flush=True)
        return
    timeout = min(step.timeout_s, seconds_left)
    env = dict(os.environ, PYTHONUNBUFFERED='1', PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get('PYTHONPATH')])]), **step.env)
    print(f'gpu-check: {step.name} ... ', end='', flush=True)
    started = time.perf_counter()
    with open(report / step.log, 'w') as log:
        log.write('$ ' + ' '.join(step.command) + '\n')
        log.flush()
        # In a session of its own, so that a step stopped at its time also stops what it started (the benchmarks'
        # worker processes, torchrun's ranks), which would hold the GPU otherwise.
        with subprocess.Popen(step.command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True) as process:
            try:
                code = process.wait(timeout=timeout)
                step.status = 'ok' if code == 0 else f'failed (exit {code})'
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                step.status = f'stopped after {timeout:.0f} s'
    step.seconds = time.perf_counter() - started
    step.found = {k: v for k, v in step.figures((report / step.log).read_text(errors='replace')).items()
                  if v is not None}
    print(f'{step.status}, {step.seconds:.0f} s (allowed {step.allowance_s} s)', flush=True)


def checks(steps: list[Step], figures: dict, dry_run: bool) -> list[tuple[str, bool]]:
    """(what, passed) for every check of the run: each step finished, no CUDA test failed, the tools' losses
    finite and falling (falling is judged on the GPU only: the dry run is too short to show it)."""
    results = [(f'step "{s.name}" finished', s.status == 'ok') for s in steps]
    results.append(('no CUDA test failed', figures.get('cuda_tests.failed', 1) == 0))
    if not dry_run:
        # Only the tests that need more GPUs than the node has may skip.
        unexpected = [reason for reason in figures.get('cuda_tests.skip_reasons', ['not run'])
                      if reason != MULTI_GPU_SKIP]
        results.append(('CUDA tests ran (none skipped but those needing more GPUs)', not unexpected
                        and figures.get('cuda_tests.passed', 0) > 0))
    for tool in ('pretrain', 'pretrain_device', 'train'):
        results.append((f'{tool}: every logged loss finite', bool(figures.get(f'{tool}.all_finite'))))
        if not dry_run:
            results.append((f'{tool}: loss falls (mean of the last 5 < mean of the first 5)',
                            bool(figures.get(f'{tool}.falls'))))
            results.append((f'{tool}: AMP in bf16', figures.get(f'{tool}.amp_dtype') == 'bfloat16'))
    return results


def shown_value(value: float, unit: str) -> str:
    """A figure as the report shows it: a fraction in percent, a ratio ('x') with two decimals, else with its unit."""
    if unit == 'fraction':
        return f'{100 * value:.1f}%'
    return f'{value:.2f}x' if unit == 'x' else f'{value:.1f} {unit}'


def judge(goal: Goal, figures: dict, dry_run: bool) -> tuple[str, str]:
    """(measured, verdict) of ``goal``."""
    value = figures.get(goal.key)
    if value is None:
        return 'not measured', 'not measured'
    shown = shown_value(value, goal.unit)
    if dry_run:
        return shown, 'not judged (dry run on the CPU)'
    return shown, 'met' if value >= goal.minimum else 'not met'


def machine() -> dict:
    """The device, torch, CUDA, Python and the commit this ran on."""
    import torch  # here, not at the top: the report's other helpers stay importable without torch
    info = {'torch': torch.__version__, 'cuda': torch.version.cuda, 'python': platform.python_version(),
            'host': platform.node(), 'cpu_cores': os.cpu_count()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info |= {'gpu': props.name, 'gpu_count': torch.cuda.device_count(),
                 'compute_capability': f'{props.major}.{props.minor}',
                 'gpu_memory_gib': round(props.total_memory / 2**30, 1)}
    else:
        info['gpu'] = 'none (CPU)'
    git = subprocess.run(['git', 'describe', '--always', '--dirty'], capture_output=True, text=True, cwd=REPO)
    info['commit'] = git.stdout.strip() if git.returncode == 0 else 'unknown (no git checkout)'
    return info


def markdown(result: dict) -> str:
    m = result['machine']
    lines = [f'# lvseg gpu-check, {result["date"]}', '',
             f'{m["gpu"]} · torch {m["torch"]} (CUDA {m["cuda"]}) · Python {m["python"]} · {m["cpu_cores"]} CPU cores '
             f'· commit {m["commit"]}' + (' · **dry run on the CPU, smallest sizes**' if result['dry_run'] else ''),
             '', '## Figures against their goals', '', '| figure | goal | measured | verdict |', '|---|---|---|---|']
    for goal in result['goals']:
        lines.append(f'| {goal["what"]} | {goal["goal"]} | {goal["measured"]} | {goal["verdict"]} |')
    lines += ['', '## All figures', '', '| figure | value |', '|---|---|']
    lines += [f'| {key} | {value} |' for key, value in result['figures'].items()]
    lines += ['', '## Checks', '', '| check | result |', '|---|---|']
    lines += [f'| {what} | {"pass" if ok else "FAIL"} |' for what, ok in result['checks']]
    lines += ['', '## Steps', '', '| step | status | seconds | allowed | log |', '|---|---|---|---|---|']
    lines += [f'| {s["name"]} | {s["status"]} | {s["seconds"]:.0f} | {s["allowance_s"]} | {s["log"]} |'
              for s in result['steps']]
    total = result['time']
    lines += ['', f'Time: {total["total_s"]:.0f} s in all ({total["setup_s"]:.0f} s set-up); '
                  f'budget {total["budget_s"]} s.', '']
    return '\n'.join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('report', type=Path, help='folder for the report and the logs (created)')
    parser.add_argument('--dry-run', action='store_true', help='every step on the CPU at the smallest sizes')
    parser.add_argument('--setup-seconds', type=float, default=0.0, help='time the set-up took (for the budget)')
    parser.add_argument('--limit-seconds', type=float, default=0.0,
                        help='stop the steps after this many seconds in all, set-up included, and report what ran '
                        '(a short GPU slot); 0: no limit')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = args.report.resolve()
    report.mkdir(parents=True, exist_ok=True)
    steps = plan_steps(report, args.dry_run)
    allowed = args.setup_seconds + sum(s.allowance_s for s in steps)
    print(f'gpu-check: time budget {BUDGET_S} s; set-up took {args.setup_seconds:.0f} s; the steps are allowed:')
    for step in steps:
        print(f'  {step.allowance_s:4d} s  {step.name}')
    print(f'  {allowed:4.0f} s  in all, set-up included' + (' (over the budget)' if allowed > BUDGET_S else ''))
    if args.dry_run:
        print('gpu-check: dry run: every step on the CPU in fp32 at the smallest sizes (the allowances are for a GPU)')
    started = time.perf_counter()
    for step in steps:
        left = args.limit_seconds - args.setup_seconds - (time.perf_counter() - started) if args.limit_seconds \
            else math.inf
        run_step(step, report, left)
    figures = {k: v for step in steps for k, v in step.found.items()}
    figures |= {k: v for k, v in feed_figures(figures).items() if v is not None}
    goals = []
    for goal in GOALS:
        measured, verdict = judge(goal, figures, args.dry_run)
        minimum = f'{100 * goal.minimum:.0f}%' if goal.unit == 'fraction' else shown_value(goal.minimum, goal.unit)
        shown = f'>= {minimum}'
        goals.append({'key': goal.key, 'what': goal.what, 'minimum': goal.minimum, 'unit': goal.unit, 'goal': shown,
                      'measured': measured, 'verdict': verdict})
    results = checks(steps, figures, args.dry_run)
    total = args.setup_seconds + time.perf_counter() - started
    result = {'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), 'dry_run': args.dry_run,
              'machine': machine(), 'goals': goals, 'figures': figures, 'checks': results,
              'steps': [{'name': s.name, 'command': s.command, 'status': s.status, 'seconds': round(s.seconds, 1),
                         'allowance_s': s.allowance_s, 'log': s.log} for s in steps],
              'time': {'total_s': round(total, 1), 'setup_s': args.setup_seconds, 'budget_s': BUDGET_S}}
    write_text_atomically(json.dumps(result, indent=1) + '\n', report / 'report.json')
    write_text_atomically(markdown(result), report / 'report.md')
    print()
    print(feed_line(figures))
    for goal in goals:
        print(f'gpu-check: {goal["what"]}: {goal["measured"]} (goal {goal["goal"]}): {goal["verdict"]}')
    failed = [what for what, ok in results if not ok]
    print(f'gpu-check: {len(results) - len(failed)}/{len(results)} checks passed' +
          (''.join(f'\ngpu-check: FAILED: {what}' for what in failed)))
    print(f'gpu-check: {total:.0f} s in all (budget {BUDGET_S} s); report: {report}/report.md and report.json')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
