"""A wheelhouse: everything lvseg needs beyond torch and torchvision in one folder, for installs without an index.

- :mod:`.wheels`: a wheel file, its requirements, the one-line error;
- :mod:`.contents`: which distributions a wheelhouse carries and which it leaves out, walked for a target Python;
- :mod:`.build`: downloading them with pip and writing the folder and its ``wheelhouse.json`` (``make wheelhouse``);
- :mod:`.install`: the offline-install plan, the wheels to install into an environment (``tools/setup_env.sh``).

Self-contained: the standard library and ``packaging`` only, and relative imports among its own modules, so that
``tools/wheelhouse.py`` can load it under a name of its own, without ``lvseg/__init__.py``: the set-up plans the
install before lvseg's requirements (mmengine, ...) are there.
"""
