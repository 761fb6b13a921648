"""The GPU check's report: ``report.json`` (everything), ``report.md`` (the same as tables) and the lines printed
at the end (the feed line, each goal's verdict, the checks, the time)."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from lvseg.utils.atomic_write import write_text_atomically

from .plan import BUDGET_S, REPO, Step


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


def result(steps: Sequence[Step], figures: dict, goals: list[dict], checks: list[tuple[str, bool]], dry_run: bool,
           machine_info: dict, setup_seconds: float, total_seconds: float) -> dict:
    """The report's content, as ``report.json`` holds it: date, machine, goals, figures, checks, steps, time."""
    return {'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), 'dry_run': dry_run,
            'machine': machine_info, 'goals': goals, 'figures': figures, 'checks': checks,
            'steps': [{'name': s.name, 'command': s.command, 'status': s.status, 'seconds': round(s.seconds, 1),
                       'allowance_s': s.allowance_s, 'log': s.log} for s in steps],
            'time': {'total_s': round(total_seconds, 1), 'setup_s': setup_seconds, 'budget_s': BUDGET_S}}


def markdown(result: dict) -> str:
    """``report.md``: the machine, the goals, every figure, the checks and the steps as tables."""
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


def write(report: Path, result: dict) -> None:
    """``report/report.json`` and ``report/report.md``, each written atomically."""
    write_text_atomically(json.dumps(result, indent=1) + '\n', report / 'report.json')
    write_text_atomically(markdown(result), report / 'report.md')


def feed_line(figures: dict) -> str:
    """The side-by-side line of :func:`lvseg.infra.gpu_check.judge.feed_figures` and the two pretraining runs'
    images/s."""
    def shown(key: str) -> str:
        value = figures.get(key)
        return 'not measured' if value is None else f'{value:.1f}'
    return (f"gpu-check: augment_on='device': GPU decode + augment + normalize {shown('feed.device_path_images_per_s')}"
            f" images/s, LV-ViT-S train step {shown('feed.train_step_images_per_s')} images/s, ratio "
            f"{shown('feed.ratio')}; demo pretraining {shown('pretrain.images_per_s')} images/s with the workers' "
            f"augmentation, {shown('pretrain_device.images_per_s')} with the device's")


def summary_lines(result: dict, report: Path, total_seconds: float) -> list[str]:
    """What the check prints at the end: the feed line, each goal's verdict, the checks passed and each failed
    one, the time (``total_seconds``, set-up included) against the budget and where the report is."""
    lines = [feed_line(result['figures'])]
    lines += [f'gpu-check: {goal["what"]}: {goal["measured"]} (goal {goal["goal"]}): {goal["verdict"]}'
              for goal in result['goals']]
    failed = failed_checks(result)
    lines.append(f'gpu-check: {len(result["checks"]) - len(failed)}/{len(result["checks"])} checks passed')
    lines += [f'gpu-check: FAILED: {what}' for what in failed]
    lines.append(f'gpu-check: {total_seconds:.0f} s in all (budget {BUDGET_S} s); report: '
                 f'{report}/report.md and report.json')
    return lines


def failed_checks(result: dict) -> list[str]:
    """The checks of ``result`` that failed: any makes the check's exit status 1."""
    return [what for what, ok in result['checks'] if not ok]
