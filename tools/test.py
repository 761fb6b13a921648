"""Test a segmentor and print mIoU: ``python tools/test.py CONFIG CHECKPOINT [--tta] [--show-dir D] [--out D]``."""
import lvseg  # noqa: F401  (registers lvseg's modules)
from lvseg.engine.launch import test_main
from lvseg.utils.known_warnings import ignore_known_warnings

if __name__ == '__main__':
    ignore_known_warnings()
    test_main()
