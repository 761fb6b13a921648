"""Parameters and FLOPs of a config's model: ``python tools/analysis/get_flops.py CONFIG --shape 512 512``.

mmseg 1.2.2's own get_flops.py crashes ("input_shape and inputs cannot be both set"); this one counts with
mmengine's ``FlopAnalyzer`` plus a handle for fused attention (see ``lvseg/analysis/flops.py``): one
multiply-add = 1 FLOP. A missing config or a config error ends in ``error:`` lines and exit status 2 (``--debug``:
the traceback).
"""
import argparse

import torch
from mmengine.config import Config, DictAction
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import lvseg  # noqa: F401
from lvseg.analysis.flops import count_flops_and_params
from lvseg.engine.config_keys import check_overrides
from lvseg.engine.launch import USER_ERRORS
from lvseg.utils.known_warnings import ignore_known_warnings
from lvseg.utils.user_errors import add_debug_argument, require_file, user_errors


@user_errors(*USER_ERRORS)
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs='+', default=[512, 512], help='input H [W]')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={}, metavar='KEY=VALUE',
                        help='override config keys (each must be in the config, or an argument of what its dict '
                        'builds), e.g. --cfg-options model.backbone.img_size=640')
    add_debug_argument(parser)
    args = parser.parse_args()

    require_file(args.config, 'config')
    cfg = Config.fromfile(args.config)
    check_overrides(cfg, args.cfg_options)
    cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    # SyncBN has no CPU kernel; BN costs the same.
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    height, width = (args.shape * 2)[:2]
    flops, params = count_flops_and_params(model, (torch.rand(1, 3, height, width),))
    print(f'config: {args.config}\ninput: 1x3x{height}x{width}\n'
          f'flops: {flops / 1e9:.2f} G ({flops:.4g})\nparams: {params / 1e6:.2f} M ({params})')


if __name__ == '__main__':
    ignore_known_warnings()
    main()
