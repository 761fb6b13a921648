"""The offline-install plan (``tools/setup_env.sh`` with ``WHEELHOUSE=DIR``): which wheels of a wheelhouse to
install so that given requirements hold, keeping whatever the environment already has in a version that fits."""
from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.tags import sys_tags
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from .contents import BUILT_ON_THE_NODE, OPENCV, comes_with_torch
from .wheels import MANIFEST, Wheel, WheelhouseError, applies


def installed_versions() -> dict[str, Version]:
    """{canonical name: version} of the distributions this interpreter imports (the first on ``sys.path``)."""
    versions: dict[str, Version] = {}
    for dist in metadata.distributions():
        name = dist.metadata['Name']
        if name:
            versions.setdefault(canonicalize_name(name), Version(dist.version))
    return versions


def compatible_wheels(folder: Path) -> dict[str, list[Wheel]]:
    """The wheels of ``folder`` this interpreter can install, by name, newest first."""
    tags = set(sys_tags())
    wheels: dict[str, list[Wheel]] = {}
    for path in folder.glob('*.whl'):
        name, version, _, wheel_tags = parse_wheel_filename(path.name)
        if tags & wheel_tags:
            wheels.setdefault(canonicalize_name(name), []).append(Wheel(canonicalize_name(name), version, path))
    for candidates in wheels.values():
        candidates.sort(key=lambda w: w.version, reverse=True)
    return wheels


def plan(folder: Path, requirements: list[str], requires_of: list[str],
         installed: dict[str, Version] | None = None) -> list[Path]:
    """The wheels of ``folder`` to install so that ``requirements`` and the requirements of the installed
    distributions ``requires_of`` hold, the environment's own distributions kept where their version fits.

    Raises :class:`WheelhouseError` naming every requirement that neither the environment nor the folder meets.
    """
    if not folder.is_dir():
        raise WheelhouseError(f'no wheelhouse folder {folder} (make one with "make wheelhouse" where the package '
                              'index is reachable, and copy it here)')
    installed = installed_versions() if installed is None else installed
    python = '{}.{}'.format(*sys.version_info[:2])
    made_for = json.loads((folder / MANIFEST).read_text()).get('python_version') if (folder / MANIFEST).is_file() \
        else None
    if made_for not in (None, python):
        raise WheelhouseError(f'the wheelhouse {folder} was made for Python {made_for}, this is Python {python}: '
                              f'make one with "make wheelhouse PYTHON_VERSION={python}"')
    environment = default_environment()
    available = compatible_wheels(folder)
    queue: list[tuple[Requirement, str]] = [(Requirement(r), 'the set-up') for r in requirements]
    for dist in requires_of:
        if canonicalize_name(dist) not in installed:
            raise WheelhouseError(f'{dist} is not installed in this environment (install it before planning)')
        queue += [(Requirement(r), dist) for r in metadata.requires(dist) or []]
    chosen: dict[str, Wheel] = {}
    missing: list[str] = []
    while queue:
        requirement, parent = queue.pop(0)
        if not applies(requirement, environment):
            continue
        name, spec = canonicalize_name(requirement.name), requirement.specifier
        # What the environment has (or the plan installs) under this name, or under any name of the same module.
        present = [(n, v) for n in (sorted(OPENCV) if name in OPENCV else [name])
                   for v in ([installed[n]] if n in installed else []) + ([chosen[n].version] if n in chosen else [])]
        if any(spec.contains(version, prereleases=True) for _, version in present):
            continue
        if name in chosen or comes_with_torch(name) or name in BUILT_ON_THE_NODE or name in OPENCV:
            found = ', '.join(f'{n} {v}' for n, v in present) or 'none'
            why = ('lvseg never installs what comes with torch' if comes_with_torch(name)
                   else 'tools/setup_env.sh builds it' if name in BUILT_ON_THE_NODE
                   else 'the node must bring one OpenCV build, e.g. opencv-python-headless' if name in OPENCV
                   else 'two requirements disagree')
            missing.append(f'{requirement} (needed by {parent}; found {found}; {why})')
            continue
        fits = [w for w in available.get(name, []) if spec.contains(w.version, prereleases=True)]
        if not fits:
            found = f'; the environment has {installed[name]}' if name in installed else ''
            missing.append(f'{requirement} (needed by {parent}{found})')
            continue
        chosen[name] = Wheel.read(fits[0].path)
        queue += [(r, f'{name} {chosen[name].version}') for r in chosen[name].requires]
    if missing:
        raise WheelhouseError(f'the wheelhouse {folder} lacks: ' + '; '.join(missing))
    return [wheel.path for wheel in chosen.values()]
