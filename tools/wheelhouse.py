"""A wheelhouse: everything lvseg needs beyond torch and torchvision in one folder, for installs without an index.

    python tools/wheelhouse.py build wheelhouse/cp312 --python-version 3.12 [--have node-packages.txt]
    python tools/wheelhouse.py plan wheelhouse/cp312 pytest --requires-of lvseg mmcv

``build`` runs where the package index is reachable (``make wheelhouse``). It writes into one folder, for one
CPython version on x86-64 Linux: lvseg's own wheel, the mmcv sdist (mmcv has no wheels on PyPI; it is compiled
on the node against the node's torch by ``tools/setup_env.sh``), the wheels of every distribution that lvseg and
mmcv need, found by walking their requirements (markers evaluated for the target Python, not this one), and the
build tools (setuptools below 81, wheel, ninja, packaging) and pytest. Left out, because an environment with
torch already holds them: torch, torchvision and their own requirements (numpy, pillow, sympy, ...; see
``WITH_TORCH``), and OpenCV (mmengine asks for ``opencv-python``; the node's ``opencv-python-headless`` or any
other OpenCV build provides the same ``cv2``). ``--have FILE`` (``python3 -m pip list --format=freeze`` of
the node; a bare name means any version) leaves out whatever else the node already has in a version that fits,
except setuptools (see ``ALWAYS_CARRIED``). ``wheelhouse.json`` lists what
is in the folder, for whom, and what was left out; the folder is written aside and renamed when complete.

``plan`` runs inside the environment that is being set up, offline (``tools/setup_env.sh`` with
``WHEELHOUSE=DIR``): it walks the requirements of the given installed distributions and requirement strings,
keeps whatever the environment already has in a version that fits (the node's own packages, torch above all,
are never replaced), and prints the wheels of the folder to install with ``pip install --no-index --no-deps``,
one path a line. What neither the environment nor the folder provides ends the plan with one line naming each
missing requirement and who needs it (exit 1).
"""
from __future__ import annotations

import argparse
import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import sys_tags
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

REPO = Path(__file__).resolve().parents[1]
MANIFEST = 'wheelhouse.json'
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


class WheelhouseError(Exception):
    """A wheelhouse cannot be built or cannot serve an install; the message is one line for the user."""


@dataclass
class Wheel:
    """One wheel file: its distribution's canonical name, version, path and declared requirements."""

    name: str
    version: Version
    path: Path
    requires: list[Requirement] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Wheel:
        name, version, _, _ = parse_wheel_filename(path.name)
        with zipfile.ZipFile(path) as archive:
            meta = next(n for n in archive.namelist() if n.count('/') == 1 and n.endswith('.dist-info/METADATA'))
            message = email.parser.Parser().parsestr(archive.read(meta).decode('utf-8'))
        requires = [Requirement(r) for r in message.get_all('Requires-Dist', [])]
        return cls(canonicalize_name(name), version, path, requires)


def applies(requirement: Requirement, environment: dict[str, str]) -> bool:
    """Whether ``requirement`` holds in ``environment`` (marker variables); requirements of extras never do."""
    return requirement.marker is None or requirement.marker.evaluate({**environment, 'extra': ''})


def comes_with_torch(name: str) -> bool:
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


def run_pip(args: list[str], python: str = sys.executable) -> None:
    """Run pip; on failure raise its one telling line (the missing distribution, or pip's last error)."""
    result = subprocess.run([python, '-m', 'pip', '--disable-pip-version-check', *args], capture_output=True,
                            text=True)
    if result.returncode:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        telling = [line for line in lines if 'No matching distribution found for' in line]
        raise WheelhouseError(f'pip {args[0]} failed: ' + (telling or lines or ['(no output)'])[-1])


def platform_tags(glibc: str) -> list[str]:
    """pip's ``--platform`` values for x86-64 wheels that run on glibc ``glibc`` (``'2.28'``) or newer."""
    major, minor = (int(part) for part in glibc.split('.'))
    tags = [f'manylinux_{major}_{m}_x86_64' for m in range(5, minor + 1)]
    legacy = {'manylinux1_x86_64': 5, 'manylinux2010_x86_64': 12, 'manylinux2014_x86_64': 17}
    return tags + [tag for tag, needs in legacy.items() if needs <= minor]


def wheel_fetcher(dest: Path, python_version: str, glibc: str) -> Callable[[list[Requirement]], list[Wheel]]:
    """``pip download --no-deps --only-binary=:all:`` of requirements for the target into ``dest``; returns, for
    each requirement, the newest wheel in ``dest`` that meets it."""
    platforms = [arg for tag in platform_tags(glibc) for arg in ('--platform', tag)]

    def fetch(requirements: list[Requirement]) -> list[Wheel]:
        run_pip(['download', '--quiet', '--no-deps', '--only-binary=:all:', '--implementation', 'cp',
                 '--python-version', python_version, *platforms, '--dest', str(dest),
                 *(str(r) for r in requirements)])
        here = [Wheel.read(path) for path in dest.glob('*.whl')]
        fetched = []
        for requirement in requirements:
            fits = [w for w in here if w.name == canonicalize_name(requirement.name)
                    and requirement.specifier.contains(w.version, prereleases=True)]
            fetched += [max(fits, key=lambda w: w.version)] if fits else []
        return fetched
    return fetch


def mmcv_sdist(dest: Path, cache: Path) -> Path:
    """The mmcv sdist in ``dest``: copied from ``cache`` (``$LVSEG_CACHE/sdist``), else downloaded there.

    pip prepares an sdist's metadata when downloading it, and mmcv's setup.py imports torch: the download needs
    this interpreter to have torch (run ``make setup`` first)."""
    name = f'mmcv-{MMCV_VERSION}.tar.gz'
    if not (cache / name).is_file():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            run_pip(['download', '--quiet', '--no-deps', '--no-binary', ':all:', '--no-build-isolation',
                     f'mmcv=={MMCV_VERSION}', '--dest', tmp])
            os.replace(Path(tmp) / name, cache / name)
    shutil.copy2(cache / name, dest / name)
    return dest / name


def sdist_requirements(sdist: Path) -> list[Requirement]:
    """The runtime requirements of an OpenMMLab sdist (``requirements/runtime.txt``)."""
    with tarfile.open(sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith('/requirements/runtime.txt'))
        text = archive.extractfile(member).read().decode()
    return [Requirement(line) for line in (raw.strip() for raw in text.splitlines()) if line and line[0] != '#']


def build_lvseg_wheel(dest: Path) -> Wheel:
    """lvseg's own wheel, built from this checkout with the build tools of this interpreter."""
    with tempfile.TemporaryDirectory() as tmp:
        run_pip(['wheel', '--quiet', '--no-deps', '--no-build-isolation', '--wheel-dir', tmp, str(REPO)])
        built = next(Path(tmp).glob('lvseg-*.whl'))
        shutil.move(built, dest / built.name)
    return Wheel.read(dest / built.name)


def build(out: Path, python_version: str, glibc: str, have_file: Path | None, cache: Path) -> dict:
    """Write the wheelhouse ``out`` for CPython ``python_version`` (see the module docstring); return its
    manifest."""
    have = read_have(have_file)
    partial = out.with_name(f'.{out.name}.partial-{os.getpid()}')
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        lvseg = build_lvseg_wheel(partial)
        sdist = mmcv_sdist(partial, cache)
        roots = ([(r, 'lvseg') for r in lvseg.requires] + [(r, 'mmcv') for r in sdist_requirements(sdist)]
                 + [(Requirement(r), 'offline set-up') for r in EXTRA_ROOTS])
        left: dict[str, str] = {}

        def left_out(name: str, spec: SpecifierSet) -> bool:
            reason = ('comes with torch' if comes_with_torch(name) else 'the node brings OpenCV' if name in OPENCV
                      else 'built on the node from the sdist' if name in BUILT_ON_THE_NODE
                      else f'the node has {name} {have[name] or ""}'.rstrip() if name in have
                      and name not in ALWAYS_CARRIED
                      and (have[name] is None or spec.contains(have[name], prereleases=True)) else None)
            if reason:
                left[name] = reason
            else:
                left.pop(name, None)
            return reason is not None

        wheels, needed_by = collect(roots, target_environment(python_version),
                                    wheel_fetcher(partial, python_version, glibc), left_out)
        files = [(lvseg.path, 'lvseg', ['its own wheel']), (sdist, 'mmcv', ['built on the node by setup_env.sh'])]
        files += [(w.path, w.name, sorted(needed_by[w.name])) for w in sorted(wheels.values(), key=lambda w: w.name)]
        manifest = {
            'python_version': python_version, 'platform': f'manylinux, glibc >= {glibc}, x86_64',
            'lvseg_version': str(lvseg.version), 'mmcv_version': MMCV_VERSION,
            'made': time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()),
            'files': [{'file': path.name, 'name': name, 'bytes': path.stat().st_size, 'needed_by': by}
                      for path, name, by in files],
            'left_out': {name: left[name] for name in sorted(left)},
        }
        manifest['bytes'] = sum(f['bytes'] for f in manifest['files'])
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=1) + '\n')
        stale = out.with_name(f'.{out.name}.old-{os.getpid()}')
        if out.exists():
            os.replace(out, stale)
        os.replace(partial, out)
        shutil.rmtree(stale, ignore_errors=True)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return manifest


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
    try:
        if args.command == 'build':
            if not re.fullmatch(r'3\.\d+', args.python_version):
                raise WheelhouseError(f'--python-version takes X.Y (e.g. 3.12), got {args.python_version!r}')
            manifest = build(args.out, args.python_version, args.glibc, args.have, args.cache)
            left = ', '.join(manifest['left_out']) or 'nothing'
            print(f'wheelhouse {args.out}: {len(manifest["files"])} files, {manifest["bytes"] / 2**20:.1f} MiB, for '
                  f'CPython {args.python_version} on {manifest["platform"]}; left out (the node brings them): {left}')
        else:
            for path in plan(args.folder, args.requirements, args.requires_of):
                print(path)
    except WheelhouseError as error:
        raise SystemExit(f'error: {error}') from None


if __name__ == '__main__':
    main()
