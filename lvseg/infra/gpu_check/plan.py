"""The GPU check's steps: their commands, the time each is allowed (towards the budget) and after which it is
stopped, at full size on CUDA or, in a dry run, at the smallest sizes on the CPU."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .figures import cuda_test_figures, pipeline_figures, run_figures, seg_step_figures, train_step_figures

# The checkout the check runs in (its tests, benchmarks and tools): tools/gpu_check.sh imports lvseg from it.
REPO = Path(__file__).resolve().parents[3]
PRETRAIN_CONFIG = 'configs/demo/lvvit-demo_tokenlabel_synthetic-128.py'
SEG_CONFIG = 'configs/demo/upernet_lvvit-demo_synthetic-128.py'
PIPELINE_BENCHES = ('data_pipeline', 'device_pipeline')  # bench/<name>.py, run where they exist
BUDGET_S = 12 * 60  # the whole check on one GPU node, the mmcv CPU-ops build on 16 cores included


@dataclass
class Step:
    """One command of the check: ``allowance_s`` counts towards the budget; it is stopped after ``timeout_s``.
    :func:`lvseg.infra.gpu_check.run.run_step` sets ``status``, ``seconds``, ``log`` and ``found`` (the figures
    that ``figures`` reads from the log)."""

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


def plan_steps(report: Path, dry_run: bool) -> list[Step]:
    """The check's steps, at full size on CUDA or at the smallest sizes on the CPU (``dry_run``); their work dirs
    and data in ``report``."""
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
    """What ``script --help`` prints (to see which options a benchmark takes)."""
    return subprocess.run([sys.executable, str(script), '--help'], capture_output=True, text=True, cwd=REPO).stdout


def budget_lines(steps: list[Step], setup_seconds: float, dry_run: bool) -> list[str]:
    """What the check prints before it starts: the budget, the set-up's time, each step's allowance and their sum
    (marked where it is over the budget)."""
    allowed = setup_seconds + sum(s.allowance_s for s in steps)
    lines = [f'gpu-check: time budget {BUDGET_S} s; set-up took {setup_seconds:.0f} s; the steps are allowed:']
    lines += [f'  {step.allowance_s:4d} s  {step.name}' for step in steps]
    lines.append(f'  {allowed:4.0f} s  in all, set-up included' + (' (over the budget)' if allowed > BUDGET_S else ''))
    if dry_run:
        lines.append('gpu-check: dry run: every step on the CPU in fp32 at the smallest sizes (the allowances are for '
                     'a GPU)')
    return lines
