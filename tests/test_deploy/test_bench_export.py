"""bench/export.py: its calls interleaved by round with the order alternating, and (slow) its short run printing
both backends' images/s, their paired ratio and an export that matches PyTorch."""
import importlib.util
import re
import subprocess
import sys

import pytest
from lvseg_testing.tool_runner import REPO


@pytest.fixture
def bench(monkeypatch):
    """bench/export.py as a module (it imports its neighbours machine.py and train_step.py)."""
    monkeypatch.syspath_prepend(str(REPO / 'bench'))
    spec = importlib.util.spec_from_file_location('bench_export', REPO / 'bench/export.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rounds_interleave_the_two_calls_and_alternate_which_goes_first(bench):
    order = []
    seconds = bench.time_interleaved({'a': lambda: order.append('a'), 'b': lambda: order.append('b')},
                                     warmup=2, steps=3)
    assert order == ['a', 'b', 'b', 'a', 'a', 'b', 'b', 'a', 'a', 'b']
    assert [len(times) for times in seconds.values()] == [3, 3]  # the warm-up rounds are not timed


def test_figures_are_shown_with_three_significant_digits(bench):
    assert [bench.significant(v) for v in (41.234, 0.51249, 1234.4, 7.0)] == ['41.2', '0.512', '1234', '7.00']
    assert bench.spread([3.0, 1.0, 2.0]) == '2.00 (range 1.00-3.00)'


@pytest.mark.slow
def test_the_short_run_prints_both_backends_and_their_paired_ratio():
    result = subprocess.run([sys.executable, 'bench/export.py', '--short', '--threads', '1'], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    difference = re.search(r'^export demo-64: [\d.]+ s, \d+ MiB; onnxruntime vs PyTorch largest logit difference '
                           r'(\S+) of the largest logit; timing 1 warm-up \+ 2 timed rounds$', out, re.M)
    assert difference and float(difference[1]) < 1e-4, out
    medians = {name: float(re.search(rf'^images/s demo-64 \[{name}\]: (\S+) \(range (\S+)-(\S+)\)$', out, re.M)[1])
               for name in ('eager', 'onnxruntime')}
    ratio = re.search(r'^ratio demo-64 onnxruntime/eager: paired by round (\S+) \(range (\S+)-(\S+)\)$', out, re.M)
    low, median, high = float(ratio[2]), float(ratio[1]), float(ratio[3])
    assert low <= median <= high and all(value > 0 for value in medians.values())
    verdict = 'meets it' if median >= 1 else 'does not'
    assert re.search(rf'^goal: .*: demo-64 {verdict} \({ratio[1]}\)$', out, re.M), out
