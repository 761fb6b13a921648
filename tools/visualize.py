"""Pictures of lvseg's data.

    python tools/visualize.py token-labels data/imagenet/train data/imagenet/label_store/train out/ \\
        [--num 8] [--class-names names.txt] [--grid-cols 4]

``token-labels`` paints each map cell of a packed label store (tools/annotate.py or tools/label_store.py pack)
over its image in the colour of the cell's top class, with that class's probability as opacity, lists the
main classes below, and writes one PNG per image (evenly spread over the store) plus grid.png.
A missing or unusable file or folder ends in one ``error: <path>: ...`` line and exit status 2 (``--debug``: the
traceback).
"""
import argparse
from pathlib import Path

from lvseg.annotator.pictures import write_token_label_pictures
from lvseg.datasets.label_store import LabelStore, LabelStoreError
from lvseg.utils.user_errors import add_debug_argument, require_file, require_writable_folder, user_errors


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)
    labels = commands.add_parser('token-labels', help="a label store's maps over their images")
    labels.add_argument('image_root', type=Path, help='the folder the store keys are relative to')
    labels.add_argument('store', type=Path, help='a complete label store')
    labels.add_argument('out_dir', type=Path, help='folder for the PNGs')
    labels.add_argument('--num', type=int, default=8, help='images to draw (default: 8)')
    labels.add_argument('--class-names', type=Path, help='one class name per line, line i = class i')
    labels.add_argument('--grid-cols', type=int, default=4, help='pictures per row of grid.png (default: 4)')
    add_debug_argument(labels)
    args = parser.parse_args()
    if args.num < 1 or args.grid_cols < 1:
        parser.error('--num and --grid-cols must be at least 1')
    return args


@user_errors(LabelStoreError)
def main() -> None:
    args = parse_args()
    require_writable_folder(args.out_dir, 'output folder')
    names = None
    if args.class_names:
        require_file(args.class_names, 'class names')
        names = [line.strip() for line in args.class_names.read_text().splitlines() if line.strip()]
    paths = write_token_label_pictures(args.image_root, LabelStore(args.store), args.out_dir, num=args.num,
                                       class_names=names, grid_cols=args.grid_cols)
    print(f'wrote {len(paths) - 1} token-label pictures and {paths[-1]}')


if __name__ == '__main__':
    main()
