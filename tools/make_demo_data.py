"""Writes lvseg's synthetic demo datasets (see ``lvseg/demo/synthetic.py``).

Examples::

    python tools/make_demo_data.py ade20k data/synthetic_ade --num-classes 8 --train 200 --val 40 --size 128
    python tools/make_demo_data.py imagenet data/synthetic_in --num-classes 8 --train 50 --val 10 --size 128

The ImageNet layout also gets token-label maps for its training images, ``label_maps/train/<wnid>/<stem>.pt``
(8x8 cells by default, ``--label-maps 0`` for none), computed from the exact masks by the stand-in annotator
``lvseg.demo.mask_label_maps``.

The dataset is written into a hidden sibling folder (``.<name>.partial-<pid>``) and renamed to the output
folder only when complete, so an interrupted run never leaves a half-written dataset under the output name.
A non-empty output folder is replaced only with ``--force``, and only once the new dataset is complete.
An output folder that cannot be written ends in one ``error: <path>: ...`` line and exit status 2 (``--debug``:
the traceback).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from lvseg.demo.mask_label_maps import DEFAULT_TOP_K, write_label_maps_from_masks
from lvseg.demo.synthetic import SyntheticDataset, write_ade20k_layout, write_imagenet_layout
from lvseg.utils.user_errors import add_debug_argument, require_writable_folder, user_errors


def parse_args() -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('out', type=Path, help='output folder; must be missing or empty unless --force')
    common.add_argument('--num-classes', type=int, default=8, help='number of classes K (default: 8)')
    common.add_argument('--size', type=int, nargs='+', default=[128], metavar='PIXELS',
                        help='image size: one number for square images, or H W (default: 128)')
    common.add_argument('--seed', type=int, default=0, help='base seed, >= 0 (default: 0)')
    common.add_argument('--force', action='store_true', help='replace a non-empty output folder')
    add_debug_argument(common)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    layouts = parser.add_subparsers(dest='layout', required=True)
    ade20k = layouts.add_parser('ade20k', parents=[common],
                                help="segmentation scenes in mmseg's ADE20K layout")
    ade20k.add_argument('--train', type=int, default=200, help='training images (default: 200)')
    ade20k.add_argument('--val', type=int, default=40, help='validation images (default: 40)')
    imagenet = layouts.add_parser('imagenet', parents=[common],
                                  help="one-object images in ImageNet's class folders, with train masks")
    imagenet.add_argument('--train', type=int, default=50, help='training images per class (default: 50)')
    imagenet.add_argument('--val', type=int, default=10, help='validation images per class (default: 10)')
    imagenet.add_argument('--label-maps', type=int, default=8, metavar='CELLS',
                          help='token-label maps of CELLS x CELLS cells for the training images, from the masks, '
                               'in label_maps/train; 0 for none (default: 8)')
    args = parser.parse_args()
    if len(args.size) not in (1, 2) or min(args.size) < 1:
        parser.error(f'--size takes one or two positive numbers (H W), got {args.size}')
    if args.layout == 'imagenet' and args.label_maps < 0:
        parser.error(f'--label-maps takes a number of cells >= 0, got {args.label_maps}')
    if args.out.exists() and not args.out.is_dir():
        parser.error(f'output path {args.out} exists and is not a folder')
    if args.out.is_dir() and any(args.out.iterdir()) and not args.force:
        parser.error(f'output folder {args.out} is not empty; pass --force to replace it')
    return args


def write_atomically(out: Path, write: Callable[[Path], SyntheticDataset]) -> SyntheticDataset:
    """Runs ``write`` on a hidden sibling of ``out``, then swaps the finished folder in as ``out``.

    A failed ``write`` removes its partial folder and leaves ``out`` as it was.
    """
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f'.{out.name}.partial-{os.getpid()}')
    partial.mkdir()
    try:
        dataset = write(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out.exists():
        retired = out.with_name(f'.{out.name}.old-{os.getpid()}')
        out.rename(retired)
        partial.rename(out)
        shutil.rmtree(retired)
    else:
        partial.rename(out)
    return dataclasses.replace(dataset, root=out)


def write_imagenet(root: Path, *, label_map_cells: int, **kwargs) -> SyntheticDataset:
    """``write_imagenet_layout(root, **kwargs)``, then, unless ``label_map_cells`` is 0, the square token-label
    maps of its training images from their masks: ``root/label_maps/train/<wnid>/<stem>.pt``, top 5 classes
    (all classes when there are fewer)."""
    dataset = write_imagenet_layout(root, **kwargs)
    if label_map_cells:
        num_classes = len(dataset.class_names)
        write_label_maps_from_masks(root / 'masks' / 'train', root / 'label_maps' / 'train', num_classes=num_classes,
                                    grid=(label_map_cells, label_map_cells), k=min(DEFAULT_TOP_K, num_classes))
    return dataset


@user_errors()
def main() -> None:
    args = parse_args()
    require_writable_folder(args.out.absolute().parent, 'output folder')
    image_size = (args.size[0], args.size[-1])
    if args.layout == 'ade20k':
        write = functools.partial(write_ade20k_layout, num_classes=args.num_classes, num_train=args.train,
                                  num_val=args.val, image_size=image_size, seed=args.seed)
    else:
        write = functools.partial(write_imagenet, label_map_cells=args.label_maps, num_classes=args.num_classes,
                                  per_class_train=args.train, per_class_val=args.val, image_size=image_size,
                                  seed=args.seed)
    start = time.perf_counter()
    dataset = write_atomically(args.out, write)
    counts = ', '.join(f'{n} {split}' for split, n in dataset.num_images.items())
    maps = f' with {args.label_maps}x{args.label_maps} token-label maps' if getattr(args, 'label_maps', 0) else ''
    print(f'wrote {counts} images of {len(dataset.class_names)} classes{maps} to {dataset.root} '
          f'in {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
