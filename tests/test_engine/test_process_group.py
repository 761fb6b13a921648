"""The tools leave the process group themselves after a finished run, instead of leaving it to interpreter exit."""
import torch.distributed as dist

from lvseg.engine.launch import leave_process_group


def test_a_finished_run_destroys_its_process_group_and_one_process_has_none_to_leave(tmp_path):
    leave_process_group()  # no group: nothing to do
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0, world_size=1)
    try:
        assert dist.is_initialized()
        leave_process_group()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
