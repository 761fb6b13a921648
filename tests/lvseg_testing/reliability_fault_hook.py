"""A hook that raises on one rank, for the distributed fault test (imported by a test config via PYTHONPATH)."""
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class RaiseOnRankHook(Hook):
    """Raise ``RuntimeError`` after iteration ``iteration`` (1-based) on rank ``rank``."""

    def __init__(self, rank: int, iteration: int) -> None:
        self.rank, self.iteration = rank, iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if get_rank() == self.rank and runner.iter + 1 == self.iteration:
            raise RuntimeError(f'injected fault on rank {self.rank} at iteration {self.iteration}')
