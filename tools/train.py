"""Train a segmentor: ``python tools/train.py CONFIG [--work-dir D] [--resume] [--amp] [--cfg-options k=v]``.

Distributed: ``torchrun --nproc_per_node=8 tools/train.py CONFIG --launcher pytorch`` (or tools/dist_train.sh,
tools/slurm_train.sh).
"""
import lvseg  # noqa: F401  (registers lvseg's modules)
from lvseg.engine.launch import train_main
from lvseg.utils.known_warnings import ignore_known_warnings

if __name__ == '__main__':
    ignore_known_warnings()
    train_main()
