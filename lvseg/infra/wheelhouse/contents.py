"""Which distributions a wheelhouse carries: the requirements of lvseg and mmcv walked for the target Python, less
what comes with torch, the node's OpenCV, what is built on the node, and what the node already has."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .wheels import Wheel, WheelhouseError, applies

MMCV_VERSION = '2.1.0'  # the mmcv release tools/setup_env.sh builds (mmseg 1.2.2 asserts 2.0.0rc4 <= mmcv < 2.2.0)
# What any environment with torch and torchvision holds: their own requirements (torchvision: numpy, pillow;
# torch: the rest, and its CUDA runtime wheels, named nvidia-* and cuda-*). Never fetched, never installed.
WITH_TORCH = frozenset({'torch', 'torchvision', 'numpy', 'pillow', 'filelock', 'typing-extensions', 'sympy',
                        'mpmath', 'networkx', 'jinja2', 'markupsafe', 'fsspec', 'triton'})
WITH_TORCH_PREFIXES = ('nvidia-', 'cuda-')
# The OpenCV builds all install the same ``cv2`` module (two at once overwrite each other's files): a requirement
# on any of them is met by any of them.
OPENCV = frozenset({'opencv-python', 'opencv-python-headless', 'opencv-contrib-python',
                    'opencv-contrib-python-headless'})
BUILT_ON_THE_NODE = frozenset({'mmcv'})  # compiled against the node's torch from the sdist in the wheelhouse
# Carried even when the node has it: mmcv's build and mmengine import pkg_resources, which setuptools 81 removed,
# and a node's own setuptools is often newer.
ALWAYS_CARRIED = frozenset({'setuptools'})
# Beyond lvseg's and mmcv's requirements: what building mmcv and lvseg offline needs, and pytest for the checks.
EXTRA_ROOTS = ('wheel', 'ninja', 'packaging', 'pytest')


def comes_with_torch(name: str) -> bool:
    """Whether the distribution ``name`` (canonical) is one that any environment with torch already holds."""
    return name in WITH_TORCH or name.startswith(WITH_TORCH_PREFIXES)


def target_environment(python_version: str) -> dict[str, str]:
    """Marker variables of CPython ``python_version`` (``'3.12'``) on x86-64 Linux."""
    return {**default_environment(), 'python_version': python_version, 'python_full_version': f'{python_version}.0',
            'implementation_name': 'cpython', 'platform_python_implementation': 'CPython', 'os_name': 'posix',
            'sys_platform': 'linux', 'platform_system': 'Linux', 'platform_machine': 'x86_64'}


def read_have(path: Path | None) -> dict[str, Version | None]:
    """What a node has, from ``pip list --format=freeze`` (``name==version`` lines), ``pip freeze`` (``name @ url``
    counts as the name alone; ``-e`` lines are skipped) or bare names (any version) -> {name: version or None}."""
    have: dict[str, Version | None] = {}
    if path is None:
        return have
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split('#', 1)[0].strip()
        if not line or line.startswith('-'):
            continue
        match = re.fullmatch(r'([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*(\S+)|@\s*\S+)?', line)
        try:
            have[canonicalize_name(match[1])] = Version(match[2]) if match[2] else None
        except (TypeError, InvalidVersion):  # no match, or a version that is not PEP 440
            raise WheelhouseError(f'{path}:{number}: expected "name", "name==version" or "name @ url", got '
                                  f'{line!r}') from None
    return have


def left_out_reason(name: str, spec: SpecifierSet, have: dict[str, Version | None]) -> str | None:
    """Why the wheelhouse leaves the distribution ``name`` (wanted in versions ``spec``) out, or None: it comes
    with torch, it is an OpenCV build, it is built on the node, or the node ``have`` s it in a version that fits
    (except :data:`ALWAYS_CARRIED`)."""
    if comes_with_torch(name):
        return 'comes with torch'
    if name in OPENCV:
        return 'the node brings OpenCV'
    if name in BUILT_ON_THE_NODE:
        return 'built on the node from the sdist'
    if name in have and name not in ALWAYS_CARRIED and (have[name] is None
                                                          or spec.contains(have[name], prereleases=True)):
        return f'the node has {name} {have[name] or ""}'.rstrip()
    return None


def collect(roots: Iterable[tuple[Requirement, str]], environment: dict[str, str],
            fetch: Callable[[list[Requirement]], list[Wheel]],
            left_out: Callable[[str, SpecifierSet], bool]) -> tuple[dict[str, Wheel], dict[str, set[str]]]:
    """Walk the requirements from ``roots`` ((requirement, who needs it) pairs), fetching a wheel for every
    distribution not ``left_out(name, specifier)``, level by level, until every requirement met so far holds.

    Returns the wheels by name and, for every name met (fetched or left out), who needs it. A distribution asked
    for again with a narrower specifier is fetched again (``fetch`` takes the newest version that fits)."""
    wanted: dict[str, SpecifierSet] = {}
    needed_by: dict[str, set[str]] = {}

    def want(requirement: Requirement, parent: str) -> None:
        if applies(requirement, environment):
            name = canonicalize_name(requirement.name)
            wanted[name] = wanted.get(name, SpecifierSet()) & requirement.specifier
            needed_by.setdefault(name, set()).add(parent)

    for requirement, parent in roots:
        want(requirement, parent)
    wheels: dict[str, Wheel] = {}
    while True:
        todo = [name for name, spec in wanted.items() if not left_out(name, spec)
                and (name not in wheels or not spec.contains(wheels[name].version, prereleases=True))]
        if not todo:
            return wheels, needed_by
        asked = {name: wanted[name] for name in todo}
        for wheel in fetch([Requirement(f'{name}{spec}') for name, spec in asked.items()]):
            if wheel.name in wheels and wheels[wheel.name].path != wheel.path:
                wheels[wheel.name].path.unlink(missing_ok=True)
            wheels[wheel.name] = wheel
            for requirement in wheel.requires:
                want(requirement, wheel.name)
        stuck = [f'{name}{spec}' for name, spec in asked.items()
                 if name not in wheels or not spec.contains(wheels[name].version, prereleases=True)]
        if stuck:
            raise WheelhouseError('pip fetched no fitting wheel for ' + ', '.join(stuck))
