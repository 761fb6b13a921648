"""Test a segmentor and print mIoU: ``python tools/test.py CONFIG CHECKPOINT [--tta] [--show-dir D] [--out D]``."""
import lvseg  # noqa: F401  (registers lvseg's modules)
from lvseg.engine.launch import test_main

if __name__ == '__main__':
    test_main()
