"""The figures of the GPU check's steps: read from a benchmark's output, from pytest's JUnit XML, or from the
records a tool logged into its work dir. Each reader takes the step's log and returns ``{key: value or None}``."""
from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path

NUMBER = r'([\d.]+(?:e[+-]?\d+)?)'


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
