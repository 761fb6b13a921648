"""Running the GPU check's steps (lvseg/infra/gpu_check/run.py): each in the checkout with its own environment, its
output in its log, its status from its exit; the time limit counts the set-up and the steps before."""
import sys

from lvseg.infra.gpu_check.plan import REPO, Step
from lvseg.infra.gpu_check.run import run_steps

PRINT_ENV = 'import os; print(os.getcwd(), os.environ["LVSEG_PROBE"], os.environ["PYTHONPATH"].split(os.pathsep)[0])'


def test_steps_run_in_the_checkout_with_their_environment_and_their_exit_status(tmp_path, capsys):
    steps = [Step('env probe', [sys.executable, '-c', PRINT_ENV], 1, 60, env={'LVSEG_PROBE': 'seen'}),
             Step('Fails, exit 3!', [sys.executable, '-c', 'raise SystemExit(3)'], 1, 60)]
    run_steps(steps, tmp_path, limit_seconds=0.0, setup_seconds=50.0)  # 0: no limit
    assert [step.status for step in steps] == ['ok', 'failed (exit 3)']
    assert [step.log for step in steps] == ['env_probe.log', 'fails_exit_3.log']
    log = (tmp_path / 'env_probe.log').read_text().splitlines()
    assert log == [f'$ {sys.executable} -c {PRINT_ENV}', f'{REPO} seen {REPO}']
    assert 'gpu-check: Fails, exit 3! ... failed (exit 3)' in capsys.readouterr().out


def test_the_limit_counts_the_set_up(tmp_path):
    steps = [Step('a', [sys.executable, '-c', 'pass'], 1, 60), Step('b', [sys.executable, '-c', 'pass'], 1, 60)]
    run_steps(steps, tmp_path, limit_seconds=300.0, setup_seconds=300.0)  # the set-up took all of it
    assert {step.status for step in steps} == {'not started: the time limit was reached'}
    assert not list(tmp_path.iterdir())
    run_steps(steps, tmp_path, limit_seconds=900.0, setup_seconds=300.0)
    assert [step.status for step in steps] == ['ok', 'ok']
