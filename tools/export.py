"""Export a trained segmentor to ONNX: normalised images in, class logits at the input's size out.

    python tools/export.py CONFIG CHECKPOINT OUT.onnx [--shape 512 683] [--dynamic] [--opset 18] \\
        [--cfg-options k=v ...] [--unsafe-load]

Examples:
    python tools/export.py configs/upernet_lvvit.py work_dirs/upernet_lvvit/iter_160000.pth upernet_lvvit.onnx
    python tools/export.py configs/demo/upernet_lvvit-demo_synthetic-128.py demo.pth demo.onnx --dynamic

The checkpoint is loaded strictly, as tools/test.py loads it (released files converted). The shape is the
config's crop (the sliding window of slide mode) unless --shape is given; the batch is 1. --dynamic leaves batch,
height and width dynamic where the model's code allows (lvseg's backbones and mmseg's heads do): the line printed
says which axes are. The graph is checked with onnx's checker and run on onnxruntime against PyTorch on random
inputs (two sizes with --dynamic); the largest logit difference is printed, and a graph that differs by more than
1e-3 of the largest logit is not written. Run it with tools/infer.py CONFIG OUT.onnx IMAGES --out-dir DIR, which
normalises, slides and resizes around it as for the checkpoint. See docs/deployment.md. Needs the deploy extra
(onnx, onnxscript, onnxruntime; make setup installs it).
"""
import argparse
from pathlib import Path

from mmengine.config import Config, DictAction
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import lvseg  # noqa: F401  (registers lvseg's modules)
from lvseg.checkpoints.safe_load import allow_unsafe_load
from lvseg.checkpoints.whole_model import load_checkpoint_strictly
from lvseg.deploy.onnx_export import DEFAULT_OPSET, ExportError, export_segmentor, require_deploy_packages
from lvseg.engine.config_keys import check_overrides
from lvseg.engine.inference import class_meta
from lvseg.engine.launch import USER_ERRORS
from lvseg.utils.known_warnings import ignore_known_warnings
from lvseg.utils.user_errors import UserError, add_debug_argument, require_file, require_writable_folder, user_errors


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file of the segmentor')
    parser.add_argument('checkpoint', help='checkpoint file (tools/train.py writes them; released files too)')
    parser.add_argument('out', help='the ONNX file to write (.onnx)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help="input height and width (default: the config's crop)")
    parser.add_argument('--dynamic', action='store_true', help='batch, height and width dynamic where the model allows')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET, help=f'ONNX opset (default: {DEFAULT_OPSET})')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys, e.g. model.backbone.img_size=640')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='load a checkpoint that holds arbitrary Python objects (only files you trust)')
    add_debug_argument(parser)
    return parser.parse_args()


def config_crop(cfg: Config) -> tuple[int, int] | None:
    """The crop a config slides at (``model.test_cfg.crop_size`` in slide mode), else the one it trains at (the
    data preprocessor's ``size``, else the top-level ``crop_size``); None if it names none."""
    model = cfg.get('model', {})
    test_cfg = model.get('test_cfg', {})
    slide = test_cfg.get('crop_size') if test_cfg.get('mode') == 'slide' else None
    for crop in (slide, model.get('data_preprocessor', {}).get('size'), cfg.get('crop_size')):
        if crop:
            return int(crop[0]), int(crop[1])
    return None


def exported_line(out: str, axes: list) -> str:
    """What was written and which input axes are fixed or dynamic."""
    named = ['batch', 'channels', 'height', 'width']
    shown = ', '.join(f'{name} {axis}' if isinstance(axis, int) else f'{name} dynamic'
                      for name, axis in zip(named, axes))
    return f'exported {out}: input "images" ({shown}), float32, normalised as the config\'s data preprocessor does'


@user_errors(ExportError, *USER_ERRORS)
def main() -> None:
    args = parse_args()
    require_file(args.config, 'config')
    require_file(args.checkpoint, 'checkpoint')
    if Path(args.out).suffix != '.onnx':
        raise UserError(f'{args.out}: the output file must end in .onnx')
    require_writable_folder(str(Path(args.out).parent), 'output folder')
    require_deploy_packages()
    if args.shape and min(args.shape) < 32:
        raise UserError(f'--shape {args.shape[0]} {args.shape[1]}: each side must be at least 32 pixels')
    if args.unsafe_load:
        allow_unsafe_load()
    cfg = Config.fromfile(args.config)
    check_overrides(cfg, args.cfg_options)
    cfg.merge_from_dict(args.cfg_options)
    shape = tuple(args.shape) if args.shape else config_crop(cfg)
    if shape is None:
        raise UserError(f'{args.config}: names no crop size (model.test_cfg.crop_size, '
                        'model.data_preprocessor.size or crop_size); give --shape H W')
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    checkpoint = load_checkpoint_strictly(model, args.checkpoint)
    exported = export_segmentor(model, args.out, shape, args.dynamic, args.opset,
                                class_meta(checkpoint, cfg, model.num_classes))
    print(exported_line(args.out, exported.axes))
    for comparison in exported.comparisons:
        print(f'onnxruntime vs PyTorch on a random input of {comparison.describe()}')


if __name__ == '__main__':
    ignore_known_warnings()
    main()
