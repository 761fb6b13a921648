"""Segment images with a trained segmentor: label PNGs and overlay pictures.

    python tools/infer.py CONFIG CHECKPOINT|MODEL.onnx INPUT [INPUT ...] --out-dir DIR \\
        [--device cuda] [--opacity 0.5] [--cfg-options k=v ...] [--unsafe-load]

INPUT: image files and folders of images (not searched recursively). Writes DIR/labels/<stem>.png (class index
per pixel, 0..K-1, at the image's size) and DIR/overlays/<stem>.png (the image with the classes' colours).
Videos are not supported (mmseg 1.2.2's MMSegInferencer reads images only). See lvseg/engine/inference.py.
A model file ending in .onnx (tools/export.py) is run by onnxruntime, with the config's test pipeline,
normalisation and whole or slide mode around the graph, as for a checkpoint (docs/deployment.md).
A mistake (a missing file, a refused or ill-fitting checkpoint, an unreadable image, an --out-dir that cannot be
written) ends in one ``error: <file>: ...`` line and exit status 2; --debug (or LVSEG_DEBUG=1) shows the traceback.
"""
import argparse

from mmengine.config import Config, DictAction

import lvseg  # noqa: F401  (registers lvseg's modules)
from lvseg.checkpoints.safe_load import allow_unsafe_load
from lvseg.deploy.onnx_export import require_deploy_packages
from lvseg.deploy.onnx_segmentor import OnnxInputError
from lvseg.engine.config_keys import check_overrides
from lvseg.engine.inference import InferenceInputError, SegInferencer, collect_images, is_onnx_file, segment_images
from lvseg.engine.launch import USER_ERRORS
from lvseg.utils.known_warnings import ignore_known_warnings
from lvseg.utils.user_errors import add_debug_argument, require_file, require_writable_folder, user_errors


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file of the segmentor')
    parser.add_argument('checkpoint', help='checkpoint file (tools/train.py writes them), loaded strictly, or an '
                        'ONNX file (tools/export.py), run by onnxruntime')
    parser.add_argument('inputs', nargs='+', metavar='INPUT', help='image files and folders of images')
    parser.add_argument('--out-dir', required=True, help='where labels/ and overlays/ are written')
    parser.add_argument('--device', help='cpu, cuda, cuda:1, ... (default: cuda when available)')
    parser.add_argument('--opacity', type=float, default=0.5, help='of the class colours in overlays (default: 0.5)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys, e.g. model.test_cfg.mode=whole')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='load a checkpoint that holds arbitrary Python objects (only files you trust)')
    add_debug_argument(parser)
    args = parser.parse_args()
    if not 0 <= args.opacity <= 1:
        parser.error('--opacity must be within 0..1')
    return args


def done_message(num_images: int, out_dir: str) -> str:
    """The line printed once ``num_images`` images are segmented into ``out_dir``."""
    images = f'{num_images} image' + ('' if num_images == 1 else 's')
    return f'segmented {images}: {out_dir}/labels (class index per pixel), {out_dir}/overlays'


@user_errors(InferenceInputError, OnnxInputError, *USER_ERRORS)
def main() -> None:
    args = parse_args()
    require_file(args.config, 'config')
    require_file(args.checkpoint, 'checkpoint')
    if is_onnx_file(args.checkpoint):
        require_deploy_packages(('onnxruntime',), subject=f'{args.checkpoint}: ')
    require_writable_folder(args.out_dir, '--out-dir')
    if args.unsafe_load:
        allow_unsafe_load()
    images = collect_images(args.inputs)
    cfg = Config.fromfile(args.config)
    check_overrides(cfg, args.cfg_options)
    cfg.merge_from_dict(args.cfg_options)
    inferencer = SegInferencer(cfg, args.checkpoint, device=args.device)
    labels = segment_images(inferencer, images, args.out_dir, opacity=args.opacity)
    print(done_message(len(labels), args.out_dir))


if __name__ == '__main__':
    ignore_known_warnings()
    main()
