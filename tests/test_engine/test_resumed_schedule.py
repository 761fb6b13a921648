"""``--resume`` says when the checkpoint's parameter schedule replaces another one of the config's
(lvseg/engine/resumed_schedule.py, LvsegRunner.resume), and what it says happens."""
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.optim.scheduler import LinearLR, PolyLR
from torch.utils.data import DataLoader

from lvseg.engine.resumed_schedule import changed_schedule_message, schedule_spans
from lvseg.engine.runner import LvsegRunner

LR = 0.1


class Toy(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(2))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return {'loss': (self.weight.sum() - inputs.mean()) ** 2}


class RecordRates(Hook):
    """The learning rate each iteration ran at, by 1-based iteration."""

    def __init__(self) -> None:
        self.rates = {}

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.rates[runner.iter + 1] = runner.optim_wrapper.get_lr()['lr'][0]


def train(work_dir, max_iters: int, resume_from=None) -> tuple[dict, str]:
    """Train Toy ``max_iters`` iterations on a PolyLR schedule to ``max_iters`` (saving every 2 iterations), maybe
    resumed from a checkpoint; return the rate of each iteration and the run's log."""
    recorder = RecordRates()
    runner = LvsegRunner(
        model=Toy(), work_dir=str(work_dir), default_scope='mmseg', experiment_name=work_dir.name,
        train_dataloader=DataLoader([dict(inputs=torch.tensor([float(i)])) for i in range(4)], batch_size=2),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=LR)),
        param_scheduler=[dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=max_iters, by_epoch=False)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
        custom_hooks=[recorder], load_from=resume_from and str(resume_from), resume=resume_from is not None)
    runner.train()
    return recorder.rates, next(work_dir.glob('*/*.log')).read_text()


def test_the_spans_of_built_schedulers_in_order_and_none_of_configs():
    optimizers = [torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR) for _ in range(2)]
    warm_up = LinearLR(optimizers[0], start_factor=0.1, begin=0, end=5, by_epoch=False)
    decay = PolyLR(optimizers[0], begin=5, end=100, by_epoch=False)
    other = PolyLR(optimizers[1], begin=0, end=40, by_epoch=False)
    assert schedule_spans([warm_up, decay]) == [('LinearLR', 0, 5), ('PolyLR', 5, 100)]
    assert schedule_spans({'head': [other], 'backbone': [warm_up, decay]}) == [
        ('LinearLR', 0, 5), ('PolyLR', 5, 100), ('PolyLR', 0, 40)]  # by optimizer name
    configs = [dict(type='PolyLR', begin=0, end=100)], dict(type='PolyLR', begin=0, end=100), {'head': [
        dict(type='PolyLR', begin=0, end=100)]}, None  # as the runner holds them until they are built
    assert [schedule_spans(config) for config in configs] == [[]] * len(configs)


def test_the_message_names_each_changed_scheduler_and_nothing_when_none_changed():
    config = [('LinearLR', 0, 1500), ('PolyLR', 1500, 320000)]
    resumed = [('LinearLR', 0, 1500), ('PolyLR', 1500, 160000)]
    assert changed_schedule_message(config, config, 'work/iter_160000.pth') is None
    message = changed_schedule_message(config, resumed, 'work/iter_160000.pth')
    assert 'PolyLR: steps 1500-160000 in the checkpoint, 1500-320000 in the config' in message
    assert 'LinearLR' not in message and 'load_from=work/iter_160000.pth' in message


@pytest.mark.slow
def test_a_longer_resumed_run_warns_and_runs_on_at_the_rate_where_the_kept_schedule_stopped(tmp_path):
    first, _ = train(tmp_path / 'first', max_iters=4)
    # mmengine's PolyLR, power 1: from LR at the first step down to eta_min (0) at the last, step end - 1
    assert first == pytest.approx({i: LR * (1 - (i - 1) / 3) for i in range(1, 5)})
    checkpoint = tmp_path / 'first' / 'iter_4.pth'

    longer, log = train(tmp_path / 'longer', max_iters=8, resume_from=checkpoint)
    warning = f"resuming {checkpoint}: its parameter schedule is kept, not the config's (PolyLR: steps 0-4 in the " \
              'checkpoint, 0-8 in the config)'
    assert warning in log
    # what the warning says: past the old end, the rate stays where that schedule stopped (0 here)
    assert longer == pytest.approx({i: 0.0 for i in range(5, 9)})

    same, log = train(tmp_path / 'same', max_iters=4, resume_from=tmp_path / 'first' / 'iter_2.pth')
    assert same == {i: first[i] for i in (3, 4)} and 'parameter schedule is kept' not in log
