"""A tiny mmengine training run whose checkpoint writes can be made to stall, for kill -9 tests.

    python checkpoint_writer.py WORK_DIR --iters N [--stall checkpoint|pointer] [--plain] [--resume]

Trains a toy model for N iterations with a checkpoint every iteration, ``max_keep_ckpts=1``. With ``--stall``,
the write of the last iteration's checkpoint file (``checkpoint``) or of the ``last_checkpoint`` pointer
(``pointer``) writes half its bytes, prints ``STALLED`` and sleeps, as on a slow disk, for the test to kill
the process. ``--plain`` runs mmengine's own ``Runner`` and ``CheckpointHook`` (without lvseg); otherwise lvseg's
``LvsegRunner`` (atomic checkpoint files) and ``AtomicCheckpointHook``. Each iteration prints ``LOSS <iter> <value>``.
"""
import argparse
import io
import pathlib
import sys
import time

import torch
from mmengine.fileio import LocalBackend
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset


class Toy(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(512, 1024))  # 2 MB of weights

    def forward(self, inputs, data_samples=None, mode='tensor'):
        target = torch.stack(inputs).mean()
        return {'loss': (self.weight.mean() - target) ** 2}


class Ones(Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=torch.full((1,), float(index)))


class PrintLoss(Hook):
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        print(f'LOSS {runner.iter + 1} {float(outputs["loss"]):.8f}', flush=True)


def stall(write_half) -> None:
    write_half()
    print('STALLED', flush=True)
    time.sleep(600)


def install_stall(kind: str, last_name: str) -> None:
    """Make the write of ``last_name`` (kind 'checkpoint') or of the pointer (kind 'pointer') stall halfway."""
    real_put, real_write_text = LocalBackend.put, pathlib.Path.write_text

    def half(data: bytes, target) -> None:
        with open(target, 'wb') as f:
            f.write(data[:len(data) // 2])
            f.flush()

    def put(self, obj: bytes, filepath) -> None:  # mmengine: torch.save into memory, then put into the file
        name = pathlib.Path(filepath).name  # lvseg: the file is '.<name>.<random>.part', renamed when complete
        if kind == 'checkpoint' and (name == last_name or name.startswith(f'.{last_name}.')):
            stall(lambda: half(obj, filepath))
        return real_put(self, obj, filepath)

    def write_text(self, data, *args, **kwargs):  # lvseg: the pointer through '.last_checkpoint.<random>.part'
        if kind == 'pointer' and self.name.startswith('.last_checkpoint.') and data.endswith(last_name):
            stall(lambda: half(data.encode(), self))
        return real_write_text(self, data, *args, **kwargs)

    class StallingPointerFile(io.StringIO):  # mmengine: open(last_checkpoint, 'w').write(path)
        def __init__(self, path) -> None:
            super().__init__()
            self.path = path
            open(path, 'w').close()  # 'w' truncates at once

        def write(self, text: str) -> int:
            if text.endswith(last_name):
                stall(lambda: half(text.encode(), self.path))
            pathlib.Path(self.path).write_text(text)
            return len(text)

    LocalBackend.put, pathlib.Path.write_text = put, write_text
    if kind == 'pointer':
        import mmengine.hooks.checkpoint_hook as mmengine_hook
        mmengine_hook.open = lambda path, mode='r', *a, **k: (
            StallingPointerFile(path) if str(path).endswith('last_checkpoint') and 'w' in mode
            else open(path, mode, *a, **k))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('work_dir')
    parser.add_argument('--iters', type=int, required=True)
    parser.add_argument('--stall', choices=('checkpoint', 'pointer'))
    parser.add_argument('--plain', action='store_true')
    parser.add_argument('--resume', action='store_true')
    args = parser.parse_args()
    if args.plain:
        from mmengine.hooks import CheckpointHook as hook_type
        runner_type = Runner
    else:
        from lvseg.engine import AtomicCheckpointHook as hook_type
        from lvseg.engine import LvsegRunner as runner_type
    if args.stall:
        install_stall(args.stall, f'iter_{args.iters}.pth')
    runner = runner_type(
        model=Toy(), work_dir=args.work_dir,
        train_dataloader=dict(dataset=Ones(), sampler=dict(type='DefaultSampler', shuffle=False), batch_size=2,
                              num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=args.iters),
        default_hooks=dict(checkpoint=dict(type=hook_type, interval=1, by_epoch=False, max_keep_ckpts=1),
                           logger=dict(type='LoggerHook', interval=100)),
        custom_hooks=[PrintLoss()], resume=args.resume, randomness=dict(seed=0))
    runner.train()
    print('DONE', flush=True)


if __name__ == '__main__':
    sys.exit(main())
