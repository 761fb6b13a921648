"""Pack, unpack, validate and describe packed token-label stores (``lvseg.datasets.label_store``).

    python tools/label_store.py pack data/imagenet/label_top5_train_nfnet data/imagenet/label_store/train \\
        --images data/imagenet/train [--num-classes 1000] [--annotator 'NFNet-F6, 576 px']
    python tools/label_store.py unpack data/imagenet/label_store/train maps_again/
    python tools/label_store.py validate data/imagenet/label_store/train [--images data/imagenet/train]
    python tools/label_store.py info data/imagenet/label_store/train

``pack`` makes one row per image of the class folders of ``--images`` (keys: paths relative to that folder,
sorted by folder then name) from the official map files ``<OFFICIAL_ROOT>/<wnid>/<stem>.pt``; an interrupted
``pack`` resumes when run again. ``unpack`` writes the official layout back, bit-exact. ``validate`` checks
everything (structure, every value, and with ``--images`` which images have no row) and exits 1 on a
problem. ``info`` prints the header and file sizes, for unfinished stores too. A missing or unusable folder or
file ends in one ``error: <path>: ...`` line and exit status 2 (``--debug``: the traceback).

To train from the store, set the data set's ``label_store`` (relative to ``data_root``) and clear the
``label_map_root`` that configs/_base_/datasets/imagenet_tokenlabel.py sets (a data set takes one or the other):

    tools/dist_pretrain.sh CONFIG 8 --cfg-options train_dataloader.dataset.label_store=label_store/train \\
        train_dataloader.dataset.label_map_root=None
"""
import argparse
import json
import sys
import time
from pathlib import Path

from lvseg.datasets.imagenet import list_image_keys
from lvseg.datasets.label_store import LabelStoreError, read_header, validate
from lvseg.datasets.label_store_convert import LabelMapError, pack_label_maps, unpack_label_store
from lvseg.utils.user_errors import add_debug_argument, user_errors


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)
    pack = commands.add_parser('pack', help='official per-image map files -> a packed store')
    pack.add_argument('official_root', type=Path, help='root of <wnid>/<stem>.pt map files')
    pack.add_argument('store', type=Path, help='store folder to create (or to resume)')
    pack.add_argument('--images', type=Path, required=True, help='image root with <wnid>/<image> class folders')
    pack.add_argument('--num-classes', type=int, default=1000,
                      help="the annotator's number of classes (default: 1000, ImageNet-1k)")
    pack.add_argument('--annotator', help='free text recorded in the header (default: "packed from OFFICIAL_ROOT")')
    pack.add_argument('--batch-size', type=int, default=1024, help='maps per write (default: 1024)')
    unpack = commands.add_parser('unpack', help='a packed store -> official per-image map files')
    unpack.add_argument('store', type=Path)
    unpack.add_argument('out_root', type=Path, help='folder for <wnid>/<stem>.pt files')
    check = commands.add_parser('validate', help='check a store fully; exit 1 on a problem')
    check.add_argument('store', type=Path)
    check.add_argument('--images', type=Path, help='image root whose images must all have a row')
    info = commands.add_parser('info', help='print the header and file sizes')
    info.add_argument('store', type=Path)
    for command in (pack, unpack, check, info):
        add_debug_argument(command)
    return parser.parse_args()


@user_errors(LabelStoreError, LabelMapError)
def main() -> int:
    args = parse_args()
    start = time.perf_counter()
    if args.command == 'pack':
        keys = list_image_keys(args.images)
        annotator = args.annotator or f'packed from {args.official_root}'

        def progress(done: int, total: int) -> None:
            print(f'\r{done}/{total} maps', end='' if done < total else '\n', flush=True)

        written = pack_label_maps(args.official_root, args.store, keys, args.num_classes, annotator,
                                  batch_size=args.batch_size, progress=progress)
        print(f'{args.store}: {len(keys)} images, {written} maps packed now, in {time.perf_counter() - start:.1f} s')
    elif args.command == 'unpack':
        written = unpack_label_store(args.store, args.out_root)
        print(f'wrote {written} map files to {args.out_root} in {time.perf_counter() - start:.1f} s')
    elif args.command == 'validate':
        report = validate(args.store, list_image_keys(args.images) if args.images else None)
        print(report)
        return 0 if report.ok else 1
    else:
        print(json.dumps(read_header(args.store).to_json(), indent=2))
        for path in sorted(args.store.iterdir()):
            print(f'{path.name}: {path.stat().st_size:,} bytes')
    return 0


if __name__ == '__main__':
    sys.exit(main())
