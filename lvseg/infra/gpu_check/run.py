"""Running the GPU check's steps: each in a session of its own, its output into ``<report>/<name>.log``, stopped
with what it started at its time-out or at the check's time limit."""
from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from .plan import REPO, Step


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


def run_steps(steps: list[Step], report: Path, limit_seconds: float, setup_seconds: float) -> float:
    """Run ``steps`` in order, each with what is left of ``limit_seconds`` (0: no limit) once the set-up's
    ``setup_seconds`` and the steps before it are counted; return the seconds the steps took."""
    started = time.perf_counter()
    for step in steps:
        left = limit_seconds - setup_seconds - (time.perf_counter() - started) if limit_seconds else math.inf
        run_step(step, report, left)
    return time.perf_counter() - started
