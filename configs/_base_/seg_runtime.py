# Runtime of lvseg's segmentation runs: mmseg's default runtime, run by LvsegRunner (safe and strict checkpoint
# loading, atomic checkpoint writes, device fallbacks, checked data sets: lvseg/engine/runner.py).
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['lvseg'], allow_failed_imports=False)
runner_type = 'LvsegRunner'
