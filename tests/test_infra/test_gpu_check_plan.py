"""The GPU check's plan (lvseg/infra/gpu_check/plan.py): the same steps on the GPU and in a dry run, at full size
with CUDA and bf16 or at the smallest sizes on the CPU, and the budget printed before they start."""
import sys

from lvseg.infra.gpu_check import plan
from lvseg.infra.gpu_check.plan import BUDGET_S, REPO, Step, budget_lines, plan_steps

NAMES = ['cuda tests', 'train step', 'seg step', 'demo data, ImageNet layout', 'demo data, ADE20K layout']


def pipelines() -> list[str]:
    return [name.replace('_', ' ') for name in plan.PIPELINE_BENCHES if (REPO / f'bench/{name}.py').is_file()]


def test_the_gpu_plan_runs_full_sizes_in_bf16_on_cuda(tmp_path, monkeypatch):
    # a pipeline benchmark gets --device cuda only where its --help names the option
    monkeypatch.setattr(plan, 'help_text', lambda script: '--device' if script.stem == 'device_pipeline' else '')
    steps = {step.name: step for step in plan_steps(tmp_path, dry_run=False)}
    assert list(steps) == [*NAMES, 'pretrain 20 iterations', "pretrain 20 iterations, augment_on='device'",
                           'train 20 iterations', *pipelines(), 'train step compiled']
    assert steps['train step'].command == [sys.executable, 'bench/train_step.py', '--device', 'cuda', '--amp', 'bf16']
    assert steps['train step compiled'].command[-3:] == ['--compile', '--models', 'lvseg']
    assert steps['train step compiled'].env == {}  # compiled for real
    pretrain = steps["pretrain 20 iterations, augment_on='device'"].command
    assert pretrain[:5] == [sys.executable, 'tools/pretrain.py', plan.PRETRAIN_CONFIG, '--work-dir',
                            str(tmp_path / 'pretrain_device')]
    assert {'train_dataloader.batch_size=32', 'augment_on=device',
            f'train_dataloader.dataset.data_root={tmp_path / "demo_data/synthetic_in"}'} <= set(pretrain)
    assert 'train_dataloader.num_workers=0' not in pretrain  # the workers run on a GPU node
    assert {'train_dataloader.batch_size=8', 'train_cfg.max_iters=20'} <= set(steps['train 20 iterations'].command)
    assert f'--junitxml={tmp_path / "cuda_tests.xml"}' in steps['cuda tests'].command
    if 'device pipeline' in steps:
        assert steps['device pipeline'].command[-2:] == ['--device', 'cuda']
    if 'data pipeline' in steps:
        assert steps['data pipeline'].command == [sys.executable, 'bench/data_pipeline.py']


def test_a_dry_run_plans_the_same_steps_small_on_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr(plan, 'help_text', lambda script: '--device')  # a dry run never asks
    steps = {step.name: step for step in plan_steps(tmp_path, dry_run=True)}
    assert list(steps) == [*NAMES, 'pretrain 6 iterations', "pretrain 6 iterations, augment_on='device'",
                           'train 6 iterations', *pipelines(), 'train step compiled']
    short = ['--device', 'cpu', '--short', '--steps', '1', '--warmup', '0', '--threads', '1']
    assert steps['train step'].command[2:] == [*short, '--amp', 'none', 'bf16']
    assert steps['seg step'].command[2:] == [*short, '--amp', 'none']
    assert steps['train step compiled'].env == {'TORCH_COMPILE_DISABLE': '1'}
    pretrain = steps['pretrain 6 iterations'].command
    assert {'train_dataloader.batch_size=8', 'augment_on=cpu', 'train_dataloader.num_workers=0'} <= set(pretrain)
    assert '--label-maps' in steps['demo data, ImageNet layout'].command
    for name in pipelines():
        assert steps[name].command[2:] == ['--short']


def test_the_budget_lists_each_allowance_and_their_sum_with_the_set_up():
    steps = [Step('one', ['true'], 300, 600), Step('two', ['true'], 200, 600)]
    assert budget_lines(steps, setup_seconds=100.0, dry_run=False) == [
        f'gpu-check: time budget {BUDGET_S} s; set-up took 100 s; the steps are allowed:',
        '   300 s  one', '   200 s  two', '   600 s  in all, set-up included']
    over = budget_lines(steps, setup_seconds=BUDGET_S - 499, dry_run=True)
    assert over[-2] == f'  {BUDGET_S + 1:4d} s  in all, set-up included (over the budget)'
    assert over[-1].startswith('gpu-check: dry run: every step on the CPU')
