"""What a finished tools/train.py or tools/pretrain.py run recorded in its work dir: the scalars of mmengine's local
visualization backend and the lines of its text log."""
import json
import re
from pathlib import Path

# mmengine's LogProcessor, iteration-based: ``Iter(train) [  2/600]  key: value ...``, ``Iter(val) [2/2]  key: ...``
_TRAIN_LINE = re.compile(r'Iter\(train\) \[\s*(\d+)/\d+\]\s+(.*)$')
_VAL_LINE = re.compile(r'Iter\(val\) \[\s*\d+/\d+\]\s+(.*)$')
_KEY_VALUE = re.compile(r'(\S+): (\S+)')


def scalars_json(work_dir: Path) -> list[dict]:
    """The records (one per logged training iteration, one per validation) of the latest run's
    ``vis_data/scalars.json`` in ``work_dir``, in the order written."""
    path = sorted(Path(work_dir).glob('*/vis_data/scalars.json'))[-1]
    return [json.loads(line) for line in path.read_text().splitlines()]


def train_records(work_dir: Path) -> list[dict]:
    """The training records of :func:`scalars_json` (those with a ``loss``)."""
    return [record for record in scalars_json(work_dir) if 'loss' in record]


def text_log_values(work_dir: Path) -> tuple[dict[int, dict[str, str]], list[dict[str, str]]]:
    """The values of the latest run's text log in ``work_dir`` as printed (strings): ``{iteration: {key: value}}``
    of the iteration-based training lines, and the ``{key: value}`` of each validation's metrics line, in order
    (the validation progress lines, which print an ``eta``, left out)."""
    log = sorted(Path(work_dir).glob('*/*.log'))[-1].read_text()
    train, val = {}, []
    for line in log.splitlines():
        if match := _TRAIN_LINE.search(line):
            train[int(match.group(1))] = dict(_KEY_VALUE.findall(match.group(2)))
        elif (match := _VAL_LINE.search(line)) and 'eta: ' not in line:
            val.append(dict(_KEY_VALUE.findall(match.group(1))))
    return train, val
