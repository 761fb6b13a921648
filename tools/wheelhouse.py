"""A wheelhouse: everything lvseg needs beyond torch and torchvision in one folder, for installs without an index.

    python tools/wheelhouse.py build wheelhouse/cp312 --python-version 3.12 [--have node-packages.txt]
    python tools/wheelhouse.py plan wheelhouse/cp312 pytest --requires-of lvseg mmcv

``build`` runs where the package index is reachable (``make wheelhouse``). It writes into one folder, for one
CPython version on x86-64 Linux: lvseg's own wheel, the mmcv sdist (mmcv has no wheels on PyPI; it is compiled
on the node against the node's torch by ``tools/setup_env.sh``), the wheels of every distribution that lvseg and
mmcv need, found by walking their requirements (markers evaluated for the target Python, not this one), and the
build tools (setuptools below 81, wheel, ninja, packaging) and pytest. Left out, because an environment with
torch already holds them: torch, torchvision and their own requirements (numpy, pillow, sympy, ...; see
``WITH_TORCH`` in ``lvseg/infra/wheelhouse/contents.py``), and OpenCV (mmengine asks for ``opencv-python``; the
node's ``opencv-python-headless`` or any other OpenCV build provides the same ``cv2``). ``--have FILE``
(``python3 -m pip list --format=freeze`` of the node; a bare name means any version) leaves out whatever else the
node already has in a version that fits, except setuptools (see ``ALWAYS_CARRIED``). ``wheelhouse.json`` lists
what is in the folder, for whom, and what was left out; the folder is written aside and renamed when complete.

``plan`` runs inside the environment that is being set up, offline (``tools/setup_env.sh`` with
``WHEELHOUSE=DIR``): it walks the requirements of the given installed distributions and requirement strings,
keeps whatever the environment already has in a version that fits (the node's own packages, torch above all,
are never replaced), and prints the wheels of the folder to install with ``pip install --no-index --no-deps``,
one path a line. What neither the environment nor the folder provides ends the plan with one line naming each
missing requirement and who needs it (exit 1).

The work is done by ``lvseg/infra/wheelhouse/`` (``contents.py``: what is carried; ``build.py``: downloading;
``install.py``: the offline-install plan), loaded without the rest of lvseg, whose requirements it installs.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
PACKAGE = 'lvseg_wheelhouse'  # lvseg/infra/wheelhouse, loaded under this name


def load_wheelhouse() -> ModuleType:
    """``lvseg/infra/wheelhouse`` as the package ``lvseg_wheelhouse``, without ``lvseg/__init__.py``: the set-up
    runs this tool before lvseg and its requirements (mmengine, ...), which that file imports, are installed."""
    if PACKAGE not in sys.modules:
        folder = REPO / 'lvseg' / 'infra' / 'wheelhouse'
        spec = importlib.util.spec_from_file_location(PACKAGE, folder / '__init__.py',
                                                      submodule_search_locations=[str(folder)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = package
        spec.loader.exec_module(package)
    for module in ('wheels', 'build', 'install'):
        importlib.import_module(f'{PACKAGE}.{module}')
    return sys.modules[PACKAGE]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)
    make = commands.add_parser('build', help='fill a wheelhouse folder (needs the package index)')
    make.add_argument('out', type=Path, help='the wheelhouse folder (replaced when the new one is complete)')
    make.add_argument('--python-version', default='3.12', help='the target CPython, X.Y (default: 3.12)')
    make.add_argument('--glibc', default='2.28', help='the oldest glibc of the target nodes (default: 2.28, RHEL 8)')
    make.add_argument('--have', type=Path, help='the node\'s "pip list --format=freeze": leave out what it has')
    make.add_argument('--cache', type=Path, default=Path(os.environ.get('LVSEG_CACHE', '~/.cache/lvseg')).expanduser()
                      / 'sdist', help='where the mmcv sdist is kept (default: $LVSEG_CACHE/sdist)')
    use = commands.add_parser('plan', help='the wheels to install offline, one path a line')
    use.add_argument('folder', type=Path, help='the wheelhouse folder')
    use.add_argument('requirements', nargs='*', help='requirement strings that must hold')
    use.add_argument('--requires-of', nargs='+', default=[], metavar='DIST',
                     help='installed distributions whose requirements must hold')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    wheelhouse = load_wheelhouse()
    try:
        if args.command == 'build':
            if not re.fullmatch(r'3\.\d+', args.python_version):
                raise wheelhouse.wheels.WheelhouseError(f'--python-version takes X.Y (e.g. 3.12), got '
                                                        f'{args.python_version!r}')
            manifest = wheelhouse.build.build(args.out, args.python_version, args.glibc, args.have, args.cache, REPO)
            print(wheelhouse.build.summary(args.out, args.python_version, manifest))
        else:
            for path in wheelhouse.install.plan(args.folder, args.requirements, args.requires_of):
                print(path)
    except wheelhouse.wheels.WheelhouseError as error:
        raise SystemExit(f'error: {error}') from None


if __name__ == '__main__':
    main()
