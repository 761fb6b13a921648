"""What lvseg assumes of other libraries (lvseg/utils/compat.py), one test per assumption: a release of mmengine or
torch that changes one fails here, naming it, rather than in a user's run. The last tests pin the public behaviour
that lvseg builds on where it once reached for private names."""
import io
import pickle
import uuid
from collections import OrderedDict
from types import SimpleNamespace

import pytest
import torch
from lvseg_testing.checkpoint_writer import Ones, Toy
from mmengine.dataset import BaseDataset
from mmengine.logging import MessageHub, MMLogger
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner import BaseLoop, EpochBasedTrainLoop, Runner
from torch import nn
from torch.utils.data import DataLoader

from lvseg.engine.mid_epoch_resume import ResumableEpochBasedTrainLoop, ResumableSampler
from lvseg.utils.compat import (
    CheckpointHookSaveSteps,
    built_train_loop,
    has_loaded_checkpoint,
    history_buffer_statistics,
    mark_checkpoint_loaded,
    requested_checkpoint,
    subset_indices,
    with_state_dict_metadata,
)


def tiny_runner(work_dir, **kwargs) -> Runner:
    """mmengine's own Runner over a toy model and 8 samples, one epoch of 4 batches; in mmseg's scope, as lvseg's
    configs (a Runner makes its scope the current one, which later builds in this process use)."""
    return Runner(model=Toy(), work_dir=str(work_dir), experiment_name=f'compat-{uuid.uuid4().hex}',
                  default_scope='mmseg',
                  train_dataloader=dict(dataset=Ones(), sampler=dict(type='DefaultSampler', shuffle=False),
                                        batch_size=2, num_workers=0),
                  optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)), train_cfg=dict(by_epoch=True, max_epochs=1),
                  **kwargs)


# ---------------------------------------------------------------------------------------------------- mmengine
def test_the_train_loop_counts_as_built_only_once_the_public_property_built_it(tmp_path):
    runner = tiny_runner(tmp_path)
    assert built_train_loop(runner) is None
    loop = runner.train_loop  # builds it
    assert isinstance(loop, BaseLoop) and built_train_loop(runner) is loop


def test_the_requested_checkpoint_is_what_the_runner_was_given(tmp_path):
    assert requested_checkpoint(tiny_runner(tmp_path, load_from='weights.pth', resume=True)) == ('weights.pth', True)
    assert requested_checkpoint(tiny_runner(tmp_path)) == (None, False)


def test_mmengine_sets_the_loaded_flag_and_does_not_load_again_once_it_is_set(tmp_path):
    torch.save({'state_dict': Toy().state_dict()}, tmp_path / 'weights.pth')
    runner = tiny_runner(tmp_path)
    assert not has_loaded_checkpoint(runner)
    runner.load_checkpoint(str(tmp_path / 'weights.pth'))
    assert has_loaded_checkpoint(runner)

    missing = tiny_runner(tmp_path, load_from=str(tmp_path / 'missing.pth'))
    mark_checkpoint_loaded(missing)
    missing.load_or_resume()  # would raise for the missing file, had it not been marked loaded


class Listed(BaseDataset):
    def load_data_list(self) -> list[dict]:
        return [{'index': i} for i in range(4)]


def test_the_subset_indices_are_the_data_sets_indices_argument():
    assert subset_indices(Listed(indices=[0, 2])) == [0, 2]
    assert len(Listed(indices=[0, 2])) == 2
    assert subset_indices(Listed()) is None
    assert subset_indices(object()) is None


def test_the_history_buffer_statistics_are_the_methods_a_pickled_buffer_asks_for():
    buffer = HistoryBuffer()
    buffer.update(1.0)
    asked = []

    class Recording(pickle.Unpickler):
        def find_class(self, module, name):
            if module in ('builtins', '__builtin__') and name == 'getattr':
                return lambda owner, attribute: asked.append(attribute) or getattr(owner, attribute)
            return super().find_class(module, name)

    # torch.save's protocol, in which a method is pickled as getattr(its class, its name)
    Recording(io.BytesIO(pickle.dumps(buffer, protocol=torch.serialization.DEFAULT_PROTOCOL))).load()
    assert {'min', 'max', 'current', 'mean'} <= set(asked) <= history_buffer_statistics()


def test_regular_and_best_checkpoints_are_saved_through_the_two_steps():
    calls = []

    class Spy(CheckpointHookSaveSteps):
        def save_checkpoint_with_step(self, runner, step, meta):
            calls.append(('step', step, meta))

        def save_best_checkpoint(self, runner, metrics):
            calls.append(('best', metrics))

    runner = SimpleNamespace(epoch=0, iter=4, logger=MMLogger.get_current_instance(),
                             train_loop=SimpleNamespace(max_epochs=1))
    hook = Spy(interval=1, save_best='acc', rule='greater')
    hook.after_train_epoch(runner)
    hook.after_val_epoch(runner, {'acc': 0.5})
    assert calls == [('step', 1, {'epoch': 1, 'iter': 4}), ('best', {'acc': 0.5})]


def test_a_new_best_rewrites_the_latest_checkpoint_through_the_step(tmp_path):
    steps = []

    class Spy(CheckpointHookSaveSteps):
        def save_checkpoint_with_step(self, runner, step, meta):
            steps.append(step)
            super().save_checkpoint_with_step(runner, step, meta)

    def save_checkpoint(out_dir, filename, *args, **kwargs):
        (tmp_path / filename).write_bytes(b'weights')

    runner = SimpleNamespace(work_dir=str(tmp_path), save_checkpoint=save_checkpoint, epoch=0, iter=4,
                             logger=MMLogger.get_current_instance(), train_loop=SimpleNamespace(max_epochs=1),
                             message_hub=MessageHub.get_instance(f'compat-{uuid.uuid4().hex}'))
    hook = Spy(interval=1, save_best='acc', rule='greater')
    hook.before_train(runner)
    hook.after_train_epoch(runner)  # epoch_1.pth
    runner.epoch = 1
    hook.after_val_epoch(runner, {'acc': 0.5})  # best_acc_epoch_1.pth, then epoch_1.pth again
    assert steps == [1, 1]
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['best_acc_epoch_1.pth', 'epoch_1.pth']


# ---------------------------------------------------------------------------------------------------- torch
def test_torch_reads_a_state_dicts_module_versions_from_its_metadata():
    saved = nn.BatchNorm2d(2).state_dict()
    assert saved._metadata['']['version'] == 2
    del saved['num_batches_tracked']  # a version-2 file must hold it: torch refuses it missing
    with pytest.raises(RuntimeError, match='num_batches_tracked'):
        nn.BatchNorm2d(2).load_state_dict(with_state_dict_metadata(OrderedDict(saved), saved))
    nn.BatchNorm2d(2).load_state_dict(OrderedDict(saved))  # a copy without metadata reads as an old file


# ---------------------------------------------------------------------------------------------------- public ways
def test_an_epoch_hands_run_iter_the_batch_index_from_0_then_counts_the_epoch():
    """What ResumableEpochBasedTrainLoop builds on instead of rewriting run_epoch over ``_iter`` / ``_epoch``."""
    seen = []

    class Spy(EpochBasedTrainLoop):
        def run_iter(self, idx, data_batch):
            seen.append((idx, data_batch.tolist()))

    runner = SimpleNamespace(call_hook=lambda *args, **kwargs: None, model=nn.Identity(),
                             visualizer=SimpleNamespace())
    loop = Spy(runner, DataLoader(Listed(), batch_size=2, collate_fn=lambda b: torch.tensor([s['index'] for s in b])),
               max_epochs=1)
    loop.run_epoch()
    assert seen == [(0, [0, 1]), (1, [2, 3])] and loop.epoch == 1


def test_a_loop_resumed_mid_epoch_hands_mmengine_the_true_batch_index():
    seen = []

    class Recorder(EpochBasedTrainLoop):
        def run_iter(self, idx, data_batch):  # mmengine's would train: record the batch index it is handed
            seen.append((idx, data_batch))

    class Resumable(ResumableEpochBasedTrainLoop, Recorder):
        pass

    runner = SimpleNamespace(call_hook=lambda *args, **kwargs: None, model=nn.Identity(),
                             visualizer=SimpleNamespace(), logger=MMLogger.get_current_instance())
    data = Listed()
    loop = Resumable(runner, DataLoader(data, batch_size=1, sampler=ResumableSampler(data, shuffle=False, seed=0),
                                        collate_fn=lambda batch: batch[0]['index']), max_epochs=2)
    loop.run_epoch()
    assert seen == [(0, 0), (1, 1), (2, 2), (3, 3)]
    seen.clear()
    loop._epoch, loop._iter = 1, 6  # as Runner.resume leaves it after a checkpoint of iteration 6 (epoch 2)
    loop.run_epoch()
    assert seen == [(2, 2), (3, 3)] and loop.epoch == 2 and loop.batches_skipped == 0
