"""A hook that records what each rank draws and computes at every training iteration, and can kill the run at a
point the test chooses (imported by tool runs through ``custom_imports``, with ``tests/`` on ``PYTHONPATH``).

Each rank appends one JSON line per iteration to ``<work_dir>/probe_<tag>_rank<r>.jsonl``: the iteration, digests of
torch's and Python's generator states as the iteration starts drawing (after ``StepSeedHook`` seeded them), and
the rank's own loss values (not averaged over ranks). With ``kill_after=k`` every rank, once the line of iteration
``k`` (1-based) is written and every earlier checkpoint is on disk (the hook runs last, and the ranks meet at a
barrier first), sends itself SIGKILL: an interruption at a known iteration, with no race against the checkpoint.
"""
import hashlib
import json
import os
import pickle
import random
import signal
from pathlib import Path

import torch
from mmengine.dist import barrier, get_rank
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


def digest(state: object) -> str:
    """A short hash of a generator state (a tensor or a Python object)."""
    data = state.numpy().tobytes() if isinstance(state, torch.Tensor) else pickle.dumps(state)
    return hashlib.sha1(data).hexdigest()[:16]


def read_probe(work_dir: Path, tag: str, rank: int) -> dict[int, dict]:
    """The records of the run tagged ``tag`` on ``rank`` in ``work_dir``, by iteration (1-based)."""
    lines = (work_dir / f'probe_{tag}_rank{rank}.jsonl').read_text().splitlines()
    return {record['iter']: record for record in map(json.loads, lines)}


@HOOKS.register_module()
class RankProbeHook(Hook):
    """Record each rank's generator states and losses per iteration; optionally SIGKILL every rank after one."""

    priority = 'LOWEST'  # after StepSeedHook's seeding, and after the checkpoint hook's save

    def __init__(self, tag: str, kill_after: int | None = None) -> None:
        self.tag, self.kill_after = tag, kill_after
        self._states: dict[str, str] = {}

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._states = {'torch_state': digest(torch.get_rng_state()), 'python_state': digest(random.getstate())}

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        losses = {name: float(value.detach()) for name, value in (outputs or {}).items() if 'loss' in name}
        record = {'iter': runner.iter + 1, **self._states, **losses}
        with open(Path(runner.work_dir) / f'probe_{self.tag}_rank{get_rank()}.jsonl', 'a') as file:
            file.write(json.dumps(record) + '\n')
        if runner.iter + 1 == self.kill_after:
            barrier()  # every rank's line is written and rank 0's checkpoints are saved
            os.kill(os.getpid(), signal.SIGKILL)
