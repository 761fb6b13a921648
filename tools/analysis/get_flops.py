"""Parameters and FLOPs of a config's model: ``python tools/analysis/get_flops.py CONFIG --shape 512 512``.

mmseg 1.2.2's own get_flops.py crashes ("input_shape and inputs cannot be both set"), so this calls
mmengine's ``get_model_complexity_info`` directly. FLOPs are mmengine's count (one multiply-add = 1 FLOP).
"""
import argparse

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config, DictAction
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import lvseg  # noqa: F401


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs='+', default=[512, 512], help='input H [W]')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    args = parser.parse_args()

    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    # SyncBN has no CPU kernel; BN costs the same.
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    height, width = (args.shape * 2)[:2]
    with torch.no_grad():
        info = get_model_complexity_info(model, inputs=(torch.rand(1, 3, height, width),), show_table=False,
                                         show_arch=False)
    print(f'config: {args.config}\ninput: 1x3x{height}x{width}\n'
          f'flops: {info["flops_str"]} ({info["flops"]:.4g})\nparams: {info["params_str"]} ({info["params"]})')


if __name__ == '__main__':
    main()
