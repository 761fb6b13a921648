"""What running lvseg on a GPU node takes, besides lvseg: an offline wheelhouse (:mod:`lvseg.infra.wheelhouse`,
``tools/wheelhouse.py``) and the GPU check (:mod:`lvseg.infra.gpu_check`, ``tools/gpu_check.py``).

Named ``infra``, not ``ops``: in OpenMMLab ``ops`` are compiled operators (``mmcv.ops``). ``lvseg/__init__.py``
does not import this package: it registers nothing.
"""
