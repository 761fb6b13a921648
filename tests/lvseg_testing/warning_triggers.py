"""The code of mmengine and mmseg that raises each known warning of :mod:`lvseg.utils.known_warnings` in a run,
called as a run calls it: :data:`TRIGGERS` for the Python warnings, :data:`LOG_TRIGGERS` for the records of
mmengine's logger, each by the filter's message."""
import tempfile
import uuid


def pkg_resources_lookup():
    from mmengine.utils import is_installed
    is_installed('mmseg')  # what Config.fromfile does for a `mmseg::` base config


def decode_head_loss():
    from mmseg.models.builder import build_loss
    build_loss(dict(type='CrossEntropyLoss'))  # what mmseg's BaseDecodeHead does


def load_annotations():
    from mmseg.datasets.transforms import LoadAnnotations
    LoadAnnotations(reduce_zero_label=True)


def visualization_hook():
    from mmengine.visualization import Visualizer
    from mmseg.engine.hooks import SegVisualizationHook
    Visualizer.get_instance(f'known-warnings-{uuid.uuid4()}')  # the hook draws with the current visualizer
    SegVisualizationHook(draw=False)


def distributed_wrapper():
    """mmengine's DDP wrapper as its Runner builds it (broadcast_buffers=False), in a one-process gloo group."""
    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel
    from torch import nn
    with tempfile.TemporaryDirectory() as folder:
        dist.init_process_group('gloo', init_method=f'file://{folder}/store', rank=0, world_size=1)
        try:
            MMDistributedDataParallel(module=nn.Linear(2, 2), broadcast_buffers=False)
        finally:
            dist.destroy_process_group()


TRIGGERS = {
    'pkg_resources is deprecated as an API': pkg_resources_lookup,
    '``build_loss`` would be deprecated soon': decode_head_loss,
    'Default ``avg_non_ignore`` is False': decode_head_loss,
    '`reduce_zero_label` will be deprecated': load_annotations,
    'The draw is False, it means that the hook for visualization will not take effect': visualization_hook,
    '`broadcast_buffers` is deprecated': distributed_wrapper,
}


def file_client():
    from mmengine.fileio import FileClient
    FileClient(backend='disk')  # what mmengine's CheckpointHook and save_checkpoint do


def hard_disk_backend():
    from mmengine.fileio.file_client import HardDiskBackend
    HardDiskBackend()  # what the first FileClient(backend='disk') builds


def iou_metric():
    from mmseg.evaluation import IoUMetric
    IoUMetric()


LOG_TRIGGERS = {
    r'"FileClient" will be deprecated in future': file_client,
    r'"HardDiskBackend" is the alias of "LocalBackend"': hard_disk_backend,
    r'The prefix is not set in metric class IoUMetric\.': iou_metric,
}
