"""Token-labeling pretraining on ImageNet: ``python tools/pretrain.py CONFIG [--resume] [--cfg-options k=v]``.

The same command line as tools/train.py; distributed: ``tools/dist_pretrain.sh CONFIG GPUS`` (torchrun) or
``tools/slurm_run.sh pretrain.py PARTITION JOB CONFIG``.
"""
import lvseg  # noqa: F401  (registers lvseg's modules)
from lvseg.engine.launch import pretrain_main
from lvseg.utils.known_warnings import ignore_known_warnings

if __name__ == '__main__':
    ignore_known_warnings()
    pretrain_main()
