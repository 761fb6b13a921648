"""Check a segmentation data set before training: every image and mask pair, read as the config defines them.

    python tools/check_dataset.py configs/upernet_lvvit-s_8xb2-40k_own-data-512x512.py
    python tools/check_dataset.py configs/upernet_lvvit-s_8xb2-90k_cityscapes-512x1024.py --split val [--workers 4]
    python tools/check_dataset.py CONFIG --split train \\
        --cfg-options train_dataloader.dataset.data_root=data/my_dataset

Reads the data sets of the config's dataloaders (--split train, val, test, or all: the default; a data set that
val and test share is read once) with their mmseg dataset class: data_root, data_prefix, ann_file (split files),
img_suffix, seg_map_suffix, reduce_zero_label, metainfo classes. Each problem is one line naming its file: an
image without its mask, a mask without its image, a file that cannot be read, a mask that is not one 8-bit
channel, a mask of another size than its image, label values outside the classes and the ignore index (after
reduce_zero_label; the values as stored in the file). Then, per data set, the pixels and images of each class
and the ignored pixels; a `warning:` line names the classes without pixels. See lvseg/datasets/dataset_check.py.

Problems end the output with one `error:` line that counts them, and exit status 2. A config mistake stops it
before any pair is read, with one `error:` line each, as tools/train.py does: a missing data folder, heads whose
num_classes differ from the data set's classes. --debug (or LVSEG_DEBUG=1) shows the traceback.
"""
import argparse
import os

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

import lvseg  # noqa: F401  (registers lvseg's data sets)
from lvseg.datasets.dataset_check import check_dataset, class_table, problem_summary
from lvseg.engine.config_checks import SPLITS, check_config, leaf_datasets
from lvseg.engine.config_keys import check_overrides
from lvseg.engine.launch import USER_ERRORS
from lvseg.utils.known_warnings import ignore_known_warnings
from lvseg.utils.user_errors import UserError, add_debug_argument, require_file, user_errors


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file whose dataloaders define the data sets')
    parser.add_argument('--split', choices=(*SPLITS, 'all'), default='all',
                        help='the dataloader whose data set is read (default: all)')
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1
    parser.add_argument('--workers', type=int, default=min(8, cores),
                        help=f'processes that read the pairs (default: the cores, at most 8: {min(8, cores)})')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys, e.g. train_dataloader.dataset.data_root=data/my_dataset')
    add_debug_argument(parser)
    args = parser.parse_args()
    if args.workers < 1:
        parser.error('--workers must be at least 1')
    return args


def datasets(cfg: Config, splits: tuple[str, ...]) -> list[tuple[str, dict]]:
    """``(config key, leaf data set config)`` of each split's dataloader, each data set once (the first key that
    names it, with the others after 'also')."""
    found: list[tuple[list[str], dict]] = []
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        for key, dataset in leaf_datasets(loader.get('dataset'), f'{split}_dataloader.dataset'):
            same = next((keys for keys, seen in found if seen == dataset), None)
            if same is None:
                found.append(([key], dataset))
            else:
                same.append(key)
    return [(keys[0] + (f' (also {", ".join(keys[1:])})' if keys[1:] else ''), dataset) for keys, dataset in found]


def plural(count: int, noun: str) -> str:
    return f'{count} {noun}' + ('' if count == 1 else 's')


@user_errors(*USER_ERRORS)
def main() -> None:
    args = parse_args()
    require_file(args.config, 'config')
    cfg = Config.fromfile(args.config)
    check_overrides(cfg, args.cfg_options)
    cfg.merge_from_dict(args.cfg_options)
    splits = SPLITS if args.split == 'all' else (args.split,)
    check_config(cfg, splits)  # data folders exist, heads have the data set's classes
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    problems, read = [], []
    for key, dataset_cfg in datasets(cfg, splits):
        report = check_dataset(dataset_cfg, workers=args.workers)
        print(f'{key}: {report.dataset_type}, {plural(report.pairs, "image/mask pair")}, '
              f'{len(report.classes)} classes, ignore index {report.ignore_index}, '
              f'reduce_zero_label={report.reduce_zero_label}')
        for problem in report.problems:
            print(problem)
        if report.classes:
            print('\n'.join(class_table(report)))
        empty = [f'{index} {name}' for index, name in enumerate(report.classes) if report.pixels[index] == 0]
        if empty and report.pairs:
            shown = ', '.join(empty[:10]) + (', ...' if len(empty) > 10 else '')
            print(f'warning: {key}: {len(empty)} of {len(report.classes)} classes have no pixel: {shown}')
        problems += report.problems
        read.append(f'{plural(report.pairs, "pair")} in {key.split(" ")[0]}')
    if problems:
        raise UserError(f'{problem_summary(problems)} in {"; ".join(read)}')
    print(f'no problems: {"; ".join(read)}')


if __name__ == '__main__':
    ignore_known_warnings()
    main()
