"""Convert an official LV-ViT checkpoint (or an lvseg pretraining checkpoint) into backbone weights.

    python tools/convert_checkpoint.py lvvit_s-26M-224-83.3.pth.tar pretrain/lvvit_s_backbone.pth [--img-size 512]

The output holds ``{'state_dict': {...}, 'meta': {...}}`` with the classifier heads dropped and, with
``--img-size``, ``pos_embed`` resized to that grid; ``init_cfg=dict(type='Pretrained', checkpoint=OUT)`` loads
it. Works offline; loads the input with ``torch.load(weights_only=True)`` and refuses a file that holds other
Python objects, unless ``--unsafe-load`` (or ``LVSEG_UNSAFE_LOAD=1``) is given for a file you trust.
"""
import argparse

from lvseg.checkpoints import convert_lvvit_checkpoint
from lvseg.checkpoints.safe_load import UnsafeCheckpointError, allow_unsafe_load, load_checkpoint_file
from lvseg.utils.atomic_write import save_atomically


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official LV-ViT checkpoint or lvseg pretraining checkpoint')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--img-size', type=int, nargs='+', help='resize pos_embed for this input size (H [W])')
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument('--no-ema', action='store_true', help='take the raw weights, not the EMA weights')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='load a source that holds arbitrary Python objects (only for files you trust)')
    args = parser.parse_args()

    if args.unsafe_load:
        allow_unsafe_load()
    try:
        checkpoint = load_checkpoint_file(args.src, map_location='cpu')
    except UnsafeCheckpointError as error:
        raise SystemExit(f'error: {error}') from None
    pos_grid = None
    if args.img_size:
        height, width = (args.img_size * 2)[:2]
        pos_grid = (height // args.patch_size, width // args.patch_size)
    state_dict, dropped = convert_lvvit_checkpoint(checkpoint, pos_grid=pos_grid, prefer_ema=not args.no_ema)
    save_atomically({'state_dict': state_dict, 'meta': dict(source=args.src, pos_grid=pos_grid)}, args.dst)
    print(f'wrote {len(state_dict)} tensors to {args.dst}; dropped {len(dropped)}: {dropped}')


if __name__ == '__main__':
    main()
